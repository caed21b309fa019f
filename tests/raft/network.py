"""A tiny in-memory cluster for raft scenario tests: RawNodes, a message queue, partitions.

Each node runs the Ready loop the way a server does: persist the snapshot, entries and hard
state to its MemoryStorage, queue its messages, apply committed entries (conf changes through
apply_conf_change) and advance. `deliver()` runs until no node has anything left to do.
An initial member starts by handling its bootstrap Ready: the initial membership as committed
conf change entries 1..boot of term 1, so a scenario's own entries start at `boot + 1`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from node.raft import (
    ConfChange,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    ReadState,
    Ready,
    StateType,
)

# The term of the bootstrap entries: the first election is for BOOT_TERM + 1.
BOOT_TERM = 1


def bootstrapped(node_id: int, conf_state: ConfState, **config: object) -> RawNode:
    """A fresh initial member whose bootstrap Readys were persisted, applied and advanced."""
    storage = MemoryStorage(conf_state=conf_state)
    node = RawNode(Config(id=node_id, storage=storage, **config))
    for _ in range(len(conf_state.voters) + len(conf_state.learners)):
        if not node.has_ready():
            break
        rd = node.ready()
        storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        for entry in rd.committed_entries:
            node.apply_conf_change(ConfChange.decode(entry.data))
        node.advance(rd)
    assert not node.has_ready(), "the bootstrap left work undone"
    return node


@dataclass(slots=True)
class Member:
    """One node's durable parts (storage, state machine) and its running RawNode."""

    id: int
    storage: MemoryStorage
    node: RawNode
    applied: list[bytes] = field(default_factory=list)
    applied_index: int = 0
    conf_state: ConfState = field(default_factory=ConfState)
    read_states: list[ReadState] = field(default_factory=list)


class Network:
    """Nodes by id, a FIFO of in-flight messages, and the faults tests inject."""

    def __init__(
        self,
        voters: Iterable[int] = (1, 2, 3),
        learners: Iterable[int] = (),
        **config: object,
    ) -> None:
        self.initial = ConfState(voters=list(voters), learners=list(learners))
        # Every initial member's log starts with one bootstrap entry per initial member.
        self.boot = len(self.initial.voters) + len(self.initial.learners)
        self.config = {"election_tick": 10, "heartbeat_tick": 1} | config
        self.members: dict[int, Member] = {}
        self.queue: deque[Message] = deque()
        self.cut: set[frozenset[int]] = set()
        self.drop: Callable[[Message], bool] | None = None
        self.sent: list[Message] = []
        # Sees every Ready as a member takes it, before it is handled (the transcripts print it).
        self.on_ready: Callable[[int, Ready], None] | None = None
        for node_id in [*self.initial.voters, *self.initial.learners]:
            self.add(node_id, self.initial)

    def add(self, node_id: int, conf_state: ConfState | None = None, **config: object) -> Member:
        """Start a node and handle its first Ready (an initial member's bootstrap).

        With no conf_state the node joins with an empty membership and learns it from the log
        or a snapshot.
        """
        cs = conf_state or ConfState()
        storage = MemoryStorage(conf_state=ConfState(list(cs.voters), list(cs.learners)))
        member = Member(node_id, storage, self._start(node_id, storage, 0, config))
        self.members[node_id] = member
        self.process_all([node_id])
        return member

    def _start(
        self, node_id: int, storage: MemoryStorage, applied: int, config: dict
    ) -> RawNode:
        settings = self.config | config
        return RawNode(Config(id=node_id, storage=storage, applied=applied, seed=node_id,
                              **settings))

    def load(self, node_id: int, terms: list[int], term: int, commit: int = 0) -> None:
        """Restart a node at `term` over its bootstrap entries and then entries of these terms.

        `commit` counts entries after the bootstrap, which stays committed and applied.
        """
        member = self.members[node_id]
        storage = MemoryStorage(conf_state=self._initial_conf_of(member.storage))
        storage.append(member.storage.entries(1, self.boot + 1))
        storage.append([Entry(t, i) for i, t in enumerate(terms, start=self.boot + 1)])
        storage.set_hard_state(HardState(term=term, commit=self.boot + commit))
        member.storage = storage
        member.applied, member.applied_index = [], self.boot
        member.node = self._start(node_id, storage, self.boot, {})

    def node(self, node_id: int) -> RawNode:
        """The running RawNode of a member."""
        return self.members[node_id].node

    # -- the Ready loop ------------------------------------------------------------------

    def process(self, node_id: int) -> bool:
        """Run one Ready of a node if it has one; True if it did."""
        member = self.members[node_id]
        node = member.node
        if not node.has_ready():
            return False
        rd = node.ready()
        if self.on_ready is not None:
            self.on_ready(node_id, rd)
        if rd.snapshot is not None:
            member.storage.apply_snapshot(rd.snapshot)
            member.applied = [d for d in rd.snapshot.data.split(b"\n") if d]
            member.applied_index = rd.snapshot.metadata.index
            member.conf_state = rd.snapshot.metadata.conf_state
        member.storage.append(rd.entries)
        if rd.hard_state is not None:
            member.storage.set_hard_state(rd.hard_state)
        for msg in rd.messages:
            assert msg.to != node_id, f"node {node_id} addressed a message to itself"
            self.queue.append(msg)
            self.sent.append(msg)
        member.read_states.extend(rd.read_states)
        for entry in rd.committed_entries:
            self._apply(member, entry)
        node.advance(rd)
        return True

    def _apply(self, member: Member, entry: Entry) -> None:
        member.applied_index = entry.index
        if entry.type == EntryType.CONF_CHANGE:
            member.conf_state = member.node.apply_conf_change(ConfChange.decode(entry.data))
        elif entry.data:
            member.applied.append(entry.data)

    def process_all(self, node_ids: Iterable[int] | None = None, max_rounds: int = 10_000) -> None:
        """Run Readys of the given nodes (all by default) until none of them has one."""
        ids = list(self.members) if node_ids is None else list(node_ids)
        for _ in range(max_rounds):
            busy = [self.process(node_id) for node_id in ids]
            if not any(busy):
                return
        raise AssertionError("the nodes never ran out of Readys")

    def deliver(self, max_messages: int = 100_000) -> None:
        """Deliver queued messages in order, with Ready loops, until the cluster is quiet."""
        self.process_all()
        while self.queue:
            max_messages -= 1
            assert max_messages > 0, "the cluster never went quiet"
            msg = self.queue.popleft()
            if self._lost(msg):
                continue
            self.members[msg.to].node.step(msg)
            self.process_all()

    def deliver_to(self, node_id: int, drop: bool = False) -> list[tuple[Message, bool]]:
        """Step every queued message addressed to one node, in order, with no Ready loop.

        Returns each message with whether it was lost (to a cut link, the drop filter, or all
        of them with `drop`).
        """
        mine = [m for m in self.queue if m.to == node_id]
        self.queue = deque(m for m in self.queue if m.to != node_id)
        delivered = []
        for msg in mine:
            lost = drop or self._lost(msg)
            if not lost:
                self.members[node_id].node.step(msg)
            delivered.append((msg, lost))
        return delivered

    def _lost(self, msg: Message) -> bool:
        return (
            msg.to not in self.members
            or frozenset((msg.frm, msg.to)) in self.cut
            or (self.drop is not None and self.drop(msg))
        )

    # -- driving -------------------------------------------------------------------------

    def tick(self, node_ids: Iterable[int] | None = None, times: int = 1) -> None:
        """Tick the given nodes (all by default) `times` times, delivering after each tick."""
        ids = list(self.members) if node_ids is None else list(node_ids)
        for _ in range(times):
            for node_id in ids:
                self.members[node_id].node.tick()
            self.deliver()

    def elect(self, node_id: int) -> None:
        """Make node_id campaign now and let the election run to its end."""
        self.node(node_id).campaign()
        self.deliver()
        assert self.state(node_id) == StateType.LEADER, f"node {node_id} did not win"

    def propose(self, node_id: int, data: bytes) -> None:
        """Propose data at a node and deliver until quiet."""
        self.node(node_id).propose(data)
        self.deliver()

    def compact(self, node_id: int) -> int:
        """Snapshot a node's state machine at its applied index and compact its log there."""
        member = self.members[node_id]
        index = member.applied_index
        member.storage.create_snapshot(index, member.conf_state, b"\n".join(member.applied))
        member.storage.compact(index)
        return index

    def isolate(self, node_id: int) -> None:
        """Cut every link of one node."""
        for other in self.members:
            if other != node_id:
                self.cut.add(frozenset((node_id, other)))

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between different groups."""
        sets = [set(g) for g in groups]
        for i, a in enumerate(sets):
            for b in sets[i + 1 :]:
                self.cut |= {frozenset((x, y)) for x in a for y in b}

    def heal(self) -> None:
        """Restore every link and stop dropping messages."""
        self.cut = set()
        self.drop = None

    def restart(self, node_id: int, **config: object) -> RawNode:
        """Crash a node and restart it over what its Readys persisted and what it applied.

        The rebuilt storage keeps the membership the node was configured with (none for a
        joiner), as a restarted server still has its initial cluster configuration.
        """
        member = self.members[node_id]
        old = member.storage
        fresh = MemoryStorage(conf_state=self._initial_conf_of(old))
        snapshot = old.snapshot()
        if snapshot.metadata.index > 0:
            fresh.apply_snapshot(snapshot)
        if old.last_index() >= old.first_index():
            fresh.append(old.entries(old.first_index(), old.last_index() + 1))
        hard_state, _ = old.initial_state()
        fresh.set_hard_state(HardState(hard_state.term, hard_state.vote, hard_state.commit))
        member.storage = fresh
        member.node = self._start(node_id, fresh, member.applied_index, config)
        return member.node

    def _initial_conf_of(self, storage: MemoryStorage) -> ConfState:
        _, cs = storage.initial_state()
        return ConfState(list(cs.voters), list(cs.learners))

    # -- observing -----------------------------------------------------------------------

    def state(self, node_id: int) -> StateType:
        """A node's role."""
        return self.node(node_id).status().raft_state

    def term(self, node_id: int) -> int:
        """A node's current term."""
        return self.node(node_id).status().term

    def commit(self, node_id: int) -> int:
        """A node's commit index."""
        return self.node(node_id).status().commit

    def leader(self) -> int | None:
        """The leader of the highest term, if any node leads."""
        leaders = [i for i in self.members if self.state(i) == StateType.LEADER]
        return max(leaders, key=self.term) if leaders else None

    def log_terms(self, node_id: int) -> list[int]:
        """The terms of the node's persisted entries after the bootstrap (index boot + 1 first)."""
        storage = self.members[node_id].storage
        first, last = max(storage.first_index(), self.boot + 1), storage.last_index()
        return [storage.term(i) for i in range(first, last + 1)]

    def applied(self, node_id: int) -> list[bytes]:
        """The data a node's state machine applied, in order."""
        return self.members[node_id].applied

    def sent_of(self, kind: MessageType) -> list[Message]:
        """Every message of one type sent since the last clear."""
        return [m for m in self.sent if m.type == kind]
