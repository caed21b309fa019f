"""The network faults in force in a playground, and each member's share of them.

A partition and slow links are kept for the whole playground; every member is given, through
its fault-injection admin call, the peers it is cut off from and the delays on its links, so
a member that comes back (restarted, resumed, added) gets them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from node.client import Client
from node.messages.faults import FaultKind
from playground.errors import PlaygroundError, unknown_member


@dataclass(slots=True)
class Faults:
    """The network faults in force, so a member that comes back gets them again."""

    partition: list[list[str]] = field(default_factory=list)
    slow: dict[str, int] = field(default_factory=dict)
    """Member name -> delay in ms on every link to and from it."""

    def in_force(self) -> bool:
        """Whether any partition or slow link is in force."""
        return bool(self.partition or self.slow)


class Peer(Protocol):
    """What the fault plan needs of a member: its name and, once known, its id."""

    @property
    def name(self) -> str: ...

    @property
    def id(self) -> int: ...


def partition_groups(groups: Iterable[Iterable[str]], members: Iterable[str]) -> list[list[str]]:
    """The groups of a partition of `members`: the named ones, and the members named in no
    group as one more group. PlaygroundError unless that makes at least two groups."""
    known = list(members)
    named: list[list[str]] = []
    seen: set[str] = set()
    for group in groups:
        names = list(group)
        for name in names:
            if name not in known:
                raise unknown_member(name, known)
            if name in seen:
                raise PlaygroundError(f"member {name} is in two groups")
            seen.add(name)
        if names:
            named.append(names)
    rest = [name for name in known if name not in seen]
    if rest:
        named.append(rest)
    if len(named) < 2:
        raise PlaygroundError("a partition needs at least two groups of members")
    return named


def faults_of(
    name: str, faults: Faults, peers: Iterable[Peer]
) -> tuple[list[int], dict[int, list[int]]]:
    """The peer ids member `name` is cut off from, and its slow links: delay ms -> peer ids."""
    everyone = list(peers)
    own_group = next((group for group in faults.partition if name in group), None)
    isolated = [
        peer.id
        for peer in everyone
        if own_group is not None and peer.name not in own_group and peer.id
    ]
    delays: dict[int, list[int]] = {}
    for peer in everyone:
        if peer.name == name or not peer.id:
            continue
        delay = max(faults.slow.get(name, 0), faults.slow.get(peer.name, 0))
        if delay:
            delays.setdefault(delay, []).append(peer.id)
    return isolated, delays


async def inject_faults(
    client: Client, isolated: list[int], delays: Mapping[int, list[int]]
) -> None:
    """Replace the faults of the member `client` talks to by these: cut off from the peers
    `isolated`, and a delay in ms on the links to each group of peers in `delays`."""
    await client.fault(kind=FaultKind.HEAL)
    if isolated:
        await client.fault(kind=FaultKind.ISOLATE, peer_ids=isolated)
    for delay_ms, peer_ids in delays.items():
        await client.fault(kind=FaultKind.LINK, peer_ids=peer_ids, delay_ms=delay_ms)
