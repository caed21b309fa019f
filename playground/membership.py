"""Changing a playground's membership through the Cluster API: MemberAdd and MemberRemove.

A reply can be lost while the change is made anyway: a MemberAdd whose reply was lost is
adopted when the member list shows it, a MemberRemove of a member already gone is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import anyio

from node.client import Client, Response
from node.messages.errors import MemberNotFound, Unhealthy
from playground.errors import OutcomeUnknown, PlaygroundError
from playground.member_process import POLL_INTERVAL
from playground.record import MemberRecord

_Result = TypeVar("_Result")

HEALTH_WAIT = 6.0
"""Seconds an add refused as "unhealthy cluster" is tried again: etcd's 5 s health interval,
and a little."""


class ClusterCall(Protocol):
    """Runs a call with a client of the running members (of `among`, if given)."""

    def __call__(
        self,
        call: Callable[[Client], Awaitable[_Result]],
        among: Iterable[MemberRecord] | None = None,
    ) -> Awaitable[_Result]: ...


async def add_member(ask: ClusterCall, peer_url: str, learner: bool) -> Response:
    """MemberAdd of `peer_url`; the member list after it, even if its own reply was lost but
    the list shows the add was made."""

    async def add_once_healthy(client: Client) -> Response:
        # etcd refuses an add until every voter has been connected to every other for its
        # health interval (5 s): right after a start or a restart that is a wait, not a no.
        # A member that stays down keeps the refusal, and the user gets etcd's word for it.
        deadline = anyio.current_time() + HEALTH_WAIT
        while True:
            try:
                return await client.member_add([peer_url], is_learner=learner)
            except Unhealthy:
                if anyio.current_time() > deadline:
                    raise
                await anyio.sleep(POLL_INTERVAL)

    try:
        return await ask(add_once_healthy)
    except OutcomeUnknown as lost:
        return await _membership_after_lost_add(ask, peer_url, lost)


async def _membership_after_lost_add(
    ask: ClusterCall, peer_url: str, lost: OutcomeUnknown
) -> Response:
    """The member list, if it shows that the MemberAdd of `peer_url` whose reply was lost
    was made; else `lost` again, saying how to undo the add should it be made later."""
    with contextlib.suppress(PlaygroundError):
        listed = await ask(lambda client: client.member_list())
        if any(peer_url in member.peerURLs for member in listed.members):
            return listed
    raise OutcomeUnknown(
        f"{lost}; if member list shows {peer_url} later, remove it with member remove ID"
    ) from None


def joining_initial_cluster(membership: Response, names_by_id: Mapping[int, str]) -> str:
    """The --initial-cluster of a member joining `membership`: every member's name (from the
    list, or `names_by_id` for those that have not published theirs) and peer URLs."""
    return ",".join(
        f"{member.name or names_by_id[member.ID]}={url}"
        for member in membership.members
        if member.name or member.ID in names_by_id
        for url in member.peerURLs
    )


def next_member_name(members: Iterable[str], directory: Path) -> str:
    """The first name n<i> after the members' count that no member and no data dir has."""
    taken = set(members)
    index = len(taken) + 1
    while f"n{index}" in taken or (directory / f"n{index}").exists():
        index += 1
    return f"n{index}"


async def remove_member(ask: ClusterCall, member_id: int, asked: list[MemberRecord]) -> None:
    """MemberRemove of `member_id`, asking the members in `asked` in that order; a member the
    cluster has already removed (say, by a MemberRemove whose reply was lost) is done."""

    async def remove(client: Client) -> None:
        with contextlib.suppress(MemberNotFound):
            await client.member_remove(member_id)

    await ask(remove, among=asked)


async def wait_until_published(
    ask: ClusterCall, record: MemberRecord, others: list[MemberRecord]
) -> None:
    """Return once the `others` list the member by its name: etcd counts it as started only
    then, and refuses a reconfiguration that needs it until it is. Bound it with a cancel
    scope."""

    async def published(client: Client) -> bool:
        members = (await client.member_list()).members
        return any(record.id == member.ID and member.name for member in members)

    while not await ask(published, among=others):  # noqa: ASYNC110 - polls the other members
        await anyio.sleep(POLL_INTERVAL)
