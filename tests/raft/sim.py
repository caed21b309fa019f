"""A deterministic raft cluster simulator that checks raft's safety properties after every step.

One seeded `random.Random` drives everything: which node ticks, which message is delivered
(any in-flight one, so delivery reorders), drops, duplicates, proposals, partitions, crashes
and restarts (a restarted node keeps only what its Readys persisted), snapshots and log
compaction, conf changes, leadership transfers and ReadIndex requests. The same seed always
replays the same run.

Checked after every step: at most one leader per term; log matching (an entry identified by
index and term always has the same data and the same predecessor); leader completeness (a
new leader holds every entry known committed); state-machine safety (no two nodes apply
different entries at one index, no node applies an index twice or out of order); ReadIndex
never answers below what was committed when the read was issued. After the faults: a leader
within a bounded number of ticks and a new proposal applied on every live member.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import cbor2

from node.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    RawNode,
    Ready,
    Snapshot,
    StateType,
)

ELECTION_TICK = 10
HEARTBEAT_TICK = 1
MAX_NODE_ID = 7


class SafetyViolation(AssertionError):
    """A raft safety property failed; the message names the property and the evidence."""


@dataclass(slots=True)
class AppliedEntry:
    term: int
    type: EntryType
    data: bytes


@dataclass
class SimNode:
    """One member: its persisted storage, its durable state machine, and a RawNode when up."""

    id: int
    storage: MemoryStorage
    seed: int
    raw: RawNode | None = None
    applied: int = 0
    state_machine: dict[int, AppliedEntry] = field(default_factory=dict)
    conf_state: ConfState = field(default_factory=ConfState)
    initial: ConfState = field(default_factory=ConfState)
    removed: bool = False

    def start(self) -> None:
        self.raw = RawNode(
            Config(
                id=self.id,
                storage=self.storage,
                election_tick=ELECTION_TICK,
                heartbeat_tick=HEARTBEAT_TICK,
                pre_vote=True,
                check_quorum=True,
                applied=self.applied,
                seed=self.seed,
                max_inflight_msgs=16,
                max_size_per_msg=4096,
            )
        )

    @property
    def up(self) -> bool:
        return self.raw is not None


def rebuild_storage(old: MemoryStorage, initial: ConfState) -> MemoryStorage:
    """A fresh storage holding exactly what `old` persisted: what a restart reads from disk."""
    snapshot = old.snapshot()
    hard_state, _ = old.initial_state()
    if snapshot.metadata.index > 0:
        fresh = MemoryStorage(conf_state=ConfState())
        fresh.apply_snapshot(snapshot)
    else:
        fresh = MemoryStorage(conf_state=ConfState(list(initial.voters), list(initial.learners)))
    first, last = old.first_index(), old.last_index()
    if last >= first:
        fresh.append(old.entries(first, last + 1, 1 << 62))
    fresh.set_hard_state(HardState(hard_state.term, hard_state.vote, hard_state.commit))
    return fresh


@dataclass
class Faults:
    """How hostile the network and the operator are during the chaos phase."""

    drop: float = 0.05
    duplicate: float = 0.03
    rate: float = 0.06
    weights: dict[str, int] = field(
        default_factory=lambda: {
            "crash": 3, "partition": 3, "conf_change": 3, "transfer": 2, "snapshot": 6,
        }
    )


class Simulation:
    """A cluster of SimNodes on a lossy, reordering network, driven by one seed."""

    def __init__(self, seed: int, size: int = 3, faults: Faults | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.initial = ConfState(voters=list(range(1, size + 1)))
        self.nodes: dict[int, SimNode] = {}
        self.network: list[Message] = []
        self.blocked: set[frozenset[int]] = set()
        self.leaders: dict[int, int] = {}
        self.entry_ids: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.committed: dict[int, AppliedEntry] = {}
        self.max_committed = 0
        self.pending_reads: dict[bytes, int] = {}
        self.proposals = 0
        self.steps = 0
        self.trace: list[str] = []
        for node_id in self.initial.voters:
            self._add_node(node_id, self.initial)

    # -- membership of the simulation ----------------------------------------------------

    def _add_node(self, node_id: int, conf: ConfState) -> SimNode:
        storage = MemoryStorage(conf_state=ConfState(list(conf.voters), list(conf.learners)))
        node = SimNode(node_id, storage, seed=self.seed * 31 + node_id)
        node.conf_state = ConfState(list(conf.voters), list(conf.learners))
        node.initial = ConfState(list(conf.voters), list(conf.learners))
        self.nodes[node_id] = node
        node.start()
        return node

    def live(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.up]

    def leader(self) -> SimNode | None:
        """The live leader of the highest term, if any."""
        best = None
        for node in self.live():
            status = node.raw.status()
            if status.raft_state == StateType.LEADER and (
                best is None or status.term > best.raw.status().term
            ):
                best = node
        return best

    def log(self, text: str) -> None:
        self.trace.append(f"[{self.steps}] {text}")
        if len(self.trace) > 200:
            del self.trace[:100]

    # -- the Ready loop: persist, send, apply, advance -----------------------------------

    def process_ready(self) -> None:
        progress = True
        while progress:
            progress = False
            for node in list(self.nodes.values()):
                if node.up and node.raw.has_ready():
                    self._handle_ready(node, node.raw.ready())
                    progress = True

    def _handle_ready(self, node: SimNode, rd: Ready) -> None:
        raw = node.raw
        if rd.snapshot is not None and rd.snapshot.metadata.index > 0:
            self._install_snapshot(node, rd.snapshot)
        if rd.entries:
            node.storage.append(rd.entries)
            self._check_log_matching(node, rd.entries)
        if rd.hard_state is not None:
            node.storage.set_hard_state(rd.hard_state)
        if rd.soft_state is not None and rd.soft_state.raft_state == StateType.LEADER:
            self._check_new_leader(node)
        for msg in rd.messages:
            if msg.to == node.id:
                raise SafetyViolation(f"node {node.id} addressed a message to itself: {msg}")
            self.network.append(msg)
        for read in rd.read_states:
            self._check_read(node, read.index, read.request_ctx)
        for entry in rd.committed_entries:
            self._apply(node, entry)
            if not node.up:
                return
        raw.advance(rd)
        self._check_single_leader(node)

    def _install_snapshot(self, node: SimNode, snapshot: Snapshot) -> None:
        node.storage.apply_snapshot(snapshot)
        index, image = cbor2.loads(snapshot.data)
        if index != snapshot.metadata.index:
            raise SafetyViolation(f"snapshot data at {index} labelled {snapshot.metadata.index}")
        node.state_machine = {i: AppliedEntry(t, EntryType(k), d) for i, t, k, d in image}
        for i, applied in node.state_machine.items():
            self._record_committed(node, i, applied)
        node.applied = index
        cs = snapshot.metadata.conf_state
        node.conf_state = ConfState(list(cs.voters), list(cs.learners))
        self.log(f"n{node.id} installed snapshot at {index}")

    def _apply(self, node: SimNode, entry: Entry) -> None:
        if entry.index != node.applied + 1:
            raise SafetyViolation(
                f"node {node.id} applied index {entry.index} after {node.applied}"
            )
        applied = AppliedEntry(entry.term, entry.type, entry.data)
        self._record_committed(node, entry.index, applied)
        node.state_machine[entry.index] = applied
        node.applied = entry.index
        if entry.type == EntryType.CONF_CHANGE:
            cc = ConfChange.decode(entry.data)
            node.conf_state = node.raw.apply_conf_change(cc)
            self.log(f"n{node.id} applied {cc.type.name} {cc.node_id} at {entry.index}")
            if cc.type == ConfChangeType.REMOVE_NODE and cc.node_id == node.id:
                node.removed = True
                node.raw = None
                self.log(f"n{node.id} removed itself and stopped")

    def _record_committed(self, node: SimNode, index: int, applied: AppliedEntry) -> None:
        known = self.committed.get(index)
        if known is None:
            self.committed[index] = applied
            self.max_committed = max(self.max_committed, index)
        elif known != applied:
            raise SafetyViolation(
                f"state machine safety: node {node.id} applied {applied} at {index}, "
                f"another node applied {known}"
            )

    # -- invariants ------------------------------------------------------------------------

    def _check_single_leader(self, node: SimNode) -> None:
        if node.raw is None:
            return
        status = node.raw.status()
        if status.raft_state != StateType.LEADER:
            return
        holder = self.leaders.setdefault(status.term, node.id)
        if holder != node.id:
            raise SafetyViolation(
                f"election safety: nodes {holder} and {node.id} both led term {status.term}"
            )

    def _check_log_matching(self, node: SimNode, entries: list[Entry]) -> None:
        for entry in entries:
            prev_term = self._term_at(node, entry.index - 1)
            ident = (entry.index, entry.term)
            seen = self.entry_ids.setdefault(ident, (entry.data, prev_term))
            if seen != (entry.data, prev_term):
                raise SafetyViolation(
                    f"log matching: entry {ident} on node {node.id} has data/prev term "
                    f"{(entry.data, prev_term)}, elsewhere {seen}"
                )

    def _term_at(self, node: SimNode, index: int) -> int | None:
        first = node.storage.first_index()
        if index < first - 1 or index > node.storage.last_index():
            return None
        return node.storage.term(index)

    def _check_new_leader(self, node: SimNode) -> None:
        snapshot_index = node.storage.snapshot().metadata.index
        for index, applied in self.committed.items():
            if index <= snapshot_index:
                continue
            term = self._term_at(node, index)
            if term != applied.term:
                raise SafetyViolation(
                    f"leader completeness: new leader {node.id} has term {term} at {index}, "
                    f"committed entry has term {applied.term}"
                )

    def _check_read(self, node: SimNode, index: int, ctx: bytes) -> None:
        floor = self.pending_reads.pop(ctx, None)
        if floor is not None and index < floor:
            raise SafetyViolation(
                f"read index: node {node.id} answered read {ctx!r} at {index}, "
                f"but {floor} was committed before it was issued"
            )

    # -- actions ---------------------------------------------------------------------------

    def deliver_one(self, reliable: bool = False) -> None:
        """Deliver one in-flight message: a random one (reordering) unless reliable."""
        msg = self.network.pop(0 if reliable else self.rng.randrange(len(self.network)))
        if not reliable and self.rng.random() < self.faults.duplicate:
            self.network.append(msg)
        target = self.nodes.get(msg.to)
        sender = self.nodes.get(msg.frm)
        lost = (
            target is None
            or not target.up
            or frozenset((msg.to, msg.frm)) in self.blocked
            or (not reliable and self.rng.random() < self.faults.drop)
        )
        if msg.type == MessageType.MSG_SNAP and sender is not None and sender.up:
            sender.raw.step(
                Message(type=MessageType.MSG_SNAP_STATUS, frm=msg.to, to=msg.frm, reject=lost)
            )
        if lost:
            if sender is not None and sender.up and self.rng.random() < 0.1:
                sender.raw.step(Message(type=MessageType.MSG_UNREACHABLE, frm=msg.to, to=msg.frm))
            return
        target.raw.step(msg)

    def tick(self, node: SimNode) -> None:
        node.raw.tick()

    def propose(self, node: SimNode) -> None:
        self.proposals += 1
        data = f"s{self.seed}-p{self.proposals}".encode()
        with contextlib.suppress(ProposalDropped):
            node.raw.propose(data)

    def read_index(self, node: SimNode) -> None:
        ctx = f"r{self.steps}".encode()
        self.pending_reads[ctx] = self.max_committed
        node.raw.read_index(ctx)

    def crash(self, node: SimNode) -> None:
        self.log(f"n{node.id} crashed (applied {node.applied})")
        node.raw = None
        node.storage = rebuild_storage(node.storage, node.initial)

    def restart(self, node: SimNode) -> None:
        self.log(f"n{node.id} restarted (applied {node.applied})")
        node.start()

    def partition(self) -> None:
        ids = sorted(self.nodes)
        self.rng.shuffle(ids)
        cut = self.rng.randrange(1, len(ids))
        side_a, side_b = ids[:cut], ids[cut:]
        self.blocked = {frozenset((a, b)) for a in side_a for b in side_b}
        self.log(f"partition {sorted(side_a)} / {sorted(side_b)}")

    def heal(self) -> None:
        self.blocked = set()
        self.log("heal")

    def snapshot(self, node: SimNode) -> None:
        """Snapshot the state machine at its applied index and compact the log behind it."""
        storage = node.storage
        if node.applied <= storage.snapshot().metadata.index:
            return
        image = [[i, a.term, int(a.type), a.data] for i, a in sorted(node.state_machine.items())]
        data = cbor2.dumps([node.applied, image])
        storage.create_snapshot(node.applied, node.conf_state, data)
        keep = self.rng.choice((0, 0, 2, 5))
        compact_to = node.applied - keep
        if compact_to > storage.first_index():
            storage.compact(compact_to)
        self.log(f"n{node.id} snapshot at {node.applied}, compacted to {compact_to}")

    def conf_change(self) -> None:
        leader = self.leader()
        if leader is None:
            return
        voters = list(leader.conf_state.voters)
        learners = list(leader.conf_state.learners)
        members = set(voters) | set(learners)
        free = [i for i in range(1, MAX_NODE_ID + 1) if i not in self.nodes]
        choices = []
        if free and len(members) < 6:
            choices += ["add_voter", "add_learner"]
        if learners:
            choices.append("promote")
        if len(voters) > 3:
            choices.append("remove_voter")
        if learners:
            choices.append("remove_learner")
        if not choices:
            return
        kind = self.rng.choice(choices)
        if kind == "add_voter":
            cc = ConfChange(ConfChangeType.ADD_NODE, free[0])
        elif kind == "add_learner":
            cc = ConfChange(ConfChangeType.ADD_LEARNER_NODE, free[0])
        elif kind == "promote":
            cc = ConfChange(ConfChangeType.ADD_NODE, self.rng.choice(learners))
        elif kind == "remove_voter":
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(voters))
        else:
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(learners))
        try:
            leader.raw.propose_conf_change(cc)
        except ProposalDropped:
            return
        self.log(f"proposed {cc.type.name} {cc.node_id} at n{leader.id}")
        if cc.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE) and (
            cc.node_id not in self.nodes
        ):
            self._add_node(cc.node_id, ConfState())

    def transfer(self) -> None:
        leader = self.leader()
        if leader is None:
            return
        others = [v for v in leader.conf_state.voters if v != leader.id]
        if others:
            target = self.rng.choice(others)
            self.log(f"transfer leadership n{leader.id} -> n{target}")
            leader.raw.transfer_leader(target)

    # -- phases ----------------------------------------------------------------------------

    def step(self) -> None:
        """One random action of the chaos phase, then the Ready loop."""
        self.steps += 1
        rng = self.rng
        roll = rng.random()
        live = self.live()
        if roll < self.faults.rate:
            self._fault()
        elif self.network and roll < 0.50:
            self.deliver_one()
        elif live and roll < 0.82:
            self.tick(rng.choice(live))
        elif live and roll < 0.95:
            self.propose(rng.choice(live))
        elif live:
            self.read_index(rng.choice(live))
        self.process_ready()

    def _fault(self) -> None:
        rng = self.rng
        kinds = list(self.faults.weights)
        kind = rng.choices(kinds, weights=[self.faults.weights[k] for k in kinds])[0]
        live = self.live()
        if kind == "crash":
            down = [n for n in self.nodes.values() if not n.up and not n.removed]
            if down and rng.random() < 0.6:
                self.restart(rng.choice(down))
            elif len(live) > 1:
                self.crash(rng.choice(live))
        elif kind == "partition":
            if self.blocked:
                self.heal()
            else:
                self.partition()
        elif kind == "conf_change":
            self.conf_change()
        elif kind == "transfer":
            self.transfer()
        elif live:
            self.snapshot(rng.choice(live))

    def settle(self) -> None:
        """Deliver every in-flight message in order, with the Ready loop between deliveries."""
        budget = 20_000
        while self.network and budget:
            budget -= 1
            self.deliver_one(reliable=True)
            self.process_ready()

    def heal_all(self) -> None:
        self.heal()
        for node in self.nodes.values():
            if not node.up and not node.removed:
                self.restart(node)
        self.process_ready()

    def wait_for_leader(self, max_ticks: int) -> SimNode:
        for _ in range(max_ticks):
            leader = self.leader()
            if leader is not None and self._leader_is_stable(leader):
                return leader
            for node in self.live():
                node.raw.tick()
            self.process_ready()
            self.settle()
        raise SafetyViolation(f"liveness: no stable leader after {max_ticks} ticks of healing")

    def _leader_is_stable(self, leader: SimNode) -> bool:
        term = leader.raw.status().term
        members = set(leader.conf_state.voters) | set(leader.conf_state.learners)
        return all(
            self.nodes[m].raw.status().term == term
            for m in members
            if m in self.nodes and self.nodes[m].up
        )

    def commit_on_all(self, max_ticks: int) -> None:
        """Propose one value through the leader until every live member applies it.

        A proposal may be lost without any fault left (a late TimeoutNow from an aborted
        transfer starts a new term, say), so it is proposed again under each new leader term
        and after every few election timeouts, as a client would retry.
        """
        data = f"s{self.seed}-final".encode()
        proposed_at: tuple[int, int] | None = None
        for tick in range(max_ticks):
            leader = self.leader()
            if leader is not None:
                at = (leader.raw.status().term, tick // (3 * ELECTION_TICK))
                if at != proposed_at:
                    with contextlib.suppress(ProposalDropped):
                        leader.raw.propose(data)
                        proposed_at = at
                    self.process_ready()
                    self.settle()
            if proposed_at is not None and self._final_applied_everywhere(data):
                return
            for node in self.live():
                node.raw.tick()
            self.process_ready()
            self.settle()
        raise SafetyViolation(f"liveness: a proposal was not applied on all members in "
                              f"{max_ticks} ticks after healing")

    def _final_applied_everywhere(self, data: bytes) -> bool:
        leader = self.leader()
        if leader is None:
            return False
        members = set(leader.conf_state.voters) | set(leader.conf_state.learners)
        for member in members:
            node = self.nodes.get(member)
            if node is None or not node.up:
                continue
            if not any(a.data == data for a in node.state_machine.values()):
                return False
        return True

    def run(self, steps: int) -> None:
        """The whole scenario: chaos for `steps` steps, then heal and demand liveness."""
        for _ in range(steps):
            self.step()
        self.heal_all()
        self.wait_for_leader(max_ticks=ELECTION_TICK * 40)
        self.commit_on_all(max_ticks=ELECTION_TICK * 40)

    def describe(self) -> str:
        lines = [f"seed {self.seed}, {self.steps} steps"]
        for node in self.nodes.values():
            state = "up" if node.up else ("removed" if node.removed else "down")
            extra = ""
            if node.up:
                s = node.raw.status()
                extra = f" {s.raft_state.name} term {s.term} commit {s.commit}"
            lines.append(f"  n{node.id} {state} applied {node.applied}{extra} "
                         f"conf {node.conf_state}")
        return "\n".join(lines + self.trace[-40:])
