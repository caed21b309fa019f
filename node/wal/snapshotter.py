"""Raft snapshots as files, modelled on etcd's snap package.

Each snapshot is `<term:016x>-<index:016x>.snap`, so names sort oldest to newest. A file holds
the cbor2 list `[crc, payload]`, where payload is the cbor2 of the snapshot and crc its CRC-32C.
A file that fails to load is renamed `.broken` and the one before it is used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import cbor2
from crc32c import crc32c

from node.raft.types import MalformedRecord, Snapshot
from node.wal.disk import fsync_dir, write_file_atomically
from node.wal.errors import SnapshotFileError
from node.wal.record import WalSnapshot

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snap"
BROKEN_SUFFIX = ".broken"
_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.snap$")


def snapshot_filename(term: int, index: int) -> str:
    return f"{term:016x}-{index:016x}{SNAPSHOT_SUFFIX}"


class Snapshotter:
    """Saves raft snapshots to one directory and loads the newest one that is intact."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)

    def save(self, snapshot: Snapshot) -> Path | None:
        """Write `snapshot` durably (temp file, fsync, rename, dir fsync); an empty one is
        skipped, as etcd does. Returns the file written."""
        if snapshot.is_empty():
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = cbor2.dumps(snapshot.to_wire())
        path = self.dir / snapshot_filename(snapshot.metadata.term, snapshot.metadata.index)
        write_file_atomically(path, cbor2.dumps([crc32c(payload), payload]))
        return path

    def has_snapshots(self) -> bool:
        """True when the directory holds at least one snapshot file (intact or not)."""
        return bool(self._paths())

    def load(self) -> Snapshot | None:
        """The newest intact snapshot, or None if there is none."""
        for path in reversed(self._paths()):
            snapshot = self._load_or_set_aside(path)
            if snapshot is not None:
                return snapshot
        return None

    def load_newest_available(self, markers: Iterable[WalSnapshot]) -> Snapshot | None:
        """The newest intact snapshot the WAL also has a marker for (etcd 3.5), or None."""
        wanted = {(marker.term, marker.index) for marker in markers}
        for path in reversed(self._paths()):
            if snapshot_term_index(path) in wanted:
                snapshot = self._load_or_set_aside(path)
                if snapshot is not None:
                    return snapshot
        return None

    def purge(self, keep: int = 5) -> list[Path]:
        """Remove all but the newest `keep` snapshot files, and temp files a crash left behind.

        Returns what was removed; must not run while `save` is writing.
        """
        if keep < 1:
            raise ValueError(f"purge must keep at least one snapshot, got keep={keep}")
        paths = self._paths()
        removed = paths[:-keep] + sorted(self.dir.glob(f"*{SNAPSHOT_SUFFIX}.tmp"))
        for path in removed:
            path.unlink()
        if removed:
            fsync_dir(self.dir)
        return removed

    def _paths(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(path for path in self.dir.iterdir() if _NAME.match(path.name))

    def _load_or_set_aside(self, path: Path) -> Snapshot | None:
        try:
            return read_snapshot_file(path)
        except SnapshotFileError as exc:
            broken = path.with_name(path.name + BROKEN_SUFFIX)
            log.warning("snap: %s; renaming it to %s", exc, broken)
            path.rename(broken)
            return None


def read_snapshot_file(path: Path) -> Snapshot:
    """The snapshot in `path`, or SnapshotFileError (with etcd's text) if it cannot be trusted."""
    data = path.read_bytes()
    if not data:
        raise SnapshotFileError(f"snap: empty snapshot: {path}")
    try:
        obj = cbor2.loads(data)
    except cbor2.CBORDecodeError as exc:
        raise SnapshotFileError(f"snap: unreadable snapshot file {path}: {exc}") from exc
    if not (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], bytes)):
        raise SnapshotFileError(f"snap: unreadable snapshot file {path}: not [crc, payload]")
    crc, payload = obj
    if crc32c(payload) != crc:
        raise SnapshotFileError(f"snap: crc mismatch: {path}")
    try:
        snapshot = Snapshot.from_wire(cbor2.loads(payload))
    except (cbor2.CBORDecodeError, MalformedRecord) as exc:
        raise SnapshotFileError(f"snap: unreadable snapshot in {path}: {exc}") from exc
    if snapshot_term_index(path) != (snapshot.metadata.term, snapshot.metadata.index):
        raise SnapshotFileError(
            f"snap: {path} holds the snapshot at term {snapshot.metadata.term} "
            f"index {snapshot.metadata.index}, not the one its name says"
        )
    return snapshot


def snapshot_term_index(path: Path) -> tuple[int, int] | None:
    """(term, index) a snapshot file's name says, or None if it is not a snapshot's name."""
    match = _NAME.match(path.name)
    return None if match is None else (int(match[1], 16), int(match[2], 16))
