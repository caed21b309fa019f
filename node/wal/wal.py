"""The write-ahead log: raft's hard state, entries and snapshot markers, durable before acted on.

Modelled on etcd's `wal` package. A WAL directory holds segment files
`<seq:016x>-<index:016x>.wal`, each preallocated to the segment size and opening with a crc
record (the chain so far) and the metadata. A WAL is created ready for appending; an opened
one is ready for reading, and appends only after `read_all` has replayed it to its end.

A write, fsync or segment cut that fails (a full or failing disk) leaves the WAL refusing
every later record with WalWriteError: after a failed fsync nothing says which pages reached
the disk, so the member must stop (etcd's raft loop calls lg.Fatal) and replay on restart,
where a half-written last record is a torn tail that is cut off. Every OS write goes through
`node.wal.disk`, the seam a test fails on purpose.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from node.raft.types import Entry, HardState
from node.wal import disk
from node.wal.errors import (
    EntryGapError,
    MetadataConflictError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalError,
    WalExistsError,
    WalNotFoundError,
    WalWriteError,
)
from node.wal.lock import DirectoryLock
from node.wal.reader import scan_wal
from node.wal.record import RecordKind, WalSnapshot, encode_record
from node.wal.segment import (
    SEGMENT_SUFFIX,
    SegmentName,
    list_segments,
    read_segment,
    select_segments,
)

log = logging.getLogger(__name__)

SEGMENT_SIZE = 64 * 1024 * 1024
_TEMP_SUFFIX = ".tmp"


@dataclass(slots=True)
class _Tail:
    """The segment being appended to: its name, open descriptor and write offset."""

    name: SegmentName
    fd: int
    offset: int


class WAL:
    """A member's write-ahead log in one directory, locked against other openers."""

    def __init__(self, directory: Path, lock: DirectoryLock, segment_size: int) -> None:
        """Use `WAL.create` or `WAL.open`: they lock the directory and fill the WAL in."""
        if segment_size <= 0:
            raise ValueError(f"segment size must be positive, got {segment_size}")
        self.dir = directory
        self.segment_size = segment_size
        self._lock: DirectoryLock | None = lock
        self._start: WalSnapshot | None = None
        self._to_read: list[SegmentName] = []
        self._tail: _Tail | None = None
        self._chain = 0
        self._synced = True
        self._metadata = b""
        self._state = HardState()
        self._last_index = 0
        self._latest_marker = 0
        self._failure: WalWriteError | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls, directory: Path | str, metadata: bytes, segment_size: int = SEGMENT_SIZE
    ) -> WAL:
        """A new WAL holding `metadata` and the initial snapshot marker, ready for appending.

        It is built in `<dir>.tmp` and renamed into place, so a crash leaves no half WAL.
        """
        directory = Path(directory)
        if directory.exists() and any(directory.iterdir()):
            raise WalExistsError(f"wal: file already exists: {directory} is not empty")
        tmp = directory.with_name(directory.name + _TEMP_SUFFIX)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        wal = cls(directory, DirectoryLock.acquire(tmp), segment_size)
        try:
            name = SegmentName(0, 0)
            wal._tail = _Tail(name, _new_segment_file(tmp / name.filename, segment_size), 0)
            wal._metadata = bytes(metadata)
            wal._append(
                [
                    (RecordKind.CRC, 0),
                    (RecordKind.METADATA, wal._metadata),
                    (RecordKind.SNAPSHOT, WalSnapshot()),
                ],
                sync=True,
            )
            disk.fsync_dir(tmp)
            os.rename(tmp, directory)
            disk.fsync_dir(directory.parent)
        except BaseException:
            wal.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return wal

    @classmethod
    def open(
        cls,
        directory: Path | str,
        marker: WalSnapshot | None = None,
        segment_size: int = SEGMENT_SIZE,
    ) -> WAL:
        """Lock an existing WAL to replay it from snapshot `marker` (default: the beginning).

        Only the segments from the one covering the marker's index on are read.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise WalNotFoundError(f"wal: file not found: {directory} does not exist")
        marker = WalSnapshot() if marker is None else marker
        lock = DirectoryLock.acquire(directory)
        try:
            for stale in directory.glob(f"*{SEGMENT_SUFFIX}{_TEMP_SUFFIX}"):
                stale.unlink()
            selected = select_segments(directory, list_segments(directory), marker.index)
        except BaseException:
            lock.release()
            raise
        wal = cls(directory, lock, segment_size)
        wal._start = marker
        wal._to_read = selected
        return wal

    @staticmethod
    def exists(directory: Path | str) -> bool:
        """Whether `directory` holds any WAL segment."""
        directory = Path(directory)
        return directory.is_dir() and bool(list_segments(directory))

    def close(self) -> None:
        """Flush what is unsynced, close the tail segment and release the directory lock.

        After a failed write nothing is flushed: a second fsync may report success for pages
        the first one lost."""
        if self._tail is not None:
            if not self._synced and self._failure is None:
                disk.fdatasync(self._tail.fd)
            os.close(self._tail.fd)
            self._tail = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> WAL:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def read_all(self) -> tuple[bytes, HardState, list[Entry]]:
        """Replay the WAL: (metadata, last hard state, entries after the opening marker).

        A later entry at index i replaces the ones from i on (raft truncation). A torn tail of
        the last segment is cut off; afterwards the WAL appends at its end.
        """
        if self._start is None or not self._to_read:
            raise WalError("wal: read_all is only possible once, right after WAL.open")
        start = self._start
        metadata: bytes | None = None
        state = HardState()
        entries: list[Entry] = []
        matched = False
        chain: int | None = None
        for position, name in enumerate(self._to_read):
            last = position == len(self._to_read) - 1
            contents = read_segment(self.dir / name.filename, chain, last, start.index + 1)
            chain = contents.chain
            for record in contents.records:
                if record.kind is RecordKind.ENTRY:
                    entry = record.value
                    if entry is None:
                        # Covered by the snapshot, so dropped undecoded. All of them come
                        # before its marker (raft appends nothing at or below its commit
                        # index), and the marker moves the log's end past them.
                        continue
                    if entry.index > start.index:
                        offset = entry.index - start.index - 1
                        if offset > len(entries):
                            raise EntryGapError(
                                f"wal: slice bounds out of range: entry {entry.index} follows "
                                f"entry {start.index + len(entries)} (replay from snapshot "
                                f"index {start.index})"
                            )
                        del entries[offset:]
                        entries.append(entry)
                    self._last_index = entry.index
                elif record.kind is RecordKind.HARD_STATE:
                    state = record.value
                elif record.kind is RecordKind.METADATA:
                    if metadata is not None and record.value != metadata:
                        raise MetadataConflictError(
                            f"wal: conflicting metadata found in {self.dir / name.filename}"
                        )
                    metadata = record.value
                elif record.kind is RecordKind.SNAPSHOT:
                    self._see_marker(record.value)
                    if record.value.index == start.index:
                        if record.value.term != start.term:
                            raise SnapshotMismatchError(
                                f"wal: snapshot mismatch: the WAL has index {start.index} at "
                                f"term {record.value.term}, not {start.term}"
                            )
                        matched = True
        if not matched:
            raise SnapshotNotFoundError(
                f"wal: snapshot not found: no marker for index {start.index} "
                f"term {start.term} in {self.dir}"
            )
        assert metadata is not None and chain is not None  # every segment opens with both
        self._open_tail(self._to_read[-1], contents.end, contents.torn)
        self._chain = chain
        self._metadata = metadata
        self._state = state
        self._start = None
        self._to_read = []
        return metadata, dataclasses.replace(state), entries

    def _see_marker(self, marker: WalSnapshot) -> None:
        # A snapshot past the last entry moves the log's end: the next segment is named after it.
        self._last_index = max(self._last_index, marker.index)
        self._latest_marker = max(self._latest_marker, marker.index)

    def _open_tail(self, name: SegmentName, end: int, torn: bool) -> None:
        path = self.dir / name.filename
        fd = os.open(path, os.O_RDWR)
        if torn:
            log.warning("wal: repairing torn tail of %s: cutting it at byte offset %d", path, end)
            os.ftruncate(fd, end)
            disk.preallocate(fd, max(self.segment_size, end))
            os.fsync(fd)
        else:
            # Records flagged synced from now on vouch for everything before them.
            disk.fdatasync(fd)
        self._tail = _Tail(name, fd, end)
        self._synced = True

    # -- appending -------------------------------------------------------------------------

    def save(self, hard_state: HardState, entries: Sequence[Entry] = ()) -> None:
        """Append `entries` and `hard_state` with one write and at most one fsync (group commit).

        As etcd (raft.MustSync), a change of commit index alone is written but not fsynced,
        and an unchanged (or empty) hard state with no entries writes nothing at all.
        """
        self._appending()
        state_changed = not hard_state.is_empty() and hard_state != self._state
        if not entries and not state_changed:
            return
        must_sync = bool(entries) or (
            hard_state.term != self._state.term or hard_state.vote != self._state.vote
        )
        records: list[tuple[RecordKind, Any]] = [(RecordKind.ENTRY, e) for e in entries]
        if state_changed:
            records.append((RecordKind.HARD_STATE, hard_state))
        self._append(records, sync=must_sync)
        if entries:
            self._last_index = entries[-1].index
        if state_changed:
            self._state = dataclasses.replace(hard_state)
        self._cut_if_full()

    def save_snapshot(self, marker: WalSnapshot) -> None:
        """Record (and fsync) that the snapshot at marker's (index, term) is saved to disk."""
        self._appending()
        self._append([(RecordKind.SNAPSHOT, marker)], sync=True)
        self._see_marker(marker)
        self._cut_if_full()

    def release_before(self, index: int) -> list[Path]:
        """Remove the segments that replay from snapshot `index` no longer needs (etcd's
        ReleaseLockTo plus purge): all before the one covering `index`. Returns them."""
        self._appending()
        if index > self._latest_marker:
            raise WalError(
                f"wal: cannot release segments up to index {index}: the latest snapshot "
                f"marker is at index {self._latest_marker}"
            )
        names = list_segments(self.dir)
        keep = [i for i, name in enumerate(names) if name.index <= index]
        removed = [self.dir / name.filename for name in names[: keep[-1] if keep else 0]]
        for path in removed:
            path.unlink()
        if removed:
            disk.fsync_dir(self.dir)
        return removed

    def _appending(self) -> _Tail:
        if self._failure is not None:
            raise WalWriteError(
                f"wal: {self.dir} takes no more records since a write failed ({self._failure}); "
                "reopen it to replay what reached the disk"
            )
        if self._tail is None:
            if self._lock is None:
                raise WalError(f"wal: {self.dir} is closed")
            raise WalError("wal: read_all must replay the WAL before it can append")
        return self._tail

    def _append(self, records: list[tuple[RecordKind, Any]], sync: bool) -> None:
        tail = self._appending()
        chunks = []
        chain = self._chain
        synced = self._synced
        for kind, value in records:
            frame, chain = encode_record(kind, value, chain, synced)
            chunks.append(frame)
            synced = False
        data = b"".join(chunks)
        path = self.dir / tail.name.filename
        with self._failing_for_good("write", path):
            disk.write_at(tail.fd, data, tail.offset)
        tail.offset += len(data)
        self._chain = chain
        if sync:
            with self._failing_for_good("fsync", path):
                disk.fdatasync(tail.fd)
        self._synced = sync

    @contextmanager
    def _failing_for_good(self, action: str, path: Path) -> Iterator[None]:
        """Turn an OSError inside into WalWriteError and refuse every later record."""
        try:
            yield
        except OSError as exc:
            reason = exc.strerror.lower() if exc.strerror else str(exc)
            self._failure = WalWriteError(f"wal: cannot {action} {path}: {reason}")
            raise self._failure from exc

    def _cut_if_full(self) -> None:
        """Start the next segment once the tail reaches the segment size, as etcd's cut."""
        old = self._appending()
        if old.offset < self.segment_size:
            return
        name = SegmentName(old.name.seq + 1, self._last_index + 1)
        path = self.dir / name.filename
        tmp = path.with_name(path.name + _TEMP_SUFFIX)
        with self._failing_for_good("create segment", tmp):
            fd = _new_segment_file(tmp, self.segment_size)
            try:
                os.ftruncate(old.fd, old.offset)
                disk.fdatasync(old.fd)
            except BaseException:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
        os.close(old.fd)
        self._tail = _Tail(name, fd, 0)
        self._synced = True
        head: list[tuple[RecordKind, Any]] = [
            (RecordKind.CRC, self._chain),
            (RecordKind.METADATA, self._metadata),
        ]
        if not self._state.is_empty():
            head.append((RecordKind.HARD_STATE, self._state))
        self._append(head, sync=True)
        with self._failing_for_good("create segment", path):
            os.rename(tmp, path)
            disk.fsync_dir(self.dir)
        log.info("wal: created segment %s", path)


def valid_snapshot_markers(directory: Path | str) -> list[WalSnapshot]:
    """The snapshot markers in the WAL at or below its last committed index (etcd 3.5's
    ValidSnapshotEntries), read without locking or repairing: for `Snapshotter.
    load_newest_available`, before the WAL is opened."""
    markers: list[WalSnapshot] = []
    state = HardState()
    for scan in scan_wal(directory):
        for record in scan.records:
            if record.kind is RecordKind.SNAPSHOT:
                markers.append(record.value)
            elif record.kind is RecordKind.HARD_STATE:
                state = record.value
    return [marker for marker in markers if marker.index <= state.commit]


def _new_segment_file(path: Path, size: int) -> int:
    """A new file of `size` preallocated bytes, opened; on a full disk nothing is left behind."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        disk.preallocate(fd, size)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd
