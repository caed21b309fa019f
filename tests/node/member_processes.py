"""Real member processes driven through the native client: endpoints, status polls, and waits
for a leader or for every member to hold the same data.

Builds on tests/compat/cluster.py's ProcessCluster (its members keep their flags, so starting
a stopped one again restarts it from its data dir). Every wait is bounded by its caller.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import trio

from node.client import Client, Response, connect_client
from node.messages import errors
from tests.compat.cluster import PORT_SIDECAR_OFFSET, MemberProcess, ProcessCluster

POLL_S = 0.05
PROBE_TIMEOUT_S = 1.0
PROBE_FAILURES = (errors.EtcdError, OSError)
"""What a probe of a member that is down or busy meets. Caught with except*: the client's
task group hands an error raised inside its block on in an exception group."""


def new_cluster(directory: Path, size: int, *extra_args: str) -> ProcessCluster:
    """A cluster of `size` members (not started) with fault injection on and `extra_args`."""
    cluster = ProcessCluster.new(directory, size, token=f"node-{directory.name}")
    for member in cluster.members:
        member.extra_args = ("--enable-fault-injection", *extra_args)
    return cluster


def native_endpoint(member: MemberProcess) -> str:
    """The member's native door: its client port + 10000 (etcd-node's default)."""
    host, port = member.endpoint.rsplit(":", 1)
    return f"{host}:{int(port) + PORT_SIDECAR_OFFSET}"


def native_endpoints(members: Iterable[MemberProcess]) -> list[str]:
    """The native doors of `members`, in order."""
    return [native_endpoint(member) for member in members]


def client_of(member: MemberProcess, timeout: float = 5.0) -> AbstractAsyncContextManager[Client]:
    """A native client talking to this member only."""
    return connect_client([native_endpoint(member)], timeout=timeout)


def kill(member: MemberProcess) -> None:
    """SIGKILL the member's process and reap it."""
    member.stop(signal.SIGKILL)


async def status_of(member: MemberProcess) -> Response | None:
    """The member's Status, or None while it does not answer."""
    if member.process is None or member.process.poll() is not None:
        return None
    try:
        async with client_of(member, PROBE_TIMEOUT_S) as client:
            return await client.status()
    except* PROBE_FAILURES:
        pass
    return None


async def wait_for_leader(members: list[MemberProcess], *, not_id: int = 0) -> int:
    """Poll until every member in `members` names the same leader (other than `not_id`)."""
    while True:
        leaders = {getattr(await status_of(member), "leader", 0) for member in members}
        if len(leaders) == 1 and not leaders & {0, not_id}:
            return leaders.pop()
        await trio.sleep(POLL_S)


async def member_id(member: MemberProcess) -> int:
    """The member's raft id, from its own Status."""
    while (status := await status_of(member)) is None:  # noqa: ASYNC110 - another process
        await trio.sleep(POLL_S)
    return status.header.member_id


async def leader_of(members: list[MemberProcess]) -> MemberProcess:
    """The member of `members` that they all agree is the leader."""
    leader_id = await wait_for_leader(members)
    for member in members:
        if await member_id(member) == leader_id:
            return member
    raise AssertionError(f"the leader {leader_id:x} is none of {[m.name for m in members]}")


async def _revision_and_hash(member: MemberProcess) -> tuple[int, int] | None:
    try:
        async with client_of(member, PROBE_TIMEOUT_S) as client:
            hashed = await client.hash_kv()
            return hashed.header.revision, hashed.hash
    except* PROBE_FAILURES:
        pass
    return None


async def wait_same_data(members: list[MemberProcess]) -> int:
    """Poll until every member is at the same revision with the same hash_kv there; that
    revision."""
    while True:
        seen = {await _revision_and_hash(member) for member in members}
        if len(seen) == 1 and None not in seen:
            revision, _ = seen.pop()
            return revision
        await trio.sleep(POLL_S)


async def wait_at_revision(member: MemberProcess, revision: int) -> None:
    """Poll until the member serves serializable reads at `revision` or later."""
    while True:
        try:
            async with client_of(member, PROBE_TIMEOUT_S) as client:
                reply = await client.get("\0", serializable=True)
                if reply.header.revision >= revision:
                    return
        except* PROBE_FAILURES:
            pass
        await trio.sleep(POLL_S)
