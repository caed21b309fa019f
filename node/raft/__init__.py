"""Raft consensus as a pure state machine: no I/O, no clock, no trio (see README.md)."""

from node.raft.config import Config
from node.raft.progress import ProgressState
from node.raft.rawnode import PeerProgress, RawNode, Ready, Status
from node.raft.storage import (
    CompactedError,
    MemoryStorage,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailable,
    Storage,
    StorageError,
    UnavailableError,
)
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
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
    "MalformedRecord",
    "MemoryStorage",
    "Message",
    "MessageType",
    "PeerProgress",
    "ProgressState",
    "ProposalDropped",
    "RawNode",
    "ReadState",
    "Ready",
    "Snapshot",
    "SnapshotMetadata",
    "SnapshotOutOfDateError",
    "SnapshotTemporarilyUnavailable",
    "SoftState",
    "StateType",
    "Status",
    "Storage",
    "StorageError",
    "UnavailableError",
]
