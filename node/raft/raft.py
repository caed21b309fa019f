"""The raft state machine: elections, replication, reads, snapshots, membership, transfers.

Modelled on etcd's raft.go (the synchronous-storage design of etcd 3.5, with the newer
rejection hints). `step()` trusts its message: RawNode filters malformed input first.
Outgoing messages collect in `msgs`; linearizable reads confirmed locally in `read_states`.
"""

from __future__ import annotations

import random
from enum import Enum

from node.raft.config import Config
from node.raft.log import LogConflictError, RaftLog
from node.raft.progress import Progress, ProgressState, ProgressTracker
from node.raft.quorum import VoteResult
from node.raft.read_only import ReadOnly
from node.raft.storage import NO_LIMIT, SnapshotTemporarilyUnavailable
from node.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MalformedRecord,
    Message,
    MessageType,
    ProposalDropped,
    ReadState,
    Snapshot,
    StateType,
)

__all__ = ["CAMPAIGN_TRANSFER", "CampaignType", "Raft"]

CAMPAIGN_TRANSFER = b"CampaignTransfer"

MT = MessageType
FOLLOWER = StateType.FOLLOWER
CANDIDATE = StateType.CANDIDATE
PRE_CANDIDATE = StateType.PRE_CANDIDATE
LEADER = StateType.LEADER
PROBE = ProgressState.PROBE
REPLICATE = ProgressState.REPLICATE
SNAPSHOT = ProgressState.SNAPSHOT


class CampaignType(Enum):
    """Why a node campaigns; a transfer's vote requests carry its value as context."""
    PRE_ELECTION = "CampaignPreElection"
    ELECTION = "CampaignElection"
    TRANSFER = "CampaignTransfer"


def _dropped(reason: str) -> ProposalDropped:
    exc = ProposalDropped("raft proposal dropped")
    exc.add_note(reason)
    return exc


class Raft:
    """One member's consensus state; driven by tick() and step(), read through its fields."""

    __slots__ = (
        "_batched_appends",
        "_handlers",
        "_tick",
        "check_quorum",
        "disable_proposal_forwarding",
        "dropped_messages",
        "election_elapsed",
        "election_timeout",
        "heartbeat_elapsed",
        "heartbeat_timeout",
        "id",
        "lead",
        "lead_transferee",
        "max_msg_size",
        "max_uncommitted_size",
        "msgs",
        "pending_conf_index",
        "pending_read_index_messages",
        "pre_vote",
        "raft_log",
        "randomized_election_timeout",
        "read_only",
        "read_states",
        "rng",
        "state",
        "term",
        "tracker",
        "uncommitted_size",
        "vote",
    )

    def __init__(self, config: Config) -> None:
        config.validate()
        storage = config.storage
        self.id = config.id
        self.raft_log = RaftLog(
            storage, config.max_committed_size_per_ready or config.max_size_per_msg or 1
        )
        hard_state, conf_state = storage.initial_state()
        self.max_msg_size = config.max_size_per_msg
        self.max_uncommitted_size = config.max_uncommitted_entries_size
        self.tracker = ProgressTracker(config.max_inflight_msgs)
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.disable_proposal_forwarding = config.disable_proposal_forwarding
        self.rng = random.Random(config.seed)
        self.term = 0
        self.vote = 0
        self.lead = 0
        self.state = FOLLOWER
        self.msgs: list[Message] = []
        self._batched_appends: dict[int, tuple[Message, int]] = {}
        self.read_states: list[ReadState] = []
        self.lead_transferee = 0
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        self.dropped_messages = 0
        # A brand-new member with an initial membership writes it into the log (etcd's
        # bootstrap) once the handlers exist; until then it starts with none.
        bootstrap = (
            hard_state.is_empty()
            and self.raft_log.last_index() == 0
            and bool(conf_state.voters or conf_state.learners)
        )
        self.tracker.restore(ConfState() if bootstrap else conf_state,
                             self.raft_log.last_index() + 1)
        if not hard_state.is_empty():
            self._load_state(hard_state)
        if config.applied > 0:
            self._restore_applied(config.applied)
        self._handlers: dict[StateType, dict] = {
            LEADER: {
                MT.MSG_APP_RESP: self._leader_append_response,
                MT.MSG_HEARTBEAT_RESP: self._leader_heartbeat_response,
                MT.MSG_PROP: self._leader_propose,
                MT.MSG_READ_INDEX: self._leader_read_index,
                MT.MSG_BEAT: self._leader_beat,
                MT.MSG_CHECK_QUORUM: self._leader_check_quorum,
                MT.MSG_SNAP_STATUS: self._leader_snapshot_status,
                MT.MSG_UNREACHABLE: self._leader_unreachable,
                MT.MSG_TRANSFER_LEADER: self._leader_transfer,
            },
            FOLLOWER: {
                MT.MSG_APP: self._follower_append,
                MT.MSG_HEARTBEAT: self._follower_heartbeat,
                MT.MSG_PROP: self._follower_propose,
                MT.MSG_SNAP: self._follower_snapshot,
                MT.MSG_READ_INDEX: self._follower_read_index,
                MT.MSG_READ_INDEX_RESP: self._follower_read_index_response,
                MT.MSG_TRANSFER_LEADER: self._follower_transfer,
                MT.MSG_TIMEOUT_NOW: self._follower_timeout_now,
            },
        }
        candidate = {
            MT.MSG_PROP: self._candidate_propose,
            MT.MSG_APP: self._candidate_heard_leader,
            MT.MSG_HEARTBEAT: self._candidate_heard_leader,
            MT.MSG_SNAP: self._candidate_heard_leader,
            MT.MSG_VOTE_RESP: self._candidate_vote_response,
            MT.MSG_PRE_VOTE_RESP: self._candidate_vote_response,
        }
        self._handlers[CANDIDATE] = candidate
        self._handlers[PRE_CANDIDATE] = candidate
        self._tick = self._tick_election
        self.become_follower(self.term, 0)
        if bootstrap:
            self._bootstrap(conf_state)

    # -- start-up ------------------------------------------------------------------------

    def _bootstrap(self, conf_state: ConfState) -> None:
        """Record the initial membership as committed CONF_CHANGE entries 1..n of term 1.

        As etcd's Bootstrap: every initial member writes the same entries, so the membership
        is durable in each log (a restart replays it) and a member that joins later learns it
        from the log. The caller applies them from the first Ready like any conf change.
        """
        changes = [ConfChange(ConfChangeType.ADD_NODE, v) for v in sorted(conf_state.voters)]
        changes += [
            ConfChange(ConfChangeType.ADD_LEARNER_NODE, v) for v in sorted(conf_state.learners)
        ]
        self.become_follower(1, 0)
        self.raft_log.append([
            Entry(term=1, index=i, type=EntryType.CONF_CHANGE, data=cc.encode())
            for i, cc in enumerate(changes, 1)
        ])
        self.raft_log.commit_to(len(changes))
        for cc in changes:
            self.tracker.apply_conf_change(cc, self.raft_log.last_index())

    def _load_state(self, hard_state: HardState) -> None:
        log = self.raft_log
        if hard_state.commit > log.last_index():
            raise ValueError(
                f"{self.id:x} state.commit {hard_state.commit} is out of range "
                f"[{log.committed}, {log.last_index()}]"
            )
        log.commit_to(hard_state.commit)
        self.term = hard_state.term
        self.vote = hard_state.vote

    def _restore_applied(self, applied: int) -> None:
        """Start from the state machine's applied index, with the membership as of it."""
        log = self.raft_log
        if applied < log.applied or applied > log.committed:
            raise ValueError(
                f"applied({applied}) is out of range [prevApplied({log.applied}), "
                f"committed({log.committed})]"
            )
        first = log.first_index()
        if applied >= first:
            for entry in log.slice(first, applied + 1, NO_LIMIT):
                if entry.type == EntryType.CONF_CHANGE:
                    cc = self._decode_conf_change(entry)
                    if cc is not None:
                        self.tracker.apply_conf_change(cc, log.last_index())
        log.applied_to(applied)

    @staticmethod
    def _decode_conf_change(entry: Entry) -> ConfChange | None:
        try:
            return ConfChange.decode(entry.data)
        except MalformedRecord:
            return None

    # -- what the outside reads ----------------------------------------------------------

    def take_messages(self) -> list[Message]:
        """Hand out the outgoing messages; appends queued from now on start new messages."""
        msgs, self.msgs = self.msgs, []
        self._batched_appends = {}
        return msgs

    def promotable(self) -> bool:
        """Whether this node may campaign: a voter with no snapshot waiting to be persisted."""
        pr = self.tracker.progress.get(self.id)
        return pr is not None and not pr.is_learner and not self.raft_log.has_pending_snapshot()

    # -- role changes --------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = 0
        self.lead = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(
            self.election_timeout
        )
        self.lead_transferee = 0
        tracker = self.tracker
        tracker.reset_votes()
        last = self.raft_log.last_index()
        for node, pr in tracker.progress.items():
            fresh = Progress(
                match=last if node == self.id else 0,
                next=last + 1,
                inflights=pr.inflights,
                is_learner=pr.is_learner,
            )
            fresh.inflights.reset()
            tracker.progress[node] = fresh
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages = []
        self._batched_appends = {}

    def become_follower(self, term: int, lead: int) -> None:
        """Follow `lead` (0 when unknown) at `term`."""
        self._reset(term)
        self._tick = self._tick_election
        self.lead = lead
        self.state = FOLLOWER

    def become_candidate(self) -> None:
        """Start a real election: next term, vote for ourselves."""
        self._reset(self.term + 1)
        self._tick = self._tick_election
        self.vote = self.id
        self.state = CANDIDATE

    def become_pre_candidate(self) -> None:
        # A pre-candidate keeps its term and vote: it only asks whether it could win.
        """Start a pre-vote round without touching term or vote."""
        self.tracker.reset_votes()
        self._tick = self._tick_election
        self.lead = 0
        self.state = PRE_CANDIDATE

    def become_leader(self) -> None:
        """Lead the current term, starting with an empty entry of it."""
        self._reset(self.term)
        self._tick = self._tick_heartbeat
        self.lead = self.id
        self.state = LEADER
        pr = self.tracker.progress.get(self.id)
        if pr is not None:
            pr.become_replicate()
            pr.recent_active = True
        # Any conf change in the uncommitted tail counts as pending until it is applied.
        self.pending_conf_index = self.raft_log.last_index()
        self._append_entries([Entry()])

    # -- ticks ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance the logical clock: election timeout or heartbeat, by role."""
        self._tick()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout and self.promotable():
            self.election_elapsed = 0
            self.hup(CampaignType.PRE_ELECTION if self.pre_vote else CampaignType.ELECTION)

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self._leader_check_quorum(None)
            if self.state == LEADER and self.lead_transferee:
                self.lead_transferee = 0
        if self.state != LEADER:
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    # -- elections -----------------------------------------------------------------------

    def hup(self, campaign_type: CampaignType) -> None:
        """Start an election unless leading, not a voter, or a conf change awaits applying."""
        if self.state == LEADER or not self.promotable() or self._has_unapplied_conf_changes():
            return
        self._campaign(campaign_type)

    def _has_unapplied_conf_changes(self) -> bool:
        log = self.raft_log
        lo = max(log.applied + 1, log.first_index())
        if log.committed < lo:
            return False
        return any(
            e.type == EntryType.CONF_CHANGE for e in log.slice(lo, log.committed + 1, NO_LIMIT)
        )

    def _campaign(self, campaign_type: CampaignType) -> None:
        if campaign_type == CampaignType.PRE_ELECTION:
            self.become_pre_candidate()
            vote_type, term = MT.MSG_PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_type, term = MT.MSG_VOTE, self.term
        if self._poll(self.id, True) == VoteResult.WON:
            # A single voter wins on its own vote.
            if campaign_type == CampaignType.PRE_ELECTION:
                self._campaign(CampaignType.ELECTION)
            else:
                self.become_leader()
                self._bcast_append()
            return
        log = self.raft_log
        last_index, last_term = log.last_index(), log.last_term()
        context = CAMPAIGN_TRANSFER if campaign_type == CampaignType.TRANSFER else b""
        for node in sorted(self.tracker.voters):
            if node != self.id:
                self.msgs.append(
                    Message(
                        type=vote_type, to=node, frm=self.id, term=term, log_term=last_term,
                        index=last_index, context=context,
                    )
                )

    def _poll(self, node: int, granted: bool) -> VoteResult:
        self.tracker.record_vote(node, granted)
        return self.tracker.tally_votes()

    def _handle_vote(self, m: Message) -> None:
        can_vote = (
            self.vote == m.frm
            or (self.vote == 0 and self.lead == 0)
            or (m.type == MT.MSG_PRE_VOTE and m.term > self.term)
        )
        resp_type = MT.MSG_VOTE_RESP if m.type == MT.MSG_VOTE else MT.MSG_PRE_VOTE_RESP
        if can_vote and self.raft_log.is_up_to_date(m.index, m.log_term):
            # Answer with the request's term: a pre-vote asks about a term we have not reached.
            self.msgs.append(Message(type=resp_type, to=m.frm, frm=self.id, term=m.term))
            if m.type == MT.MSG_VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.msgs.append(
                Message(type=resp_type, to=m.frm, frm=self.id, term=self.term, reject=True)
            )

    # -- step ----------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        """Handle one message; raises ProposalDropped for a proposal raft refuses."""
        mtype = m.type
        term = m.term
        if term > self.term:
            if mtype == MT.MSG_VOTE or mtype == MT.MSG_PRE_VOTE:
                in_lease = (
                    self.check_quorum
                    and self.lead != 0
                    and self.election_elapsed < self.election_timeout
                )
                if in_lease and m.context != CAMPAIGN_TRANSFER:
                    # Leader lease: a live leader was heard from recently, so stay with it.
                    return
            if mtype == MT.MSG_PRE_VOTE or (mtype == MT.MSG_PRE_VOTE_RESP and not m.reject):
                pass
            elif mtype == MT.MSG_APP or mtype == MT.MSG_HEARTBEAT or mtype == MT.MSG_SNAP:
                self.become_follower(term, m.frm)
            else:
                self.become_follower(term, 0)
        elif 0 < term < self.term:
            if (self.check_quorum or self.pre_vote) and (
                mtype == MT.MSG_HEARTBEAT or mtype == MT.MSG_APP
            ):
                # Tell a stale leader about our term so it steps down (see etcd's raft.go).
                self.msgs.append(
                    Message(type=MT.MSG_APP_RESP, to=m.frm, frm=self.id, term=self.term)
                )
            elif mtype == MT.MSG_PRE_VOTE:
                self.msgs.append(
                    Message(
                        type=MT.MSG_PRE_VOTE_RESP, to=m.frm, frm=self.id, term=self.term,
                        reject=True,
                    )
                )
            return
        if mtype == MT.MSG_VOTE or mtype == MT.MSG_PRE_VOTE:
            self._handle_vote(m)
            return
        if mtype == MT.MSG_HUP:
            self.hup(CampaignType.PRE_ELECTION if self.pre_vote else CampaignType.ELECTION)
            return
        handler = self._handlers[self.state].get(mtype)
        if handler is not None:
            handler(m)

    # -- leader --------------------------------------------------------------------------

    def _append_entries(self, entries: list[Entry]) -> bool:
        """Append proposals at our term after the last index; False if over the size limit."""
        log = self.raft_log
        last = log.last_index()
        term = self.term
        for i, entry in enumerate(entries, start=1):
            entry.term = term
            entry.index = last + i
        if self.max_uncommitted_size:
            size = sum(len(e.data) for e in entries)
            if (
                self.uncommitted_size > 0
                and size > 0
                and self.uncommitted_size + size > self.max_uncommitted_size
            ):
                return False
            self.uncommitted_size += size
        last = log.append(entries)
        pr = self.tracker.progress.get(self.id)
        if pr is not None:
            pr.maybe_update(last)
        self._maybe_commit()
        return True

    def reduce_uncommitted_size(self, entries: list[Entry]) -> None:
        """Release the uncommitted-size budget of entries that were applied."""
        if self.max_uncommitted_size and self.uncommitted_size:
            size = sum(len(e.data) for e in entries)
            self.uncommitted_size = max(0, self.uncommitted_size - size)

    def _maybe_commit(self) -> bool:
        return self.raft_log.maybe_commit(self.tracker.committed(), self.term)

    def _committed_entry_in_current_term(self) -> bool:
        return self.raft_log.term(self.raft_log.committed) == self.term

    def _bcast_append(self) -> None:
        for node in self.tracker.progress:
            if node != self.id:
                self._maybe_send_append(node, True)

    def _bcast_heartbeat(self) -> None:
        ctx = self.read_only.last_pending_request_ctx()
        for node in self.tracker.progress:
            if node != self.id:
                self._send_heartbeat(node, ctx)

    def _send_heartbeat(self, to: int, ctx: bytes) -> None:
        # Never tell a follower to commit beyond what it is known to hold.
        commit = min(self.tracker.progress[to].match, self.raft_log.committed)
        self.msgs.append(
            Message(
                type=MT.MSG_HEARTBEAT, to=to, frm=self.id, term=self.term, commit=commit,
                context=ctx,
            )
        )

    def _maybe_send_append(self, to: int, send_if_empty: bool) -> bool:
        """Send `to` the entries from its next index (or a snapshot); True if sent."""
        pr = self.tracker.progress[to]
        if pr.is_paused():
            return False
        log = self.raft_log
        next_index = pr.next
        if next_index < log.first_index():
            return self._maybe_send_snapshot(to, pr)
        prev_term = log.term(next_index - 1)
        if prev_term is None:
            return False
        entries = log.entries_from(next_index, self.max_msg_size)
        if not entries and not send_if_empty:
            return False
        if entries:
            if pr.state == REPLICATE:
                last = entries[-1].index
                pr.next = last + 1
                if self._extend_batched_append(to, pr, entries):
                    return True
                pr.inflights.add(last)
            else:
                pr.probe_sent = True
        msg = Message(
            type=MT.MSG_APP, to=to, frm=self.id, term=self.term, log_term=prev_term,
            index=next_index - 1, entries=entries, commit=log.committed,
        )
        self.msgs.append(msg)
        if entries and pr.state == REPLICATE:
            self._batched_appends[to] = (msg, sum(e.size() for e in entries))
        return True

    def _extend_batched_append(self, to: int, pr: Progress, entries: list[Entry]) -> bool:
        """Add entries to this Ready's last append to `to` if they directly follow it.

        Many proposals in one Ready then reach a follower as one message, and occupy one
        slot of its inflight window, within max_size_per_msg.
        """
        batched = self._batched_appends.get(to)
        if batched is None:
            return False
        msg, size = batched
        last = msg.entries[-1].index
        if entries[0].index != last + 1 or pr.inflights.last() != last:
            return False
        size += sum(e.size() for e in entries)
        if size > self.max_msg_size:
            return False
        msg.entries.extend(entries)
        msg.commit = self.raft_log.committed
        pr.inflights.replace_last(entries[-1].index)
        self._batched_appends[to] = (msg, size)
        return True

    def _maybe_send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False
        try:
            snapshot = self.raft_log.snapshot()
        except SnapshotTemporarilyUnavailable:
            return False
        if snapshot.metadata.index == 0:
            return False
        pr.become_snapshot(snapshot.metadata.index)
        self.msgs.append(
            Message(type=MT.MSG_SNAP, to=to, frm=self.id, term=self.term, snapshot=snapshot)
        )
        return True

    def _send_timeout_now(self, to: int) -> None:
        self.msgs.append(Message(type=MT.MSG_TIMEOUT_NOW, to=to, frm=self.id, term=self.term))

    def _leader_beat(self, m: Message) -> None:
        self._bcast_heartbeat()

    def _leader_check_quorum(self, m: Message | None) -> None:
        tracker = self.tracker
        if self.state == LEADER and not tracker.quorum_active():
            self.become_follower(self.term, 0)
        for node, pr in tracker.progress.items():
            if node != self.id:
                pr.recent_active = False

    def _leader_propose(self, m: Message) -> None:
        if self.id not in self.tracker.progress:
            raise _dropped(f"{self.id:x} is not in the configuration")
        if self.lead_transferee:
            raise _dropped(f"{self.id:x} is transferring leadership to {self.lead_transferee:x}")
        log = self.raft_log
        pending = self.pending_conf_index > log.applied
        local = m.frm == self.id
        entries: list[Entry] = []
        for entry in m.entries:
            etype, data = entry.type, entry.data
            if etype == EntryType.CONF_CHANGE:
                refused = pending or self._decode_conf_change(entry) is None
                if refused and local:
                    raise _dropped(
                        f"{self.id:x} has a conf change pending at index "
                        f"{self.pending_conf_index} (applied {log.applied})"
                    )
                if refused:
                    etype, data = EntryType.NORMAL, b""
                else:
                    pending = True
                    self.pending_conf_index = log.last_index() + len(entries) + 1
            entries.append(Entry(type=etype, data=data))
        if not self._append_entries(entries):
            raise _dropped("uncommitted entries exceed max_uncommitted_entries_size")
        self._bcast_append()

    def _leader_read_index(self, m: Message) -> None:
        if self.tracker.is_singleton() and self.id in self.tracker.voters:
            self._respond_read_index(m, self.raft_log.committed)
        elif not self._committed_entry_in_current_term():
            # Our commit index may lag the previous leader's until we commit in our term.
            self.pending_read_index_messages.append(m)
        else:
            self._confirm_read_index(m)

    def _confirm_read_index(self, m: Message) -> None:
        ctx = m.entries[0].data
        self.read_only.add_request(self.raft_log.committed, m)
        self.read_only.recv_ack(self.id, ctx)
        for node in self.tracker.progress:
            if node != self.id:
                self._send_heartbeat(node, ctx)

    def _release_pending_read_index_messages(self) -> None:
        if self.pending_read_index_messages and self._committed_entry_in_current_term():
            waiting, self.pending_read_index_messages = self.pending_read_index_messages, []
            for m in waiting:
                self._confirm_read_index(m)

    def _respond_read_index(self, req: Message, index: int) -> None:
        if req.frm in (0, self.id):
            self.read_states.append(ReadState(index=index, request_ctx=req.entries[0].data))
        else:
            self.msgs.append(
                Message(
                    type=MT.MSG_READ_INDEX_RESP, to=req.frm, frm=self.id, term=self.term,
                    index=index, entries=req.entries,
                )
            )

    def _leader_append_response(self, m: Message) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is None:
            return
        pr.recent_active = True
        log = self.raft_log
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe, _ = log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, next_probe):
                if pr.state == REPLICATE:
                    pr.become_probe()
                self._maybe_send_append(m.frm, True)
            return
        if m.index > log.last_index():
            self.dropped_messages += 1
            return
        old_paused = pr.is_paused()
        if not (pr.maybe_update(m.index) or (pr.match == m.index and pr.state == PROBE)):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT:
            if pr.match + 1 >= log.first_index():
                pr.become_probe()
                pr.become_replicate()
        else:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            self._release_pending_read_index_messages()
            self._bcast_append()
        elif old_paused:
            self._maybe_send_append(m.frm, True)
        while self._maybe_send_append(m.frm, False):
            pass
        if m.frm == self.lead_transferee and pr.match == log.last_index():
            self._send_timeout_now(m.frm)

    def _leader_heartbeat_response(self, m: Message) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is None:
            return
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state == REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()
        if pr.match < self.raft_log.last_index():
            self._maybe_send_append(m.frm, True)
        if not m.context:
            return
        acks = self.read_only.recv_ack(m.frm, m.context)
        if acks is None or self.tracker.vote_result(acks) != VoteResult.WON:
            return
        for status in self.read_only.advance(m.context):
            self._respond_read_index(status.req, status.index)

    def _leader_snapshot_status(self, m: Message) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is None or pr.state != SNAPSHOT:
            return
        if m.reject:
            # Probe from the old position: the snapshot never arrived.
            pr.pending_snapshot = 0
        pr.become_probe()
        # Wait for the follower's answer (or a heartbeat) before the next append.
        pr.probe_sent = True

    def _leader_unreachable(self, m: Message) -> None:
        pr = self.tracker.progress.get(m.frm)
        if pr is not None and pr.state == REPLICATE:
            pr.become_probe()

    def _leader_transfer(self, m: Message) -> None:
        transferee = m.frm
        pr = self.tracker.progress.get(transferee)
        if pr is None or pr.is_learner:
            return
        if self.lead_transferee:
            if self.lead_transferee == transferee:
                return
            self.lead_transferee = 0
        if transferee == self.id:
            return
        # The transfer must finish within an election timeout or it is abandoned.
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if pr.match == self.raft_log.last_index():
            self._send_timeout_now(transferee)
        else:
            self._maybe_send_append(transferee, True)

    # -- candidate -----------------------------------------------------------------------

    def _candidate_propose(self, m: Message) -> None:
        raise _dropped(f"{self.id:x} no leader at term {self.term}; dropping proposal")

    def _candidate_heard_leader(self, m: Message) -> None:
        self.become_follower(m.term, m.frm)
        self._handlers[FOLLOWER][m.type](m)

    def _candidate_vote_response(self, m: Message) -> None:
        expected = MT.MSG_PRE_VOTE_RESP if self.state == PRE_CANDIDATE else MT.MSG_VOTE_RESP
        if m.type != expected:
            return
        result = self._poll(m.frm, not m.reject)
        if result == VoteResult.WON:
            if self.state == PRE_CANDIDATE:
                self._campaign(CampaignType.ELECTION)
            else:
                self.become_leader()
                self._bcast_append()
        elif result == VoteResult.LOST:
            # A pre-vote response carries the future term; keep our own.
            self.become_follower(self.term, 0)

    # -- follower ------------------------------------------------------------------------

    def _follower_propose(self, m: Message) -> None:
        if self.id not in self.tracker.progress:
            raise _dropped(f"{self.id:x} is not in the configuration")
        if self.lead == 0:
            raise _dropped(f"{self.id:x} no leader at term {self.term}; dropping proposal")
        if self.disable_proposal_forwarding:
            raise _dropped(f"{self.id:x} not forwarding to leader {self.lead:x}")
        self.msgs.append(Message(type=MT.MSG_PROP, to=self.lead, frm=m.frm, entries=m.entries))

    def _follower_append(self, m: Message) -> None:
        self.election_elapsed = 0
        self.lead = m.frm
        log = self.raft_log
        if m.index < log.committed:
            self.msgs.append(
                Message(
                    type=MT.MSG_APP_RESP, to=m.frm, frm=self.id, term=self.term,
                    index=log.committed,
                )
            )
            return
        try:
            last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        except LogConflictError:
            self.dropped_messages += 1
            return
        if last_new is not None:
            self.msgs.append(
                Message(type=MT.MSG_APP_RESP, to=m.frm, frm=self.id, term=self.term, index=last_new)
            )
            return
        # Hint the largest (index, term) that could match, skipping a divergent term at once.
        hint_index, hint_term = log.find_conflict_by_term(
            min(m.index, log.last_index()), m.log_term
        )
        self.msgs.append(
            Message(
                type=MT.MSG_APP_RESP, to=m.frm, frm=self.id, term=self.term, index=m.index,
                reject=True, reject_hint=hint_index, log_term=hint_term,
            )
        )

    def _follower_heartbeat(self, m: Message) -> None:
        self.election_elapsed = 0
        self.lead = m.frm
        if m.commit <= self.raft_log.last_index():
            self.raft_log.commit_to(m.commit)
        self.msgs.append(
            Message(
                type=MT.MSG_HEARTBEAT_RESP, to=m.frm, frm=self.id, term=self.term,
                context=m.context,
            )
        )

    def _follower_snapshot(self, m: Message) -> None:
        snapshot = m.snapshot
        if snapshot is None:  # RawNode.step lets no MSG_SNAP without a snapshot through
            return
        self.election_elapsed = 0
        self.lead = m.frm
        log = self.raft_log
        index = log.last_index() if self._restore(snapshot) else log.committed
        self.msgs.append(
            Message(type=MT.MSG_APP_RESP, to=m.frm, frm=self.id, term=self.term, index=index)
        )

    def _restore(self, snapshot: Snapshot) -> bool:
        """Replace log and membership with a snapshot newer than our commit index."""
        meta = snapshot.metadata
        log = self.raft_log
        if meta.index <= log.committed:
            return False
        if log.match_term(meta.index, meta.term):
            # We already hold the snapshot's last entry: just fast-forward the commit index.
            log.commit_to(meta.index)
            return False
        log.restore(snapshot)
        self.tracker.restore(meta.conf_state, log.last_index() + 1)
        return True

    def _follower_read_index(self, m: Message) -> None:
        if self.lead == 0:
            return
        self.msgs.append(
            Message(type=MT.MSG_READ_INDEX, to=self.lead, frm=m.frm, entries=m.entries)
        )

    def _follower_read_index_response(self, m: Message) -> None:
        if len(m.entries) == 1:
            self.read_states.append(ReadState(index=m.index, request_ctx=m.entries[0].data))

    def _follower_transfer(self, m: Message) -> None:
        if self.lead == 0:
            return
        self.msgs.append(
            Message(type=MT.MSG_TRANSFER_LEADER, to=self.lead, frm=m.frm, term=self.term)
        )

    def _follower_timeout_now(self, m: Message) -> None:
        # A leadership transfer skips pre-vote: the cluster is known to be healthy.
        self.hup(CampaignType.TRANSFER)

    # -- membership ----------------------------------------------------------------------

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed conf change; the leader steps down if it removed itself."""
        tracker = self.tracker
        tracker.apply_conf_change(cc, self.raft_log.last_index())
        conf_state = tracker.conf_state()
        pr = tracker.progress.get(self.id)
        if self.state != LEADER:
            return conf_state
        if pr is None or pr.is_learner:
            self.become_follower(self.term, 0)
            return conf_state
        if self._maybe_commit():
            self._bcast_append()
        else:
            for node in tracker.progress:
                if node != self.id:
                    self._maybe_send_append(node, False)
        if self.lead_transferee and self.lead_transferee not in tracker.voters:
            self.lead_transferee = 0
        return conf_state
