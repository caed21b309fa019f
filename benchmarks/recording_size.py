"""How big a recording of a busy session is, and how fast replay opens it.

A playground of real member processes takes puts from a few clients for --seconds while
`etcd-console record` saves the session; then the recording is measured (gzip as written, and
its plain JSON lines), read back, and opened by the replay dashboard (headless) to its first
frame.

    .venv/bin/python benchmarks/recording_size.py [--seconds 60] [--members 3] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from console.recording import read_recording
from console.tui.replay import ReplayApp
from node.client import Client
from playground.playground import Playground


async def put_load(endpoints: list[str], clients: int, seconds: float) -> int:
    """Puts from `clients` tasks for `seconds`; returns how many were answered."""
    done = 0
    deadline = time.monotonic() + seconds
    async with Client(endpoints) as client:

        async def writer(index: int) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await client.put(f"load/{index}/{done % 100}".encode(), b"x" * 64)
                done += 1

        async with trio.open_nursery() as nursery:
            for index in range(clients):
                nursery.start_soon(writer, index)
    return done


async def first_frame(path: Path) -> tuple[float, float, int]:
    """Seconds to read the recording, seconds from there to replay's first frame, events."""
    began = time.perf_counter()
    recording = read_recording(path)
    read = time.perf_counter() - began
    app = ReplayApp(recording, path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        shown = time.perf_counter() - began - read
    return read, shown, len(recording.events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        playground = Playground(Path(directory) / "playground", members=args.members)
        trio.run(playground.start)
        recording = Path(directory) / "session.etcdrec"
        try:
            recorder = subprocess.Popen(
                [str(Path(sys.executable).parent / "etcd-console"), "record",
                 "--dir", str(playground.directory),
                 "-o", str(recording), "--seconds", str(args.seconds + 2)],
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.0)  # the recorder subscribes before the load starts
            puts = trio.run(put_load, playground.native_endpoints(), args.clients, args.seconds)
            _, err = recorder.communicate(timeout=args.seconds + 30)
        finally:
            if recorder.poll() is None:
                os.kill(recorder.pid, signal.SIGTERM)
            trio.run(playground.stop)
        size = recording.stat().st_size
        plain = len(gzip.decompress(recording.read_bytes()))
        read, shown, events = asyncio.run(first_frame(recording))
    minutes = (args.seconds + 2) / 60
    print(err.strip())
    print(
        f"{args.members} members, {args.clients} clients, {puts} puts in {args.seconds:g} s "
        f"({puts / args.seconds:.0f}/s): {events} events recorded"
    )
    print(
        f"recording: {size / 1e6:.2f} MB gzip ({size / 1e6 / minutes:.2f} MB per minute), "
        f"{plain / 1e6:.2f} MB as plain JSON lines ({plain / size:.1f}x); "
        f"{size / max(events, 1):.1f} bytes per event"
    )
    print(f"replay: read in {read:.2f} s, first frame {shown:.2f} s later ({read + shown:.2f} s)")


if __name__ == "__main__":
    main()
