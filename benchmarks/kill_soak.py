"""A kill soak: members SIGKILLed and restarted, over and over, under a write load through
etcd's gRPC door; at the end every acknowledged write must be there and the members must
agree (HashKV at one revision).

    .venv/bin/python benchmarks/kill_soak.py --kills 1000 --dir /tmp/kill-soak [--seconds N]
        [--snapshot-count N]

Not in CI (issue 15's soak). Each write goes to a key of its own, so an acknowledged write
is lost exactly when its key is missing, holds another value or another revision at the
end. Every third kill takes the leader; the others a random member. A kill comes only once
the writers have had new writes acknowledged since the last one (the cluster is serving
again), never on a timer. `--seconds` or Ctrl-C ends the kills early (the check still runs,
and the report says how many kills there were), and so does a member that will not serve
after five restarts (a machine too busy for the playground's 30 s; the report says so).
Prints a line per 50 kills and the report; exits 1 on any loss or disagreement.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import grpc

from node.client.grpc_client import GrpcClient, grpc_call
from node.messages.errors import EtcdError
from node.messages.gen.etcdserverpb import rpc_pb2
from playground.errors import PlaygroundError
from playground.playground import Playground

WRITERS = 8
WRITE_TIMEOUT = 3.0
WRITES_BETWEEN_KILLS = 5
STALL_TIMEOUT = 60.0
"""Seconds without a new acknowledged write after which the soak stops as stalled."""
RESTARTS = 5
FINAL_RESTARTS = 20
"""Attempts for each member still down when the kills end: the check needs them all."""
SNAPSHOT_COUNT = 10_000
"""The members' --snapshot-count: kills land before, during and after snapshots, and a
restart replays at most this many entries (etcd's default, 100,000, makes the restarts of a
long soak slower and slower)."""
PREFIX = b"soak/"
PAGE = 10_000
FAST = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}


@dataclass(slots=True)
class Tally:
    """What the writers got: acknowledged writes (key -> value, revision) and the rest."""

    acknowledged: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)
    failed: int = 0
    progressed: anyio.Event = field(default_factory=anyio.Event)

    def ack(self, key: bytes, value: bytes, revision: int) -> None:
        self.acknowledged[key] = (value, revision)
        self.progressed.set()
        self.progressed = anyio.Event()


async def write(writer: int, urls: list[str], tally: Tally) -> None:
    """Put soak/<writer>/<n> = n back to back, through whichever member answers."""
    async with GrpcClient(urls[writer % len(urls) :] + urls[: writer % len(urls)]) as client:
        for n in range(sys.maxsize):
            key, value = PREFIX + f"{writer}/{n:08}".encode(), str(n).encode()
            request = rpc_pb2.PutRequest(key=key, value=value)
            try:
                with anyio.fail_after(WRITE_TIMEOUT):
                    reply = await client.call(lambda stubs, r=request: stubs.kv.Put(r))
            except (EtcdError, TimeoutError, grpc.aio.AioRpcError):
                tally.failed += 1  # unknown outcome: its own key, so nothing else depends on it
                await anyio.sleep(0.05)
                continue
            tally.ack(key, value, reply.header.revision)


async def leader_name(playground: Playground) -> str:
    return await playground.wait_for_leader(within=STALL_TIMEOUT)


@dataclass(slots=True)
class Kills:
    """How many kills were done, and how many of them took the leader."""

    done: int = 0
    of_leader: int = 0
    slow_restarts: int = 0
    """Restarts that did not serve within the playground's start timeout and were retried."""
    ended_early: str = ""
    """Why the kills stopped before their number (a member that would not restart), if so."""


async def restart(
    playground: Playground, name: str, done: Kills, attempts: int = RESTARTS
) -> None:
    """Restart a killed member; one that does not serve within the playground's start timeout
    (a machine busy with other work) is stopped by it and started again, up to `attempts`
    times."""
    for attempt in range(1, attempts + 1):
        try:
            await playground.restart(name)
            return
        except PlaygroundError as slow:
            done.slow_restarts += 1
            print(f"restart {attempt} of {name}: {slow}", flush=True)
            if attempt == attempts:
                raise


async def kill_many(
    playground: Playground, kills: int, tally: Tally, rng: random.Random, done: Kills
) -> None:
    """`kills` SIGKILLs and restarts, counted in `done` as they happen."""
    started = time.monotonic()
    for number in range(1, kills + 1):
        target = len(tally.acknowledged) + WRITES_BETWEEN_KILLS
        with anyio.fail_after(STALL_TIMEOUT):
            while len(tally.acknowledged) < target:
                await tally.progressed.wait()
        if number % 3 == 0:
            victim = await leader_name(playground)
        else:
            victim = rng.choice(sorted(playground.members))
        await playground.kill(victim)
        done.done += 1
        done.of_leader += number % 3 == 0
        try:
            await restart(playground, victim, done)
        except PlaygroundError as stuck:
            done.ended_early = f"kills ended at {number}: {stuck}"
            return
        if number % 50 == 0:
            print(
                f"{number} kills ({done.of_leader} of the leader), "
                f"{len(tally.acknowledged)} writes acknowledged, {tally.failed} failed, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )


async def end_on_interrupt(kills: anyio.CancelScope) -> None:
    """Ctrl-C (or SIGTERM) ends the kills early; the final check still runs."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"{signal.Signals(signum).name}: ending the kills, then the check", flush=True)
            kills.cancel()
            return


async def final_check(playground: Playground, tally: Tally) -> list[str]:
    """What was lost or disagrees; empty when the soak passed."""
    problems: list[str] = []
    await playground.wait_for_leader(within=STALL_TIMEOUT, everyone=True)
    urls = playground.client_urls()
    stored: dict[bytes, tuple[bytes, int]] = {}
    async with GrpcClient(urls) as client:
        # in pages, at one revision: a whole soak's keys exceed gRPC's 4 MiB reply limit
        start, end, revision = PREFIX, PREFIX[:-1] + b"0", 0
        while True:
            page = rpc_pb2.RangeRequest(key=start, range_end=end, limit=PAGE, revision=revision)
            reply = await client.call(lambda stubs, r=page: stubs.kv.Range(r))
            revision = revision or reply.header.revision
            stored.update((kv.key, (kv.value, kv.mod_revision)) for kv in reply.kvs)
            if not reply.more:
                break
            start = reply.kvs[-1].key + b"\0"
    for key, (value, acked_revision) in tally.acknowledged.items():
        if stored.get(key) != (value, acked_revision):
            problems.append(f"lost: {key.decode()}={value.decode()} @rev {acked_revision}")
    hashes = {}
    for url in urls:
        async with GrpcClient([url]) as member:
            stubs = member.stubs()
            hashed = await grpc_call(
                stubs.maintenance.HashKV(rpc_pb2.HashKVRequest(revision=revision))
            )
            hashes[url] = hashed.hash
    if len(set(hashes.values())) != 1:
        problems.append(f"members disagree at revision {revision}: {hashes}")
    return problems


async def soak(
    directory: Path, kills: int, seed: int, seconds: float, snapshot_count: int
) -> int:
    playground = Playground(directory, members=3, **FAST)
    tally = Tally()
    rng = random.Random(seed)
    done = Kills()
    started = time.monotonic()
    await playground.start()
    try:
        for name, member in sorted(playground.members.items()):
            member.args += ["--snapshot-count", str(snapshot_count)]
            await playground.restart(name)
        async with anyio.create_task_group() as writers:
            urls = playground.client_urls()
            for writer in range(WRITERS):
                writers.start_soon(write, writer, urls, tally)
            with anyio.move_on_after(seconds) as kills_scope:
                async with anyio.create_task_group() as interrupts:
                    interrupts.start_soon(end_on_interrupt, kills_scope)
                    await kill_many(playground, kills, tally, rng, done)
                    interrupts.cancel_scope.cancel()
            writers.cancel_scope.cancel()
        for name in playground.members:
            if playground.state(name) != "up":
                await restart(playground, name, done, FINAL_RESTARTS)
        problems = await final_check(playground, tally)
    finally:
        with anyio.CancelScope(shield=True):
            await playground.stop()
    print(
        f"{done.done} SIGKILLs ({done.of_leader} of the leader) "
        f"in {time.monotonic() - started:.0f} s ({done.slow_restarts} restarts retried); "
        f"{len(tally.acknowledged)} acknowledged writes checked, {tally.failed} writes failed "
        f"or timed out (outcome unknown, not counted); "
        f"{'no write lost, every member equal (HashKV)' if not problems else 'FAILED'}"
    )
    if done.ended_early:
        print(done.ended_early)
    for problem in problems[:50]:
        print(problem)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="/tmp/kill-soak")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="end the kills early")
    parser.add_argument("--snapshot-count", type=int, default=SNAPSHOT_COUNT)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    try:
        return anyio.run(
            soak,
            Path(args.dir),
            args.kills,
            args.seed,
            args.seconds,
            args.snapshot_count,
            backend="asyncio",
        )
    except PlaygroundError as error:
        print(f"kill soak: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
