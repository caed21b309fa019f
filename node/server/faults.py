"""Injected faults of one member (design: "Observability and faults"): isolation from peers
and lossy or slow links (done by the transport), slow WAL writes, a paused apply task and
armed crash points (node.failpoints).

Refused unless the member runs with --enable-fault-injection; the console's playground turns
it on to break a live cluster on purpose.
"""

from __future__ import annotations

from typing import Any

import trio

from node import failpoints
from node.messages import errors
from node.messages.faults import FaultKind, FaultRequest
from node.server.raft_node import RaftNode
from node.transport import Transport


class MemberFaults:
    """The faults in force on one member, and the gate the apply task passes per batch."""

    def __init__(self, enabled: bool, transport: Transport, raft: RaftNode) -> None:
        self._enabled = enabled
        self._transport = transport
        self._raft = raft
        self._apply_running = trio.Event()
        self._apply_running.set()

    async def apply_allowed(self) -> None:
        """Return at once, or once apply is resumed when it was paused."""
        await self._apply_running.wait()

    def inject(self, req: FaultRequest) -> dict[str, Any]:
        """Put one fault in force (or heal them all); returns the faults now in force."""
        if not self._enabled:
            raise errors.FaultInjectionDisabled()
        kind = req.kind
        if kind == FaultKind.ISOLATE:
            self._transport.isolate(req.peer_ids)
        elif kind == FaultKind.LINK:
            for peer_id in req.peer_ids:
                self._transport.set_link_fault(peer_id, req.drop_ratio, req.delay_ms)
        elif kind == FaultKind.FSYNC_DELAY:
            self._raft.fsync_delay = req.delay_ms / 1000
        elif kind == FaultKind.PAUSE_APPLY:
            if self._apply_running.is_set():
                self._apply_running = trio.Event()
        elif kind == FaultKind.RESUME_APPLY:
            self._apply_running.set()
        elif kind == FaultKind.FAILPOINT:
            try:
                failpoints.arm(req.failpoint, req.terms)
            except ValueError as exc:
                raise errors.FailpointRefused(f"etcdserver: {exc}") from None
        else:
            failpoints.disarm_all()
            self._transport.heal()
            self._raft.fsync_delay = 0.0
            self._apply_running.set()
        return self.describe()

    def describe(self) -> dict[str, Any]:
        """The faults in force, as plain data."""
        return {
            **self._transport.stats()["faults"],
            "fsync_delay_ms": int(self._raft.fsync_delay * 1000),
            "apply_paused": not self._apply_running.is_set(),
            "failpoints": failpoints.armed(),
        }
