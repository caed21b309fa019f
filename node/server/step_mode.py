"""Step mode of one member (design: "step mode lives below raft"): its raft clock held and its
outgoing peer messages held in the transport's per-link queues, then delivered, dropped or
ticked one at a time on request, until released back to real time.

Raft is not told: a held clock is a slow one, a held message one the network is slow to carry.
Refused unless the member runs with --enable-fault-injection, as the fault door.
"""

from __future__ import annotations

from node.messages import errors
from node.messages.step_mode import HeldMessageInfo, StepAction, StepRequest, StepResponse
from node.raft import MalformedRecord, StateType
from node.raft.describe import describe_message, describe_message_type, quote
from node.server.raft_node import RaftNode
from node.server.raft_request import RaftRequest
from node.transport import HeldMessage, Transport, UnknownHeldMessage


class MemberStepMode:
    """Holds, steps and releases one member's raft clock and outgoing messages."""

    def __init__(self, enabled: bool, transport: Transport, raft: RaftNode) -> None:
        self._enabled = enabled
        self._transport = transport
        self._raft = raft

    def act(self, req: StepRequest) -> StepResponse:
        """Do one step-mode action; returns what it delivered or dropped and what is held."""
        if not self._enabled:
            raise errors.FaultInjectionDisabled()
        action = req.action
        ids = None if req.all else req.ids
        if action in (StepAction.DELIVER, StepAction.DROP) and ids is not None and not ids:
            raise errors.StepModeRefused(
                f"etcdserver: {action.name.lower()} needs the ids of held messages, or all"
            )
        done: list[HeldMessage] = []
        ticks = 0
        try:
            if action == StepAction.HOLD:
                self._raft.clock.hold()
                self._transport.hold()
            elif action == StepAction.DELIVER:
                done = self._transport.deliver(ids, req.to or None)
            elif action == StepAction.DROP:
                done = self._transport.drop(ids)
            elif action == StepAction.TICK:
                ticks = req.ticks or self._ticks_to_timeout()
                self._raft.clock.fire(ticks)
            elif action == StepAction.RELEASE:
                done = self._transport.release()
                self._raft.clock.release()
        except (UnknownHeldMessage, ValueError) as exc:
            raise errors.StepModeRefused(f"etcdserver: {exc}") from None
        return StepResponse(
            holding=self._transport.holding,
            ticks=ticks,
            done=[held_message_info(h) for h in done],
            held=[held_message_info(h) for h in self._transport.held()],
        )

    def _ticks_to_timeout(self) -> int:
        """Ticks until this member's next timeout: a leader's heartbeat, anyone else's
        (randomized) election timeout, after which it campaigns."""
        raft = self._raft.raw_node.raft
        if raft.state == StateType.LEADER:
            return max(1, raft.heartbeat_timeout - raft.heartbeat_elapsed)
        return max(1, raft.randomized_election_timeout - raft.election_elapsed)


def held_message_info(held: HeldMessage) -> HeldMessageInfo:
    """A held message as the Step call reports it."""
    m = held.message
    return HeldMessageInfo(
        id=held.id,
        frm=m.frm,
        to=m.to,
        type=describe_message_type(m.type),
        term=m.term,
        index=m.index,
        log_term=m.log_term,
        entries=len(m.entries),
        commit=m.commit,
        reject=m.reject,
        reject_hint=m.reject_hint,
        held_at=held.held_at,
        text=describe_message(m, entry_request),
    )


def entry_request(data: bytes) -> str:
    """A normal entry's data as the request it carries (`put "k"`), for a held message."""
    if not data:
        return ""
    try:
        request = RaftRequest.decode(data)
    except MalformedRecord:
        return quote(data)
    body = request.body
    key = getattr(body, "key", None)
    name = type(body).__name__.removesuffix("Request")
    return f"{name} {quote(key)}" if isinstance(key, bytes) else name
