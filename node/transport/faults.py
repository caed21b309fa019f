"""Injected network faults: isolation from peers, lossy links and slow links.

The console partitions and degrades a live cluster through these; every random decision comes
from one seeded generator so a demo replays the same drops.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class LinkFault:
    """How the outgoing link to one peer misbehaves: a fraction of messages lost, a delay."""

    drop_ratio: float = 0.0
    delay_ms: int = 0


class FaultInjector:
    """Decides, message by message, whether traffic with a peer is dropped or delayed."""

    __slots__ = ("_isolated", "_links", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._isolated: set[int] = set()
        self._links: dict[int, LinkFault] = {}

    def isolate(self, peer_ids: Iterable[int]) -> None:
        """Drop all traffic, both ways, with these peers (added to any isolated before)."""
        self._isolated.update(peer_ids)

    def set_link_fault(self, peer_id: int, drop_ratio: float = 0.0, delay_ms: int = 0) -> None:
        """Lose `drop_ratio` of the messages to `peer_id` and delay the rest by `delay_ms`."""
        if not 0.0 <= drop_ratio <= 1.0:
            raise ValueError(f"drop_ratio must be between 0 and 1, got {drop_ratio}")
        if delay_ms < 0:
            raise ValueError(f"delay_ms must not be negative, got {delay_ms}")
        if drop_ratio == 0.0 and delay_ms == 0:
            self._links.pop(peer_id, None)
        else:
            self._links[peer_id] = LinkFault(drop_ratio, delay_ms)

    def heal(self) -> None:
        """Remove every isolation and link fault."""
        self._isolated.clear()
        self._links.clear()

    def drops_outgoing(self, peer_id: int) -> bool:
        """Whether the next message to `peer_id` is lost."""
        if peer_id in self._isolated:
            return True
        link = self._links.get(peer_id)
        return link is not None and link.drop_ratio > 0.0 and self._rng.random() < link.drop_ratio

    def drops_incoming(self, peer_id: int) -> bool:
        """Whether traffic arriving from `peer_id` is thrown away on receipt."""
        return peer_id in self._isolated

    def delay(self, peer_id: int) -> float:
        """Seconds the next message to `peer_id` waits before it may be sent."""
        link = self._links.get(peer_id)
        return 0.0 if link is None else link.delay_ms / 1000

    def describe(self) -> dict:
        """The faults in force, as plain data."""
        return {
            "isolated": sorted(self._isolated),
            "links": {
                peer_id: {"drop_ratio": link.drop_ratio, "delay_ms": link.delay_ms}
                for peer_id, link in sorted(self._links.items())
            },
        }
