"""What the disarmed crash points (node/failpoints.py) cost a put: the time of one disarmed
`hit` beside an empty call, how many points a put passes on a 3-member cluster, and a put loop
with the points as they are against the same loop with `hit` replaced by a bare no-op.

    .venv/bin/python benchmarks/failpoint_cost.py [--puts 2000] [--rounds 3]

The three members run in-process (one trio loop), fsync on; the puts go straight to the
leader's EtcdServer.put one after another, so the figure is the whole write path's latency.
Modes alternate round by round, so drifts of a busy machine fall on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
from collections import Counter
from collections.abc import Callable

import trio
from native_bench import start_native_members

from node import failpoints
from node.messages.kv import PutRequest


def idle_hit_cost() -> tuple[float, float]:
    """Nanoseconds of a disarmed hit and of an empty call (the best of several repeats, which
    a busy machine disturbs least)."""
    calls = 200_000
    hit = failpoints.hit

    def best(call: Callable[[], object]) -> float:
        return min(timeit.repeat(call, number=calls, repeat=15)) / calls * 1e9

    return best(lambda: hit("raftBeforeSave")), best(lambda: None)


async def put_loop(puts: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Seconds per put for each mode and round, and the points the puts of one round passed."""
    real_hit = failpoints.hit
    passed: Counter[str] = Counter()

    def counting_hit(name: str) -> None:
        passed[name] += 1

    def no_op(name: str) -> None:
        return None

    timings: dict[str, list[float]] = {"points": [], "no-op": []}
    with tempfile.TemporaryDirectory() as directory:
        async with trio.open_nursery() as nursery:
            started = await start_native_members(nursery, directory, ["m1", "m2", "m3"], "fp")
            leader = next(server for server, _ in started if server.is_leader)
            failpoints.hit = counting_hit
            for index in range(100):
                await leader.put(PutRequest(key=b"count/%d" % index, value=b"v"))
            failpoints.hit = real_hit
            for round_ in range(rounds):
                for mode in ("points", "no-op"):
                    failpoints.hit = real_hit if mode == "points" else no_op
                    began = time.perf_counter()
                    for index in range(puts):
                        await leader.put(PutRequest(key=b"k/%d/%d" % (round_, index), value=b"v"))
                    timings[mode].append((time.perf_counter() - began) / puts)
            failpoints.hit = real_hit
            nursery.cancel_scope.cancel()
    return timings, {name: count / 100 for name, count in passed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    disarmed, empty = idle_hit_cost()
    print(f"a disarmed hit: {disarmed:.0f} ns (an empty call: {empty:.0f} ns)")
    timings, passed = trio.run(put_loop, args.puts, args.rounds)
    per_put = sum(passed.values())
    every = dict(sorted(passed.items()))
    print(f"points passed per put, all three members: {per_put:.1f} ({every})")
    points = statistics.median(timings["points"])
    bare = statistics.median(timings["no-op"])
    print(
        f"put loop, median of {args.rounds} rounds of {args.puts}: {points * 1e6:.0f} us/put with "
        f"the points, {bare * 1e6:.0f} us/put with hit a no-op ({(points / bare - 1):+.1%}); "
        f"disarmed points' share by count: {per_put * disarmed / 1e9 / points:.3%}"
    )


if __name__ == "__main__":
    main()
