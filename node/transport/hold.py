"""Step mode's hold switch: outgoing peer messages wait in per-link queues until released.

While a member is held nothing it sends leaves: each message (a snapshot too) gets a short id,
in the order raft emitted them, and waits until someone delivers or drops it. Raft does not
know: to it a held message is one the network is slow to carry (design: "step mode lives
below raft").
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from node.raft.types import Message
from node.transport.snapshot import SnapshotPayload


@dataclass(slots=True)
class HeldMessage:
    """One message held on its way out: its id, when it was held (epoch seconds) and, for a
    snapshot sent with a separate payload, that payload."""

    id: int
    message: Message
    held_at: float
    payload: SnapshotPayload | None = None


class UnknownHeldMessage(ValueError):
    """An id that names no held message."""

    def __init__(self, held_id: int) -> None:
        super().__init__(f"no held message with id {held_id}")
        self.held_id = held_id


class HoldQueue:
    """The held messages of one member, per link (recipient), with ids unique in the member."""

    __slots__ = ("_holding", "_links", "_next_id")

    def __init__(self) -> None:
        self._holding = False
        self._links: dict[int, list[HeldMessage]] = {}
        self._next_id = 1

    @property
    def holding(self) -> bool:
        """Whether messages sent now are held."""
        return self._holding

    def hold(self) -> None:
        """Hold every message sent from now on (holding again changes nothing)."""
        self._holding = True

    def add(self, message: Message, payload: SnapshotPayload | None = None) -> HeldMessage:
        """Hold `message` on the link to its recipient; returns it with its new id."""
        held = HeldMessage(self._next_id, message, time.time(), payload)
        self._next_id += 1
        self._links.setdefault(message.to, []).append(held)
        return held

    def held(self) -> list[HeldMessage]:
        """Every held message, oldest first."""
        return sorted((h for link in self._links.values() for h in link), key=lambda h: h.id)

    def take(self, ids: Iterable[int] | None = None, to: int | None = None) -> list[HeldMessage]:
        """Remove and return the held messages named by `ids`, in the order of `ids` (all when
        None, oldest first), only those to `to` when given; UnknownHeldMessage if an id names
        none (nothing is removed then)."""
        chosen = [h for h in self.held() if to is None or h.message.to == to]
        if ids is not None:
            by_id = {h.id: h for h in chosen}
            wanted = list(dict.fromkeys(ids))
            for held_id in wanted:
                if held_id not in by_id:
                    raise UnknownHeldMessage(held_id)
            chosen = [by_id[i] for i in wanted]
        taken = {h.id for h in chosen}
        for recipient in list(self._links):
            kept = [h for h in self._links[recipient] if h.id not in taken]
            if kept:
                self._links[recipient] = kept
            else:
                del self._links[recipient]
        return chosen

    def release(self) -> list[HeldMessage]:
        """Stop holding; returns everything still held, oldest first, for delivery."""
        self._holding = False
        return self.take()
