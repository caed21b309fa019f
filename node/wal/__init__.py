"""The write-ahead log and the snapshot files of a member (etcd's wal and snap packages)."""

from node.wal.errors import (
    EntryGapError,
    MetadataConflictError,
    SnapshotFileError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalCorruptError,
    WalError,
    WalExistsError,
    WalLockedError,
    WalNotFoundError,
    WalWriteError,
)
from node.wal.record import WalSnapshot
from node.wal.snapshotter import Snapshotter
from node.wal.wal import SEGMENT_SIZE, WAL, valid_snapshot_markers

__all__ = [
    "SEGMENT_SIZE",
    "WAL",
    "EntryGapError",
    "MetadataConflictError",
    "SnapshotFileError",
    "SnapshotMismatchError",
    "SnapshotNotFoundError",
    "Snapshotter",
    "WalCorruptError",
    "WalError",
    "WalExistsError",
    "WalLockedError",
    "WalNotFoundError",
    "WalSnapshot",
    "WalWriteError",
    "valid_snapshot_markers",
]
