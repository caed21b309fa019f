"""Raft consensus as a pure state machine: no I/O, no clock, no trio (see README.md)."""

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
    SnapshotMetadata,
    SoftState,
    StateType,
)

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
