"""The WAL's and the snapshotter's failures, all under one `WalError`, worded as etcd words them."""

from __future__ import annotations

from pathlib import Path


class WalError(Exception):
    """Anything that goes wrong reading or writing the write-ahead log or snapshot files."""


class WalExistsError(WalError):
    """`WAL.create` found a directory that already holds a WAL (or other files)."""


class WalLockedError(WalError):
    """Another opener (this process or another) holds the WAL directory's lock."""


class WalNotFoundError(WalError):
    """No segment files, or none that covers the requested snapshot index, or a gap in them."""


class WalCorruptError(WalError):
    """Damaged bytes that cannot be a torn tail: names the segment file and the byte offset."""

    def __init__(self, reason: str, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        super().__init__(f"{reason}: {path} at byte offset {offset}")


class WalWriteError(WalError):
    """A write, fsync or new segment failed (a full or failing disk). What reached the disk is
    unknown, so the WAL takes no more records; reopening it cuts off any half-written record."""


class SnapshotNotFoundError(WalError):
    """The snapshot marker `WAL.open` was given is not in the segments read."""


class SnapshotMismatchError(WalError):
    """The WAL has a marker at the requested index, but for a different term."""


class MetadataConflictError(WalError):
    """Two segments carry different metadata (member id / cluster id)."""


class EntryGapError(WalError):
    """An entry's index skips past the entries read so far: opened at the wrong marker."""


class SnapshotFileError(WalError):
    """A snapshot file that cannot be trusted (bad CRC, undecodable, misnamed)."""
