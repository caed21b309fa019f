"""RawNode: the raft state machine behind the Ready/advance contract (see README.md).

As etcd's rawnode.go. The caller feeds ticks, messages and proposals in, then repeatedly
takes a Ready (what to persist, send and apply), acts on it and calls advance(). Input from
the network is checked here so that the state machine only ever sees well-formed messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.raft.config import Config
from node.raft.progress import ProgressState
from node.raft.raft import CampaignType, Raft
from node.raft.types import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ProposalDropped,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)

__all__ = ["PeerProgress", "RawNode", "Ready", "Status"]

MT = MessageType

# Sent without a term: proposals and reads are forwarded as if local; reports come from
# the transport on this node.
_TERMLESS = frozenset(
    {MT.MSG_PROP, MT.MSG_READ_INDEX, MT.MSG_SNAP_STATUS, MT.MSG_UNREACHABLE,
     MT.MSG_TRANSFER_LEADER}
)
# Only raft itself produces these; they never come through step().
_INTERNAL = frozenset({MT.MSG_HUP, MT.MSG_BEAT, MT.MSG_CHECK_QUORUM})
# Answers, which only mean something from a member we track.
_RESPONSES = frozenset(
    {MT.MSG_APP_RESP, MT.MSG_VOTE_RESP, MT.MSG_PRE_VOTE_RESP, MT.MSG_HEARTBEAT_RESP,
     MT.MSG_SNAP_STATUS, MT.MSG_UNREACHABLE}
)
# May name this node as sender (a local request, or a transfer to this node).
_FROM_SELF = frozenset({MT.MSG_PROP, MT.MSG_READ_INDEX, MT.MSG_TRANSFER_LEADER})
_MAX_MESSAGE_TYPE = max(MessageType)
_ENTRY_TYPES = frozenset(EntryType)


def _is_index(value: object) -> bool:
    return type(value) is int and value >= 0


def _is_entry(entry: object) -> bool:
    return (
        type(entry) is Entry
        and type(entry.term) is int
        and type(entry.index) is int
        and entry.term >= 0
        and entry.index >= 0
        and type(entry.type) in (EntryType, int)
        and entry.type in _ENTRY_TYPES
        and type(entry.data) is bytes
    )


def _is_snapshot(snapshot: object) -> bool:
    if type(snapshot) is not Snapshot or type(snapshot.data) is not bytes:
        return False
    meta = snapshot.metadata
    cs = getattr(meta, "conf_state", None)
    return (
        _is_index(getattr(meta, "index", None))
        and _is_index(getattr(meta, "term", None))
        and isinstance(cs, ConfState)
        and isinstance(cs.voters, list)
        and isinstance(cs.learners, list)
        and all(_is_index(n) and n > 0 for n in cs.voters)
        and all(_is_index(n) and n > 0 for n in cs.learners)
    )


def _is_well_formed(m: object) -> bool:
    """Field types and ranges of a message from outside, and the shape its type needs."""
    if type(m) is not Message:
        return False
    mtype = m.type
    if type(mtype) not in (MessageType, int) or not 0 <= mtype <= _MAX_MESSAGE_TYPE:
        return False
    for value in (m.to, m.frm, m.term, m.log_term, m.index, m.commit, m.reject_hint):
        if type(value) is not int or value < 0:
            return False
    entries = m.entries
    if type(m.reject) is not bool or type(m.context) is not bytes or type(entries) is not list:
        return False
    if m.snapshot is not None and not _is_snapshot(m.snapshot):
        return False
    if mtype == MT.MSG_APP:
        # Entries must continue the log right after (index, log_term), never above our term.
        expected, floor, ceiling = m.index + 1, m.log_term, m.term
        for entry in entries:
            if not _is_entry(entry) or entry.index != expected:
                return False
            if not floor <= entry.term <= ceiling:
                return False
            expected, floor = expected + 1, entry.term
        return m.log_term <= m.term
    if not all(_is_entry(e) for e in entries):
        return False
    if mtype == MT.MSG_SNAP:
        snap = m.snapshot
        return snap is not None and snap.metadata.index > 0 and 0 < snap.metadata.term <= m.term
    if mtype == MT.MSG_PROP:
        return len(entries) > 0
    if mtype == MT.MSG_READ_INDEX:
        return len(entries) == 1
    return True


@dataclass(slots=True)
class Ready:
    """Everything the caller must do after the last batch of input (see README.md)."""

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    read_states: list[ReadState] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    must_sync: bool = False


@dataclass(slots=True)
class PeerProgress:
    """The leader's view of one member: confirmed `match`, `next` to send, replication state."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool
    is_learner: bool


@dataclass(slots=True)
class Status:
    """A snapshot of a node's raft state for observers; `progress` is filled on the leader."""

    id: int
    term: int
    vote: int
    commit: int
    applied: int
    lead: int
    raft_state: StateType
    lead_transferee: int
    conf_state: ConfState
    dropped_messages: int
    progress: dict[int, PeerProgress] = field(default_factory=dict)


class RawNode:
    """A raft member driven by its caller: tick/step/propose in, Ready out, advance back."""

    __slots__ = ("_prev_hard", "_prev_soft", "raft")

    def __init__(self, config: Config) -> None:
        self.raft = Raft(config)
        r = self.raft
        self._prev_soft = (r.lead, r.state)
        # What storage already holds: a bootstrap's new term and commit must reach the caller.
        hard, _ = config.storage.initial_state()
        self._prev_hard = (hard.term, hard.vote, hard.commit)

    # -- input ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance the logical clock by one heartbeat interval."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (with pre-vote when configured), as if the timeout fired."""
        r = self.raft
        r.hup(CampaignType.PRE_ELECTION if r.pre_vote else CampaignType.ELECTION)

    def propose(self, data: bytes) -> None:
        """Propose `data` for the log; raises ProposalDropped when it cannot be accepted."""
        if type(data) is not bytes:
            raise TypeError(f"proposal data must be bytes, got {type(data).__name__}")
        r = self.raft
        r.step(Message(type=MT.MSG_PROP, frm=r.id, entries=[Entry(data=data)]))

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Propose a membership change; raises ProposalDropped as propose() does."""
        if type(cc) is not ConfChange:
            raise TypeError(f"expected a ConfChange, got {type(cc).__name__}")
        r = self.raft
        entry = Entry(type=EntryType.CONF_CHANGE, data=cc.encode())
        r.step(Message(type=MT.MSG_PROP, frm=r.id, entries=[entry]))

    def step(self, m: Message) -> None:
        """Handle a message from a peer (or a transport report); bad input is dropped."""
        r = self.raft
        if not _is_well_formed(m):
            r.dropped_messages += 1
            return
        mtype = m.type
        frm = m.frm
        if (
            mtype in _INTERNAL
            or frm == 0
            or m.to not in (0, r.id)
            or (m.term == 0 and mtype not in _TERMLESS)
            or (frm == r.id and mtype not in _FROM_SELF)
            or (mtype in _RESPONSES and frm not in r.tracker.progress)
        ):
            r.dropped_messages += 1
            return
        try:
            r.step(m)
        except ProposalDropped:
            r.dropped_messages += 1

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read; a ReadState with ctx appears in a later Ready."""
        r = self.raft
        if type(ctx) is not bytes:
            r.dropped_messages += 1
            return
        r.step(Message(type=MT.MSG_READ_INDEX, frm=r.id, entries=[Entry(data=ctx)]))

    def transfer_leader(self, transferee: int) -> None:
        """Ask the leader to hand leadership to `transferee`."""
        r = self.raft
        if not _is_index(transferee) or transferee == 0:
            r.dropped_messages += 1
            return
        r.step(Message(type=MT.MSG_TRANSFER_LEADER, frm=transferee))

    def report_unreachable(self, node: int) -> None:
        """The transport could not reach `node`: stop streaming appends to it."""
        self.step(Message(type=MT.MSG_UNREACHABLE, frm=node, to=self.raft.id))

    def report_snapshot(self, node: int, failed: bool) -> None:
        """The transport finished (or failed) sending a snapshot to `node`."""
        self.step(Message(type=MT.MSG_SNAP_STATUS, frm=node, to=self.raft.id, reject=failed))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed CONF_CHANGE entry's change; returns the new membership."""
        return self.raft.apply_conf_change(cc)

    # -- output --------------------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether ready() has anything to persist, send, apply or report."""
        r = self.raft
        log = r.raft_log
        return bool(
            r.msgs
            or log.unstable.entries
            or log.has_next_committed_entries()
            or r.read_states
            or log.unstable.snapshot is not None
            or (r.lead, r.state) != self._prev_soft
            or (r.term, r.vote, log.committed) != self._prev_hard
        )

    def ready(self) -> Ready:
        """Take the pending work; the caller acts on it and then calls advance(rd)."""
        r = self.raft
        log = r.raft_log
        rd = Ready(
            entries=log.unstable_entries(),
            committed_entries=log.next_committed_entries(),
            messages=r.take_messages(),
            read_states=r.read_states,
            snapshot=log.unstable.snapshot,
        )
        r.read_states = []
        soft = (r.lead, r.state)
        if soft != self._prev_soft:
            rd.soft_state = SoftState(lead=r.lead, raft_state=r.state)
            self._prev_soft = soft
        hard = (r.term, r.vote, log.committed)
        if hard != self._prev_hard:
            rd.hard_state = HardState(*hard)
            rd.must_sync = hard[0] != self._prev_hard[0] or hard[1] != self._prev_hard[1]
        rd.must_sync = rd.must_sync or bool(rd.entries)
        return rd

    def advance(self, rd: Ready) -> None:
        """Acknowledge that rd was persisted and its committed entries applied."""
        r = self.raft
        log = r.raft_log
        if rd.hard_state is not None:
            hs = rd.hard_state
            self._prev_hard = (hs.term, hs.vote, hs.commit)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
            r.reduce_uncommitted_size(rd.committed_entries)
        elif rd.snapshot is not None:
            log.applied_to(rd.snapshot.metadata.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.metadata.index)

    # -- read-only views ------------------------------------------------------------------

    @property
    def term(self) -> int:
        """The current term."""
        return self.raft.term

    @property
    def committed(self) -> int:
        """The highest log index known to be committed."""
        return self.raft.raft_log.committed

    def last_index(self) -> int:
        """The index of the last entry in the log (stable or not)."""
        return self.raft.raft_log.last_index()

    def conf_state(self) -> ConfState:
        """The current configuration: voters and learners."""
        return self.raft.tracker.conf_state()

    def is_learner(self, node_id: int) -> bool:
        """Whether `node_id` is a learner in the current configuration."""
        return node_id in self.raft.tracker.learners

    def status(self) -> Status:
        """The node's current term, role, indexes and (on the leader) every peer's progress."""
        r = self.raft
        log = r.raft_log
        status = Status(
            id=r.id,
            term=r.term,
            vote=r.vote,
            commit=log.committed,
            applied=log.applied,
            lead=r.lead,
            raft_state=r.state,
            lead_transferee=r.lead_transferee,
            conf_state=r.tracker.conf_state(),
            dropped_messages=r.dropped_messages,
        )
        if r.state == StateType.LEADER:
            status.progress = {
                node: PeerProgress(pr.match, pr.next, pr.state, pr.recent_active, pr.is_learner)
                for node, pr in r.tracker.progress.items()
            }
        return status
