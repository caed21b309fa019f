"""Raft's records: entries, messages, states, snapshots and conf changes.

These are the whole vocabulary shared by the raft state machine, the WAL, the transport and
the server. Numbering follows etcd's raftpb so logs and traces read the same as etcd's.
Every record round-trips through cbor2 as a compact list: `to_wire()` gives plain values,
`from_wire()` rebuilds the record and raises `MalformedRecord` for anything it cannot trust.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import cbor2

__all__ = [
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Entry",
    "EntryType",
    "HardState",
    "MalformedRecord",
    "Message",
    "MessageType",
    "ProposalDropped",
    "ReadState",
    "Snapshot",
    "SnapshotMetadata",
    "SoftState",
    "StateType",
]


class ProposalDropped(Exception):
    """A proposal raft cannot accept now (no leader, leadership transfer, pending conf change)."""


class MalformedRecord(ValueError):
    """Bytes or values off the wire (or disk) that do not form a valid raft record."""


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class StateType(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class MessageType(IntEnum):
    MSG_HUP = 0
    MSG_BEAT = 1
    MSG_PROP = 2
    MSG_APP = 3
    MSG_APP_RESP = 4
    MSG_VOTE = 5
    MSG_VOTE_RESP = 6
    MSG_SNAP = 7
    MSG_HEARTBEAT = 8
    MSG_HEARTBEAT_RESP = 9
    MSG_UNREACHABLE = 10
    MSG_SNAP_STATUS = 11
    MSG_CHECK_QUORUM = 12
    MSG_TRANSFER_LEADER = 13
    MSG_TIMEOUT_NOW = 14
    MSG_READ_INDEX = 15
    MSG_READ_INDEX_RESP = 16
    MSG_PRE_VOTE = 17
    MSG_PRE_VOTE_RESP = 18


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    UPDATE_NODE = 2
    ADD_LEARNER_NODE = 3


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise MalformedRecord(f"expected a non-negative integer, got {value!r}")
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise MalformedRecord(f"expected bytes, got {type(value).__name__}")
    return value


def _list(value: Any, length: int | None = None) -> list:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise MalformedRecord(f"expected a list of {length} fields, got {value!r:.80}")
    return value


@functools.cache
def _members(kind: type[IntEnum]) -> dict[int, IntEnum]:
    """kind's members by value: a lookup here costs a tenth of calling kind(value), which
    was most of decoding an entry (a restart decodes every entry its WAL replays)."""
    return {member.value: member for member in kind}


def _enum(kind: type[IntEnum], value: Any) -> Any:
    member = _members(kind).get(value) if type(value) is int else None
    if member is None:
        raise MalformedRecord(f"unknown {kind.__name__} {value!r}")
    return member


@dataclass(slots=True)
class Entry:
    """One raft log entry; `data` is opaque to raft (a ConfChange for CONF_CHANGE entries)."""

    term: int = 0
    index: int = 0
    type: EntryType = EntryType.NORMAL
    data: bytes = b""

    def to_wire(self) -> list:
        return [self.term, self.index, int(self.type), self.data]

    @classmethod
    def from_wire(cls, obj: Any) -> Entry:
        term, index, etype, data = _list(obj, 4)
        return cls(_int(term), _int(index), _enum(EntryType, etype), _bytes(data))

    def size(self) -> int:
        """Approximate encoded size, used to cap message batches at max_size_per_msg."""
        return len(self.data) + 16


@dataclass(slots=True)
class HardState:
    """What raft must persist before it acts: current term, vote in it, commit index."""

    term: int = 0
    vote: int = 0
    commit: int = 0

    def to_wire(self) -> list:
        return [self.term, self.vote, self.commit]

    @classmethod
    def from_wire(cls, obj: Any) -> HardState:
        term, vote, commit = _list(obj, 3)
        return cls(_int(term), _int(vote), _int(commit))

    def is_empty(self) -> bool:
        return self.term == 0 and self.vote == 0 and self.commit == 0


@dataclass(slots=True)
class SoftState:
    """Volatile state worth reporting (never persisted): the known leader and our role."""

    lead: int = 0
    raft_state: StateType = StateType.FOLLOWER


@dataclass(slots=True)
class ConfState:
    """The membership a snapshot or the current configuration describes."""

    voters: list[int] = field(default_factory=list)
    learners: list[int] = field(default_factory=list)

    def to_wire(self) -> list:
        return [list(self.voters), list(self.learners)]

    @classmethod
    def from_wire(cls, obj: Any) -> ConfState:
        voters, learners = _list(obj, 2)
        return cls([_int(v) for v in _list(voters)], [_int(v) for v in _list(learners)])


@dataclass(slots=True)
class SnapshotMetadata:
    conf_state: ConfState = field(default_factory=ConfState)
    index: int = 0
    term: int = 0

    def to_wire(self) -> list:
        return [self.conf_state.to_wire(), self.index, self.term]

    @classmethod
    def from_wire(cls, obj: Any) -> SnapshotMetadata:
        conf_state, index, term = _list(obj, 3)
        return cls(ConfState.from_wire(conf_state), _int(index), _int(term))


@dataclass(slots=True)
class Snapshot:
    """The state machine's image at `metadata.index`; `data` is opaque to raft."""

    data: bytes = b""
    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)

    def to_wire(self) -> list:
        return [self.data, self.metadata.to_wire()]

    @classmethod
    def from_wire(cls, obj: Any) -> Snapshot:
        data, metadata = _list(obj, 2)
        return cls(_bytes(data), SnapshotMetadata.from_wire(metadata))

    def is_empty(self) -> bool:
        return self.metadata.index == 0


@dataclass(slots=True)
class ConfChange:
    """A single membership change, carried as the data of a CONF_CHANGE entry."""

    type: ConfChangeType = ConfChangeType.ADD_NODE
    node_id: int = 0
    context: bytes = b""

    def encode(self) -> bytes:
        return cbor2.dumps([int(self.type), self.node_id, self.context])

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        try:
            obj = cbor2.loads(data)
        except Exception as exc:
            raise MalformedRecord(f"conf change is not valid cbor: {exc}") from exc
        ctype, node_id, context = _list(obj, 3)
        return cls(_enum(ConfChangeType, ctype), _int(node_id), _bytes(context))


@dataclass(slots=True)
class ReadState:
    """A linearizable read may be served once the state machine has applied `index`."""

    index: int = 0
    request_ctx: bytes = b""


@dataclass(slots=True)
class Message:
    """A raft message between members (or a local one such as MSG_HUP and MSG_PROP)."""

    type: MessageType = MessageType.MSG_HUP
    to: int = 0
    frm: int = 0
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""

    def to_wire(self) -> list:
        return [
            int(self.type),
            self.to,
            self.frm,
            self.term,
            self.log_term,
            self.index,
            [e.to_wire() for e in self.entries],
            self.commit,
            self.reject,
            self.reject_hint,
            None if self.snapshot is None else self.snapshot.to_wire(),
            self.context,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> Message:
        (mtype, to, frm, term, log_term, index, entries, commit, reject, reject_hint, snapshot,
         context) = _list(obj, 12)
        if not isinstance(reject, bool):
            raise MalformedRecord(f"reject must be a bool, got {reject!r}")
        return cls(
            type=_enum(MessageType, mtype),
            to=_int(to),
            frm=_int(frm),
            term=_int(term),
            log_term=_int(log_term),
            index=_int(index),
            entries=[Entry.from_wire(e) for e in _list(entries)],
            commit=_int(commit),
            reject=reject,
            reject_hint=_int(reject_hint),
            snapshot=None if snapshot is None else Snapshot.from_wire(snapshot),
            context=_bytes(context),
        )

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> Message:
        try:
            obj = cbor2.loads(data)
        except Exception as exc:
            raise MalformedRecord(f"message is not valid cbor: {exc}") from exc
        return cls.from_wire(obj)
