"""Every crash point (node/failpoints.py) against real member processes: arm it (through the
fault door, or GOFAIL_FAILPOINTS at start), drive the member to it, let it die there, restart
it, and check that every acknowledged put reads back linearizably through it and that all
members agree (HashKV at the same revision).

The cases share one cluster (starting three members is most of a case's time): each case
leaves it whole again, and the next starts by checking that it is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trio

from node.client import connect_client
from node.failpoints import FAILPOINTS_ENV, PANIC_EXIT_STATUS
from node.messages import errors
from node.messages.faults import FAILPOINTS
from tests.compat.cluster import MemberProcess, ProcessCluster

from .member_processes import (
    POLL_S,
    client_of,
    kill,
    leader_of,
    member_id,
    native_endpoints,
    new_cluster,
    status_of,
    wait_for_leader,
    wait_same_data,
)

NOWHERE = "http://127.0.0.1:1"
"""The peer URL of the learner the conf change case adds (it never starts)."""
CRASH_S = 60
CATCH_UP_S = 60
"""Generous: a member process's start-up alone took 30 s on a CI machine under heavy load."""
SNAPSHOT_COUNT = 20
"""Small, so a few dozen puts make every member snapshot and compact its log."""
LAGGING_PUTS = 3 * SNAPSHOT_COUNT
"""Puts while a follower is down: enough for the leader to compact the log past it."""


@dataclass(frozen=True, slots=True)
class CrashCase:
    """One crash point, the member it is armed on and what drives that member to it."""

    point: str
    victim: str
    """"leader" or "follower"."""
    drive: str
    """put | snapshot | compact | defrag | member-add | receive-snapshot | send-snapshot"""

    def __str__(self) -> str:
        return self.point


CASES = [
    CrashCase("raftBeforeLeaderSend", "leader", "put"),
    CrashCase("raftBeforeSaveSnap", "leader", "snapshot"),
    CrashCase("raftAfterSaveSnap", "follower", "snapshot"),
    CrashCase("raftBeforeSave", "follower", "put"),
    CrashCase("raftAfterSave", "leader", "put"),
    CrashCase("raftBeforeApplySnap", "follower", "receive-snapshot"),
    CrashCase("raftAfterApplySnap", "follower", "receive-snapshot"),
    CrashCase("raftBeforeFollowerSend", "follower", "put"),
    CrashCase("raftBeforeLogCompaction", "leader", "snapshot"),
    CrashCase("raftAfterLogCompaction", "follower", "snapshot"),
    CrashCase("raftAfterWALRelease", "leader", "snapshot"),
    CrashCase("sendSnapshotMidStream", "leader", "send-snapshot"),
    CrashCase("receiveSnapshotMidStream", "follower", "receive-snapshot"),
    CrashCase("beforeCommit", "leader", "put"),
    CrashCase("afterCommit", "follower", "put"),
    CrashCase("commitBeforePreCommitHook", "follower", "put"),
    CrashCase("commitAfterPreCommitHook", "leader", "put"),
    CrashCase("compactBeforeCommitScheduledCompact", "leader", "compact"),
    CrashCase("compactAfterCommitScheduledCompact", "follower", "compact"),
    CrashCase("compactBeforeCommitBatch", "follower", "compact"),
    CrashCase("compactAfterCommitBatch", "leader", "compact"),
    CrashCase("compactBeforeSetFinishedCompact", "leader", "compact"),
    CrashCase("compactAfterSetFinishedCompact", "follower", "compact"),
    CrashCase("defragBeforeCopy", "follower", "defrag"),
    CrashCase("defragBeforeRename", "leader", "defrag"),
    CrashCase("beforeApplyOneConfChange", "follower", "member-add"),
]


def test_every_crash_point_has_a_case():
    assert sorted(case.point for case in CASES) == sorted(FAILPOINTS)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    cluster = new_cluster(
        tmp_path_factory.mktemp("crash"), 3, f"--snapshot-count={SNAPSHOT_COUNT}"
    )
    try:
        for member in cluster.members:
            member.start()
        yield cluster  # each case waits for a leader (whole), bounded by its own timeout
    finally:
        cluster.stop_all()


async def whole(cluster: ProcessCluster) -> ProcessCluster:
    """The cluster with every member running and in agreement, no crash point armed, the
    learner a case added removed: what a case starts from, even after one that failed."""
    with trio.fail_after(CATCH_UP_S):
        for member in cluster.members:
            if not alive(member):
                await restart(member)
        await wait_for_leader(cluster.members)
        for member in cluster.members:
            async with client_of(member) as client:
                await client.fault("heal")
        async with connect_client(native_endpoints(cluster.members), timeout=2.0) as client:
            for member in (await client.member_list()).members:
                if NOWHERE in member.peerURLs:
                    await client.member_remove(member.ID)
    await agreed(cluster.members)
    return cluster


async def restart(member: MemberProcess) -> None:
    """Start the member again (with no crash point armed) and wait until it answers.

    While it was down another process on this machine may have taken one of its ports as an
    outgoing connection's ephemeral port (its native door is its client port + 10000, in the
    ephemeral range): it then exits with EADDRINUSE, and is started again until the port is
    free."""
    member.environment = {}
    while True:
        logged = member.log.stat().st_size if member.log.exists() else 0
        member.start()
        while alive(member) and await status_of(member) is None:  # noqa: ASYNC110 - a process
            await trio.sleep(POLL_S)
        if alive(member):
            return
        with member.log.open("rb") as log:
            log.seek(logged)
            said = log.read().decode(errors="replace")
        if "Address already in use" not in said:
            raise AssertionError(f"{member.name} did not restart:\n{said[-3000:]}")
        await trio.sleep(POLL_S)


async def agreed(members: list[MemberProcess]) -> None:
    """Wait until every member has the same data (HashKV at one revision); on timeout, fail
    with what each member answers."""
    try:
        with trio.fail_after(CATCH_UP_S):
            await wait_same_data(members)
    except trio.TooSlowError:
        answers = {}
        for member in members:
            try:
                async with client_of(member, 2.0) as client:
                    hashed = await client.hash_kv()
                answers[member.name] = (
                    hashed.header.revision, hashed.compact_revision, hashed.hash
                )
            except (errors.EtcdError, OSError) as error:
                answers[member.name] = repr(error)
        raise AssertionError(f"members disagree (revision, compacted, hash): {answers}") from None


class Writer:
    """Puts numbered keys through every member's door, keeping those acknowledged."""

    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints
        self.acked: dict[bytes, bytes] = {}
        self._next = 0

    async def put_some(self, count: int) -> None:
        """Try `count` puts; the ones that fail (a member dying under them) are not kept."""
        async with connect_client(self.endpoints, timeout=2.0) as client:
            for _ in range(count):
                key, value = f"k/{self._next:05}", f"v{self._next}"
                self._next += 1
                with contextlib.suppress(errors.EtcdError, OSError):
                    await client.put(key, value)
                    self.acked[key.encode()] = value.encode()

    async def until_dead(self, victim: MemberProcess) -> None:
        """Put until the victim's process has exited."""
        while alive(victim):
            await self.put_some(5)


def alive(member: MemberProcess) -> bool:
    return member.process is not None and member.process.poll() is None


async def wait_dead(member: MemberProcess) -> int:
    """The exit status of the member's process, once it has exited."""
    while alive(member):  # noqa: ASYNC110 - polls another process
        await trio.sleep(POLL_S)
    assert member.process is not None
    return member.process.returncode


async def arm(member: MemberProcess, point: str) -> None:
    async with client_of(member) as client:
        reply = await client.fault("failpoint", failpoint=point, terms="1*panic")
    assert reply.faults["failpoints"] == {point: "1*panic"}


async def drive(case: CrashCase, cluster: ProcessCluster, writer: Writer) -> MemberProcess:
    """Arm the case's point on its victim and drive the victim to it; the victim."""
    members = cluster.members
    leader = await leader_of(members)
    follower = next(m for m in members if m is not leader)
    victim = leader if case.victim == "leader" else follower
    if case.drive in ("receive-snapshot", "send-snapshot"):
        behind = follower
        behind_id = await member_id(behind)
        kill(behind)
        await wait_for_leader([m for m in members if m is not behind], not_id=behind_id)
        writer.endpoints = native_endpoints(m for m in members if m is not behind)
        await writer.put_some(LAGGING_PUTS)
        if case.drive == "send-snapshot":
            await arm(victim, case.point)
        else:
            behind.environment = {FAILPOINTS_ENV: f"{case.point}=1*panic"}
        behind.start()
        return victim
    await arm(victim, case.point)
    if case.drive == "put" or case.drive == "snapshot":
        await writer.until_dead(victim)
    elif case.drive == "compact":
        await writer.put_some(10)
        async with connect_client(native_endpoints(members), timeout=2.0) as client:
            revision = (await client.get("k/", prefix=True)).header.revision
            with contextlib.suppress(errors.EtcdError, OSError):
                await client.compact(revision)
    elif case.drive == "defrag":
        async with client_of(victim, timeout=2.0) as client:
            with contextlib.suppress(errors.EtcdError, OSError):
                await client.defragment()
    elif case.drive == "member-add":
        async with client_of(leader, timeout=2.0) as client:
            with contextlib.suppress(errors.EtcdError, OSError):
                await client.member_add([NOWHERE], is_learner=True)
    return victim


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_member_dies_at_the_crash_point_and_comes_back_with_every_acknowledged_put(
    shared_cluster, case
):
    cluster = await whole(shared_cluster)
    writer = Writer(native_endpoints(cluster.members))
    await writer.put_some(5)

    with trio.fail_after(CRASH_S):
        victim = await drive(case, cluster, writer)
        status = await wait_dead(victim)
    assert status == PANIC_EXIT_STATUS, victim.log_tail()
    assert f"panic: failpoint {case.point}" in victim.log_tail()

    survivors = [m for m in cluster.members if m is not victim]
    writer.endpoints = native_endpoints(survivors)
    with trio.fail_after(CATCH_UP_S):
        await wait_for_leader(survivors)
        await writer.put_some(5)
    with trio.fail_after(CATCH_UP_S):
        await restart(victim)
    await agreed(cluster.members)
    async with client_of(victim) as client:
        reply = await client.get("k/", prefix=True)
    stored = {kv.key: kv.value for kv in reply.kvs}
    assert writer.acked
    assert {key: stored.get(key) for key in writer.acked} == writer.acked
