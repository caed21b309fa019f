"""The leader's view of each peer (Progress with its Inflights window) and the membership.

As etcd's tracker/progress.go, tracker/inflights.go and tracker/tracker.go. A peer is probed
(one append in flight until it answers), replicated to (appends streamed optimistically up to
the inflight window) or waiting for a snapshot. The tracker also holds the configuration:
which peers are voters and which are learners, and the votes of the current election.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

from node.raft.quorum import VoteResult, committed_index, vote_result
from node.raft.types import ConfChange, ConfChangeType, ConfState

__all__ = ["Inflights", "Progress", "ProgressState", "ProgressTracker"]


class ProgressState(IntEnum):
    """How the leader replicates to a peer: probing, streaming, or waiting for a snapshot."""
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """The last index of each append sent and not yet acknowledged, at most `capacity`."""

    __slots__ = ("_indexes", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._indexes: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._indexes)

    def add(self, index: int) -> None:
        """Record an append whose last entry is `index`."""
        self._indexes.append(index)

    def last(self) -> int | None:
        """The last index of the newest append in flight, if any."""
        return self._indexes[-1] if self._indexes else None

    def replace_last(self, index: int) -> None:
        """Let the newest append in flight also cover entries up to `index`."""
        self._indexes[-1] = index

    def free_le(self, index: int) -> None:
        """Acknowledge every append up to and including `index`."""
        indexes = self._indexes
        while indexes and indexes[0] <= index:
            indexes.popleft()

    def free_first_one(self) -> None:
        """Free the oldest slot (a heartbeat answer proves the peer is alive)."""
        if self._indexes:
            self._indexes.popleft()

    def full(self) -> bool:
        """Whether no further append may be sent."""
        return len(self._indexes) >= self.capacity

    def reset(self) -> None:
        """Forget every append in flight."""
        self._indexes.clear()


@dataclass(slots=True)
class Progress:
    """What the leader knows of one peer's log: `match` is confirmed, `next` is sent next."""

    match: int
    next: int
    inflights: Inflights
    state: ProgressState = ProgressState.PROBE
    pending_snapshot: int = 0
    recent_active: bool = False
    probe_sent: bool = False
    is_learner: bool = False

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        """Send one append at a time until the peer's log position is known."""
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        """Stream appends optimistically, bounded by the inflight window."""
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        """Stop appends until the snapshot at `snapshot_index` is reported installed."""
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, index: int) -> bool:
        """Record an acknowledgement up to `index`; True if it moved `match`."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """Step `next` back after the append at `rejected` was refused; False if stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """Whether the leader must hold back appends to this peer."""
        state = self.state
        if state == ProgressState.REPLICATE:
            return self.inflights.full()
        if state == ProgressState.PROBE:
            return self.probe_sent
        return True


@dataclass(slots=True)
class ProgressTracker:
    """The configuration (voters, learners), every member's Progress, and election votes."""

    max_inflight: int
    voters: set[int] = field(default_factory=set)
    learners: set[int] = field(default_factory=set)
    progress: dict[int, Progress] = field(default_factory=dict)
    votes: dict[int, bool] = field(default_factory=dict)

    def _new_progress(self, next_index: int, is_learner: bool) -> Progress:
        return Progress(
            match=0,
            next=max(next_index, 1),
            inflights=Inflights(self.max_inflight),
            recent_active=True,
            is_learner=is_learner,
        )

    def restore(self, conf_state: ConfState, next_index: int) -> None:
        """Replace the configuration with the one a snapshot (or the storage) describes."""
        self.voters = set(conf_state.voters)
        self.learners = set(conf_state.learners) - self.voters
        self.progress = {v: self._new_progress(next_index, False) for v in self.voters}
        for learner in self.learners:
            self.progress[learner] = self._new_progress(next_index, True)
        self.votes = {}

    def apply_conf_change(self, cc: ConfChange, last_index: int) -> None:
        """Apply one single-server change; changes that would leave no voter are ignored."""
        node = cc.node_id
        if node == 0:
            return
        if cc.type == ConfChangeType.ADD_NODE:
            if node in self.voters:
                return
            self.voters.add(node)
            if node in self.learners:
                self.learners.discard(node)
                self.progress[node].is_learner = False
            else:
                self.progress[node] = self._new_progress(last_index, False)
        elif cc.type == ConfChangeType.ADD_LEARNER_NODE:
            if node in self.learners or (node in self.voters and len(self.voters) == 1):
                return
            self.learners.add(node)
            if node in self.voters:
                self.voters.discard(node)
                self.progress[node].is_learner = True
            else:
                self.progress[node] = self._new_progress(last_index, True)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            if node in self.voters and len(self.voters) == 1:
                return
            self.voters.discard(node)
            self.learners.discard(node)
            self.progress.pop(node, None)

    def conf_state(self) -> ConfState:
        """The current membership, sorted."""
        return ConfState(voters=sorted(self.voters), learners=sorted(self.learners))

    def is_empty(self) -> bool:
        """Whether no membership is known at all."""
        return not self.progress

    def is_singleton(self) -> bool:
        """Whether there is exactly one voter."""
        return len(self.voters) == 1

    def committed(self) -> int:
        """The largest index a majority of voters have in their logs."""
        progress = self.progress
        return committed_index([progress[v].match for v in self.voters])

    def quorum_active(self) -> bool:
        """Whether a majority of voters were heard from since the last check."""
        progress = self.progress
        active = {v: True for v in self.voters if progress[v].recent_active}
        return vote_result(self.voters, active) == VoteResult.WON

    def reset_votes(self) -> None:
        """Forget the votes of the last election."""
        self.votes = {}

    def record_vote(self, node: int, granted: bool) -> None:
        """Count a node's first answer in this election; repeats do not change it."""
        self.votes.setdefault(node, granted)

    def tally_votes(self) -> VoteResult:
        """The outcome of the current election so far, counting voters only."""
        return vote_result(self.voters, self.votes)

    def vote_result(self, votes: dict[int, bool]) -> VoteResult:
        """The outcome of a vote among the voters (used for read acknowledgements)."""
        return vote_result(self.voters, votes)
