"""Pending ReadIndex requests on the leader, as etcd's read_only.go (ReadOnlySafe).

Each request remembers the commit index when it arrived and collects heartbeat
acknowledgements carrying its context; once a majority of voters has acknowledged one
request, it and every request queued before it are confirmed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from node.raft.types import Message

__all__ = ["ReadIndexStatus", "ReadOnly"]


@dataclass(slots=True)
class ReadIndexStatus:
    """One read request: the message that asked, the commit index then, and who acked."""

    req: Message
    index: int
    acks: dict[int, bool] = field(default_factory=dict)


class ReadOnly:
    """The queue of read requests waiting for a heartbeat round to confirm leadership."""

    __slots__ = ("pending", "queue")

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: deque[bytes] = deque()

    def add_request(self, index: int, req: Message) -> None:
        """Queue a read (its context is the data of its single entry); duplicates are ignored."""
        ctx = req.entries[0].data
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadIndexStatus(req=req, index=index)
        self.queue.append(ctx)

    def recv_ack(self, node: int, ctx: bytes) -> dict[int, bool] | None:
        """Record a heartbeat acknowledgement for ctx; the acks so far, None if unknown."""
        status = self.pending.get(ctx)
        if status is None:
            return None
        status.acks[node] = True
        return status.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Dequeue and return every request up to and including the one with ctx."""
        if ctx not in self.pending:
            return []
        confirmed = []
        while self.queue:
            queued = self.queue.popleft()
            confirmed.append(self.pending.pop(queued))
            if queued == ctx:
                break
        return confirmed

    def last_pending_request_ctx(self) -> bytes:
        """The context of the newest pending read (b'' if none), sent with heartbeats."""
        return self.queue[-1] if self.queue else b""
