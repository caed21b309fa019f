"""Scale figures of one member, ours and the real etcd 3.4 side by side: a million keys (load
time, memory, disk), restart to serving, and the fan-out of one put to 10,000 watchers.

    .venv/bin/python benchmarks/scale.py [--only ours|etcd] [--keys 1000000]
                                         [--value-bytes 256] [--watchers 10000]
                                         [--json FILE]

Each side is one member in its own process (`python -m node`, or /usr/bin/etcd) with etcd's
flags and defaults (fsync on), on loopback with OS-picked ports and a temporary data dir that
is removed afterwards. The sides run one after the other, never at once. Our member caches its
bytecode in that temporary dir (the first start compiles it), as an installed package has it.

1. Load: `--keys` keys of `--value-bytes` B through etcd's gRPC door, the door every etcd
   client uses, as Txn requests of `--txn-ops` puts (etcd's --max-txn-ops default, 128) from
   `--callers` concurrent callers over `--channels` channels in this process. Reported: load
   time, the member's CPU seconds for it, its VmRSS and VmHWM (/proc/<pid>/status) after, and
   the data dir's size on disk.
2. Restart: SIGTERM the member, start it again and time from exec to the first successful
   linearizable Range (serving); then the same after a SIGKILL. RSS after each restart.
3. Watch fan-out: `--watchers` watchers on one key, `--per-stream` to a gRPC Watch stream (as
   etcd's clientv3 multiplexes a client's watchers on one stream), the streams spread over
   `--watch-processes` client processes (one channel each) so that decoding 10,000 responses
   is not one process's bottleneck. Then `--puts` puts to that key, one at a time after a
   warm-up put that is not counted, each waiting until every watcher has its event. A
   watcher's delivery latency is from just before the put is sent to the arrival of its event
   in the client (CLOCK_MONOTONIC, one clock for every process). Reported: p50, p99 and max
   over all puts.

Goals (issue 16): RSS at most 1 GiB with 1M keys, restart to serving within 10 s, fan-out
measured against etcd's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import grpc.aio

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

START_S = 120.0
"""How long a (re)started member may take to serve before the run gives up."""
STOP_S = 120.0
DELIVERY_S = 120.0
"""How long one put's events may take to reach every watcher before the run gives up."""
KEY_PREFIX = b"scale/"
WATCHED_KEY = b"fanout"
GIB = 1 << 30
RESTART_GOAL_S = 10.0
POLL_BACKOFF = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 50),
]
"""A serving probe's channel retries its connection every 20-50 ms (grpc's default: 1 s+)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _key(index: int) -> bytes:
    return KEY_PREFIX + b"%08d" % index


@dataclass(slots=True)
class Member:
    """One member process: how to start it, and the running process."""

    side: str
    data_dir: Path
    command: list[str]
    client_url: str = field(default_factory=lambda: f"http://127.0.0.1:{_free_port()}")
    peer_url: str = field(default_factory=lambda: f"http://127.0.0.1:{_free_port()}")
    native_url: str = field(default_factory=lambda: f"http://127.0.0.1:{_free_port()}")
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def endpoint(self) -> str:
        return self.client_url.removeprefix("http://")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Exec the member (the same flags every time, as a restarted etcd is given)."""
        args = [
            "--name=s1", f"--data-dir={self.data_dir / 'data'}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster=s1={self.peer_url}", "--initial-cluster-token=scale-bench",
        ]  # fmt: skip
        if self.side == "ours":
            args.append(f"--listen-native-urls={self.native_url}")
        # Python caches bytecode where a user's install has it; this shell may forbid it
        # (PYTHONDONTWRITEBYTECODE), which would make every start compile the member anew.
        environment = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": str(self.data_dir / "pycache"),
        }
        log = (self.data_dir / "member.log").open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [*self.command, *args], stdout=log, stderr=log, env=environment
        )
        log.close()

    def wait_serving(self) -> float:
        """Seconds from exec to the first linearizable Range that succeeds."""
        deadline = self.started_at + START_S
        request = rpc_pb2.RangeRequest(key=_key(0))
        with grpc.insecure_channel(self.endpoint, options=POLL_BACKOFF) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.side} exited with {self.process.returncode}")
                try:
                    kv.Range(request, timeout=1.0, wait_for_ready=True)
                except grpc.RpcError:
                    time.sleep(0.01)
                    continue
                return time.monotonic() - self.started_at
        raise RuntimeError(f"{self.side} did not serve within {START_S} s")

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Send `signum` and wait for the exit; the seconds it took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started

    def memory_mib(self) -> dict[str, float]:
        """VmRSS and VmHWM of the member process, MiB."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) / 1024
        return found

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    def disk_mib(self) -> float:
        """The data dir's size on disk (allocated blocks, as du), MiB."""
        total = 0
        for path in (self.data_dir / "data").rglob("*"):
            if path.is_file():
                total += path.stat().st_blocks * 512
        return total / (1 << 20)


# -- load -------------------------------------------------------------------------------


async def _load(
    endpoint: str, keys: int, value: bytes, txn_ops: int, callers: int, channels: int
) -> None:
    opened = [grpc.aio.insecure_channel(endpoint) for _ in range(channels)]
    batches = iter(range(0, keys, txn_ops))
    reported = [0]

    async def caller(index: int) -> None:
        kv = rpc_pb2_grpc.KVStub(opened[index % channels])
        for first in batches:
            last = min(first + txn_ops, keys)
            puts = [
                rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=_key(i), value=value))
                for i in range(first, last)
            ]
            await kv.Txn(rpc_pb2.TxnRequest(success=puts))
            if last // 100_000 > reported[0]:
                reported[0] = last // 100_000
                print(f"    ~{last:,} keys loaded", flush=True)

    try:
        await asyncio.gather(*(caller(index) for index in range(callers)))
    finally:
        for channel in opened:
            await channel.close()


# -- watch fan-out ----------------------------------------------------------------------


def _watch_worker(
    endpoint: str, streams: int, per_stream: int, rounds: int, results: Connection
) -> None:
    """A client process: `streams` Watch streams of `per_stream` watchers on WATCHED_KEY; for
    each round (the put's value), the arrival time of every watcher's event."""
    asyncio.run(_watch_streams(endpoint, streams, per_stream, rounds, results))


async def _watch_streams(
    endpoint: str, streams: int, per_stream: int, rounds: int, results: Connection
) -> None:
    expected = streams * per_stream
    arrivals: dict[int, list[float]] = {}
    channel = grpc.aio.insecure_channel(endpoint)
    calls = []
    try:
        watch = rpc_pb2_grpc.WatchStub(channel)
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=WATCHED_KEY))
        for _ in range(streams):
            call = watch.Watch()
            calls.append(call)
            for _ in range(per_stream):
                await call.write(create)
        for call in calls:
            created = 0
            while created < per_stream:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise RuntimeError("watch stream ended while creating watchers")
                created += response.created
        results.send(("ready", expected))

        async def read(call: grpc.aio.StreamStreamCall) -> None:
            while True:
                response = await call.read()
                arrived = time.monotonic()
                if response is grpc.aio.EOF:
                    return
                for event in response.events:
                    round_ = int(event.kv.value)
                    got = arrivals.setdefault(round_, [])
                    got.append(arrived)
                    if len(got) == expected:
                        results.send(("round", round_, got))
                        if round_ == rounds - 1:
                            return

        readers = [asyncio.ensure_future(read(call)) for call in calls]
        done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
        for reader in readers:
            reader.cancel()
        for reader in done:
            reader.result()
    finally:
        for call in calls:
            call.cancel()
        await channel.close()


@dataclass(slots=True)
class FanOut:
    """What 10,000 watchers saw of a few puts."""

    watchers: int
    streams: int
    processes: int
    setup_s: float
    puts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_ms: float
    """The median over puts of the first watcher's latency."""


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def fan_out(endpoint: str, watchers: int, per_stream: int, processes: int, puts: int) -> FanOut:
    """Start the watchers, put WATCHED_KEY 1 + `puts` times, and measure every delivery."""
    streams = max(1, watchers // per_stream)
    shares = [streams // processes + (i < streams % processes) for i in range(processes)]
    shares = [share for share in shares if share]
    context = multiprocessing.get_context("spawn")
    rounds = 1 + puts
    pipes, workers = [], []
    started = time.monotonic()
    try:
        for share in shares:
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(
                target=_watch_worker, args=(endpoint, share, per_stream, rounds, sender)
            )
            worker.start()
            sender.close()
            pipes.append(receiver)
            workers.append(worker)
        for pipe in pipes:
            _expect(pipe, "ready")
        setup_s = time.monotonic() - started
        latencies: list[float] = []
        firsts: list[float] = []
        with grpc.insecure_channel(endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            for round_ in range(rounds):
                put = rpc_pb2.PutRequest(key=WATCHED_KEY, value=str(round_).encode())
                sent = time.monotonic()
                kv.Put(put, timeout=DELIVERY_S)
                arrivals = [t for pipe in pipes for t in _expect(pipe, "round", round_)]
                if round_ > 0:  # the first put warms up
                    these = [t - sent for t in arrivals]
                    latencies.extend(these)
                    firsts.append(min(these))
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
    ordered = sorted(latencies)
    return FanOut(
        watchers=streams * per_stream, streams=streams, processes=len(shares),
        setup_s=setup_s, puts=puts,
        p50_ms=_percentile(ordered, 0.5) * 1000, p99_ms=_percentile(ordered, 0.99) * 1000,
        max_ms=ordered[-1] * 1000, first_ms=sorted(firsts)[len(firsts) // 2] * 1000,
    )  # fmt: skip


def _expect(pipe: Connection, kind: str, round_: int | None = None) -> list[float]:
    if not pipe.poll(DELIVERY_S):
        raise RuntimeError(f"a watch process sent no {kind!r} within {DELIVERY_S} s")
    message = pipe.recv()
    if message[0] != kind or (round_ is not None and message[1] != round_):
        raise RuntimeError(f"a watch process sent {message[:2]!r}, not {kind!r} {round_}")
    return message[2] if kind == "round" else []


# -- one side ---------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    """One side's figures."""

    side: str
    keys: int
    value_bytes: int
    load_s: float = 0.0
    load_cpu_s: float = 0.0
    rss_after_load_mib: float = 0.0
    hwm_after_load_mib: float = 0.0
    disk_mib: float = 0.0
    stop_sigterm_s: float = 0.0
    restart_after_sigterm_s: float = 0.0
    restart_after_sigterm_cpu_s: float = 0.0
    rss_after_sigterm_restart_mib: float = 0.0
    restart_after_sigkill_s: float = 0.0
    restart_after_sigkill_cpu_s: float = 0.0
    rss_after_sigkill_restart_mib: float = 0.0
    hwm_after_sigkill_restart_mib: float = 0.0
    fan_out: FanOut | None = None
    fan_out_cpu_s: float = 0.0
    """The member's CPU seconds for the fan-out: setting up the watchers and every put."""
    load_average: list[float] = field(default_factory=list)
    """The machine's 1-minute load average at the start of each phase."""


def run_side(side: str, args: argparse.Namespace) -> Figures:
    command = (
        [shutil.which("etcd") or "/usr/bin/etcd"]
        if side == "etcd"
        else [sys.executable, "-m", "node"]
    )
    figures = Figures(side, args.keys, args.value_bytes)
    with tempfile.TemporaryDirectory(prefix=f"scale-{side}-") as directory:
        member = Member(side, Path(directory), command)
        member.start()
        try:
            print(f"{side}: serving in {member.wait_serving():.2f} s; loading", flush=True)
            figures.load_average.append(os.getloadavg()[0])
            cpu = member.cpu_seconds()
            started = time.monotonic()
            asyncio.run(
                _load(member.endpoint, args.keys, bytes(args.value_bytes), args.txn_ops,
                      args.callers, args.channels)
            )  # fmt: skip
            figures.load_s = time.monotonic() - started
            figures.load_cpu_s = member.cpu_seconds() - cpu
            memory = member.memory_mib()
            figures.rss_after_load_mib = memory["VmRSS"]
            figures.hwm_after_load_mib = memory["VmHWM"]
            figures.disk_mib = member.disk_mib()
            print(
                f"{side}: {args.keys:,} keys in {figures.load_s:.1f} s, RSS "
                f"{memory['VmRSS']:,.0f} MiB (peak {memory['VmHWM']:,.0f}), "
                f"disk {figures.disk_mib:,.0f} MiB",
                flush=True,
            )

            figures.load_average.append(os.getloadavg()[0])
            figures.stop_sigterm_s = member.stop(signal.SIGTERM)
            member.start()
            figures.restart_after_sigterm_s = member.wait_serving()
            figures.restart_after_sigterm_cpu_s = member.cpu_seconds()
            figures.rss_after_sigterm_restart_mib = member.memory_mib()["VmRSS"]
            member.stop(signal.SIGKILL)
            member.start()
            figures.restart_after_sigkill_s = member.wait_serving()
            figures.restart_after_sigkill_cpu_s = member.cpu_seconds()
            memory = member.memory_mib()
            figures.rss_after_sigkill_restart_mib = memory["VmRSS"]
            figures.hwm_after_sigkill_restart_mib = memory["VmHWM"]
            print(
                f"{side}: SIGTERM took {figures.stop_sigterm_s:.1f} s; serving again "
                f"{figures.restart_after_sigterm_s:.2f} s after exec (after SIGKILL: "
                f"{figures.restart_after_sigkill_s:.2f} s), RSS "
                f"{figures.rss_after_sigkill_restart_mib:,.0f} MiB",
                flush=True,
            )

            if args.watchers:
                figures.load_average.append(os.getloadavg()[0])
                cpu = member.cpu_seconds()
                figures.fan_out = fan_out(
                    member.endpoint, args.watchers, args.per_stream, args.watch_processes,
                    args.puts,
                )  # fmt: skip
                result = figures.fan_out
                figures.fan_out_cpu_s = member.cpu_seconds() - cpu
                print(
                    f"{side}: {result.watchers:,} watchers on {result.streams} streams in "
                    f"{result.setup_s:.1f} s; put -> event p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, max {result.max_ms:.1f} ms",
                    flush=True,
                )
        finally:
            if member.process is not None and member.process.poll() is None:
                member.stop(signal.SIGTERM)
    return figures


def _table(sides: dict[str, Figures]) -> str:
    ours, etcd = sides.get("ours"), sides.get("etcd")

    def row(label: str, value: Callable[[Figures], str], goal: str = "") -> str:
        cells = [value(f) if f is not None else "-" for f in (ours, etcd)]
        return f"| {label} | {cells[0]} | {cells[1]} | {goal} |"

    def fan(name: str) -> Callable[[Figures], str]:
        return lambda f: f"{getattr(f.fan_out, name):.1f} ms" if f.fan_out else "-"

    any_side = ours or etcd
    assert any_side is not None
    lines = [
        f"{any_side.keys:,} keys of {any_side.value_bytes} B, one member, fsync on",
        "",
        "| | ours | real etcd 3.4 | goal |",
        "|---|---|---|---|",
        row("load (gRPC Txn)", lambda f: f"{f.load_s:.1f} s ({f.keys / f.load_s:,.0f} keys/s)"),
        row("member CPU for the load", lambda f: f"{f.load_cpu_s:.1f} s"),
        row("RSS after load", lambda f: f"{f.rss_after_load_mib:,.0f} MiB", "<= 1,024 MiB"),
        row("peak RSS (VmHWM) during load", lambda f: f"{f.hwm_after_load_mib:,.0f} MiB"),
        row("data dir on disk", lambda f: f"{f.disk_mib:,.0f} MiB"),
        row("SIGTERM to exit", lambda f: f"{f.stop_sigterm_s:.1f} s"),
        row("restart after SIGTERM: exec to serving",
            lambda f: f"{f.restart_after_sigterm_s:.2f} s", "<= 10 s"),
        row("member CPU to serving", lambda f: f"{f.restart_after_sigterm_cpu_s:.1f} s"),
        row("RSS after that restart", lambda f: f"{f.rss_after_sigterm_restart_mib:,.0f} MiB"),
        row("restart after SIGKILL: exec to serving",
            lambda f: f"{f.restart_after_sigkill_s:.2f} s", "<= 10 s"),
        row("member CPU to serving", lambda f: f"{f.restart_after_sigkill_cpu_s:.1f} s"),
        row("RSS after that restart (peak)",
            lambda f: f"{f.rss_after_sigkill_restart_mib:,.0f} MiB "
            f"({f.hwm_after_sigkill_restart_mib:,.0f})"),
    ]  # fmt: skip
    if any_side.fan_out is not None:
        lines += [
            row("watchers / streams / client processes",
                lambda f: f"{f.fan_out.watchers:,} / {f.fan_out.streams} / {f.fan_out.processes}"
                if f.fan_out else "-"),
            row("watchers set up in",
                lambda f: f"{f.fan_out.setup_s:.1f} s" if f.fan_out else "-"),
            row("one put -> every watcher: p50", fan("p50_ms")),
            row("p99", fan("p99_ms"), "measured against etcd's"),
            row("max", fan("max_ms")),
            row("first watcher (median over puts)", fan("first_ms")),
            row("member CPU: watchers set up, 1 + puts fanned out",
                lambda f: f"{f.fan_out_cpu_s:.1f} s" if f.fan_out else "-"),
        ]  # fmt: skip
    lines.append(
        "load average (1 min) at load, restart, fan-out: "
        + "; ".join(
            f"{f.side} " + ", ".join(f"{a:.1f}" for a in f.load_average)
            for f in (ours, etcd)
            if f is not None
        )
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["ours", "etcd"], help="run one side only")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=256)
    parser.add_argument("--watchers", type=int, default=10_000, help="0 skips the fan-out")
    parser.add_argument("--per-stream", type=int, default=100, help="watchers per stream")
    parser.add_argument("--watch-processes", type=int, default=4)
    parser.add_argument("--puts", type=int, default=5, help="measured fan-out puts")
    parser.add_argument("--txn-ops", type=int, default=128, help="puts per load Txn")
    parser.add_argument("--callers", type=int, default=16, help="concurrent load callers")
    parser.add_argument("--channels", type=int, default=4, help="load channels")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    sides: dict[str, Figures] = {}
    for side in ("ours", "etcd"):
        if args.only in (None, side):
            sides[side] = run_side(side, args)
    print()
    print(_table(sides))
    if args.json:
        args.json.write_text(
            json.dumps({side: asdict(f) for side, f in sides.items()}, indent=2) + "\n"
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
