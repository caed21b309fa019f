"""What tracing costs the put benchmark of native_bench.py: trace calls compiled in with nobody
subscribed, and with a subscriber taking every trace event of every member over the native
door (as `etcd-console trace` does), each as a ratio to a baseline.

    .venv/bin/python benchmarks/trace_cost.py [--rounds 3] [--seconds 5] [--clients 32]
                                              [--baseline-src DIR]

The baseline is the same run with the Tracer publishing nothing (ETCD_CONSOLE_TRACE_OFF in the
members' environment: the calls remain, each returns at once), or, with --baseline-src, the
members of a source tree without any trace calls (e.g. `git archive <commit> | tar -x -C DIR`
of the commit before tracing). Modes alternate round by round, so drifts of a busy machine
fall on every mode alike; the members' CPU time per put is steadier than the rate on a
busy machine. The three members run in one child process (one core), the load in
this one, the subscriber in a third.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from native_bench import _load, start_native_members

HERE = Path(__file__).resolve()
WORKTREE = HERE.parent.parent


def serve(directory: str) -> None:
    """Child: run three members with native doors; print the endpoints; stop when stdin ends."""

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            names = ["m1", "m2", "m3"]
            started = await start_native_members(nursery, directory, names, "trace-cost")
            leader = next(endpoint for server, endpoint in started if server.is_leader)
            print(json.dumps([leader, [endpoint for _, endpoint in started]]), flush=True)
            while await trio.to_thread.run_sync(sys.stdin.readline):
                print(time.process_time(), flush=True)
            nursery.cancel_scope.cancel()

    trio.run(main)


def subscribe(endpoints: list[str]) -> None:
    """Third process: take every trace event of every member until stdin ends; print counts."""
    from node.client import connect_client

    counts = {"events": 0, "dropped": 0}

    async def follow(endpoint: str) -> None:
        async with connect_client([endpoint]) as client, client.events(["trace"]) as events:
            dropped = 0
            async for reply in events:
                counts["events"] += 1
                counts["dropped"] += reply.dropped - dropped
                dropped = reply.dropped

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for endpoint in endpoints:
                nursery.start_soon(follow, endpoint)
            print("subscribed", flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)
            nursery.cancel_scope.cancel()

    trio.run(main)
    print(json.dumps(counts), flush=True)


def _python(src: Path, extra_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(src), **extra_env}
    return [sys.executable, str(HERE)], env


def _cpu_seconds(cluster: subprocess.Popen) -> float:
    """The members' process CPU time so far."""
    assert cluster.stdin is not None and cluster.stdout is not None
    cluster.stdin.write("cpu\n")
    cluster.stdin.flush()
    return float(cluster.stdout.readline())


def run_mode(mode: str, args: argparse.Namespace) -> tuple[float, float, dict | None]:
    """One round of `mode`: puts per second, the members' CPU microseconds per put, and the
    subscriber's counts if there is one."""
    src = Path(args.baseline_src) if mode == "baseline" else WORKTREE
    extra = {"ETCD_CONSOLE_TRACE_OFF": "1"} if mode == "off" else {}
    command, env = _python(src, extra)
    with tempfile.TemporaryDirectory(prefix="trace-cost-") as directory:
        cluster = subprocess.Popen(
            [*command, "--serve", directory], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=src,
        )  # fmt: skip
        subscriber = None
        try:
            leader, endpoints = json.loads(cluster.stdout.readline())  # type: ignore[union-attr]
            if mode == "subscribed":
                subscriber = subprocess.Popen(
                    [*command, "--subscribe", *endpoints], env=env, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                )  # fmt: skip
                assert subscriber.stdout is not None
                subscriber.stdout.readline()
            value = bytes(args.value_bytes)
            cpu_before = _cpu_seconds(cluster)
            puts = trio.run(
                _load, "put", [leader], args.clients, args.connections, args.seconds, value
            )
            cpu = _cpu_seconds(cluster) - cpu_before
            counts = None
            if subscriber is not None:
                out, _ = subscriber.communicate("", timeout=60)
                counts = json.loads(out.splitlines()[-1])
        finally:
            for process in (subscriber, cluster):
                if process is not None and process.poll() is None:
                    process.communicate("", timeout=60)
    return len(puts) / args.seconds, cpu * 1e6 / len(puts), counts


def idle_call_cost() -> None:
    """Nanoseconds a trace call costs while nobody is subscribed, beside an empty call."""
    import timeit

    from node.raft import Entry, HardState, Message, MessageType, Ready
    from node.server.events import EventBus
    from node.server.trace import Tracer

    tracer = Tracer(EventBus(), 1, "m1")
    entries = [Entry(2, 10 + i, data=bytes(256)) for i in range(8)]
    messages = [Message(MessageType.MSG_APP, 2, 1, 2, 2, 9, entries, 9)]
    rd = Ready(hard_state=HardState(2, 1, 9), entries=entries, messages=messages)
    calls = 200_000
    empty = timeit.timeit(lambda: None, number=calls) / calls * 1e9
    sent = timeit.timeit(lambda: tracer.sent(messages), number=calls) / calls * 1e9
    ready = timeit.timeit(lambda: tracer.ready(rd, 2), number=calls) / calls * 1e9
    print(
        f"idle trace calls: sent {sent:.0f} ns, ready {ready:.0f} ns, an empty call {empty:.0f} "
        "ns (a Ready cycle of the leader makes about 8 trace calls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--value-bytes", type=int, default=256)
    parser.add_argument("--baseline-src", metavar="DIR", help="a source tree without tracing")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", nargs="+", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.subscribe:
        subscribe(args.subscribe)
        return

    idle_call_cost()
    baseline = "baseline" if args.baseline_src else "off"
    modes = [baseline, "idle", "subscribed"]
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpus: dict[str, list[float]] = {mode: [] for mode in modes}
    events: list[dict] = []
    print(
        f"put benchmark: 3 in-process members in one child process, {args.clients} callers on "
        f"{args.connections} connections, {args.value_bytes} B values, {args.seconds:g} s a "
        f"round, {args.rounds} rounds; baseline: "
        + ("a tree without trace calls" if args.baseline_src else "ETCD_CONSOLE_TRACE_OFF")
    )
    for round_number in range(args.rounds):
        for mode in modes:
            rate, cpu, counts = run_mode(mode, args)
            rates[mode].append(rate)
            cpus[mode].append(cpu)
            if counts is not None:
                events.append(counts)
            print(
                f"  round {round_number + 1} {mode:>10}: {rate:8.0f} puts/s "
                f"{cpu:8.0f} us members' CPU a put",
                flush=True,
            )
    base, base_cpu = statistics.median(rates[baseline]), statistics.median(cpus[baseline])
    for mode in modes:
        median, cpu = statistics.median(rates[mode]), statistics.median(cpus[mode])
        print(
            f"{mode:>10}: median {median:8.0f} puts/s (ratio to {baseline} {median / base:.3f}), "
            f"{cpu:6.0f} us members' CPU a put (ratio {cpu / base_cpu:.3f})"
        )
    if events:
        total = sum(c["events"] for c in events)
        dropped = sum(c["dropped"] for c in events)
        seconds = args.seconds * len(events)
        print(
            f"subscriber: {total / seconds:.0f} trace events/s received, "
            f"{dropped / seconds:.0f}/s dropped by the members' queues"
        )


if __name__ == "__main__":
    main()
