"""A full or failing disk under the WAL: a write or fsync that fails leaves the WAL refusing
every later record, a half-written record is a torn tail that reopening cuts off (and the
inspector's reader points at), and every save that returned comes back.

The failures are made two ways: at node.wal.disk, the one place the WAL calls the OS to
write (a write that lands half its bytes and then reports ENOSPC, an fsync that reports EIO),
and for real on a tmpfs of a few megabytes (root only)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import node.wal.disk as wal_disk
from node.inspect.wal import WalFilter, inspect_wal
from node.raft.types import Entry, HardState, Snapshot, SnapshotMetadata
from node.server.member_storage import DataPaths
from node.wal import WAL, Snapshotter, WalWriteError
from node.wal.reader import SegmentEnd, scan_wal
from tests.small_filesystem import MIB, resize, small_filesystem

SEGMENT = 64 * 1024


def batch(first: int, count: int = 3, size: int = 100) -> list[Entry]:
    return [Entry(1, i, data=bytes([i % 251]) * size) for i in range(first, first + count)]


def replay(directory: Path, segment_size: int = SEGMENT) -> tuple[HardState, list[Entry]]:
    with WAL.open(directory, segment_size=segment_size) as wal:
        _, state, entries = wal.read_all()
    return state, entries


def disk_full_after(limit: int) -> Callable[[int, bytes, int], None]:
    """A write_at that lands the first `limit` bytes it is given, then fails with ENOSPC."""
    real = wal_disk.write_at
    room = [limit]

    def write_at(fd: int, data: bytes, offset: int) -> None:
        landed = bytes(data[: room[0]])
        room[0] -= len(landed)
        if landed:
            real(fd, landed, offset)
        if len(landed) < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write_at


def test_a_write_cut_short_by_enospc_is_a_torn_tail_and_every_save_that_returned_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = DataPaths(tmp_path).wal
    acknowledged: list[Entry] = []
    with WAL.create(directory, b"meta", segment_size=SEGMENT) as wal:
        for first in range(1, 30, 3):
            wal.save(HardState(1, 1, first - 1), batch(first))
            acknowledged += batch(first)
        records_end = next(scan for scan in scan_wal(directory)).end

        monkeypatch.setattr(wal_disk, "write_at", disk_full_after(60))
        with pytest.raises(WalWriteError, match="no space left on device"):
            wal.save(HardState(1, 1, 30), batch(31))
        monkeypatch.undo()
        with pytest.raises(WalWriteError, match="takes no more records since a write failed"):
            wal.save(HardState(1, 1, 30), batch(34))

    (scan,) = scan_wal(directory)
    assert scan.ending is SegmentEnd.TORN
    assert scan.end == records_end
    inspected = "\n".join(row.text for row in inspect_wal(DataPaths(tmp_path), WalFilter()))
    assert f"@{records_end}  torn tail" in inspected
    state, entries = replay(directory)
    assert entries == acknowledged
    assert state == HardState(1, 1, 27)

    with WAL.open(directory, segment_size=SEGMENT) as wal:
        wal.read_all()
        wal.save(HardState(1, 1, 31), batch(31))
    assert replay(directory)[1] == acknowledged + batch(31)


def test_a_failed_fsync_stops_the_wal_for_good_and_what_was_saved_before_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "wal"
    with WAL.create(directory, b"meta", segment_size=SEGMENT) as wal:
        wal.save(HardState(1, 1, 0), batch(1))

        def eio(fd: int) -> None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(wal_disk, "fdatasync", eio)
        with pytest.raises(WalWriteError, match=r"cannot fsync .*input/output error"):
            wal.save(HardState(1, 1, 3), batch(4))
        monkeypatch.undo()
        # A second fsync could report success for pages the first one lost: no retry.
        with pytest.raises(WalWriteError):
            wal.save(HardState(1, 1, 3), batch(4))

    assert replay(directory)[1][:3] == batch(1)


def test_a_segment_that_cannot_be_preallocated_leaves_no_file_and_the_wal_cuts_once_space_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "wal"
    real_preallocate = wal_disk.preallocate
    saved: list[Entry] = []
    with WAL.create(directory, b"meta", segment_size=SEGMENT) as wal:

        def full(fd: int, size: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(wal_disk, "preallocate", full)
        with pytest.raises(WalWriteError, match="cannot create segment"):
            first = 1
            while True:
                wal.save(HardState(1, 1, first - 1), batch(first, size=1000))
                saved += batch(first, size=1000)
                first += 3
        # The batch whose save failed at the cut was written and synced before it.
        saved += batch(first, size=1000)

    assert sorted(path.name for path in directory.glob("*.wal*")) == [
        "0000000000000000-0000000000000000.wal"
    ]
    monkeypatch.setattr(wal_disk, "preallocate", real_preallocate)
    with WAL.open(directory, segment_size=SEGMENT) as wal:
        _, _, entries = wal.read_all()
        assert entries == saved
        wal.save(HardState(1, 1, first), batch(first + 3, size=1000))
        while len(list(directory.glob("*.wal"))) < 2:
            first += 3
            wal.save(HardState(1, 1, first), batch(first + 3, size=1000))
    assert replay(directory)[1][: len(saved)] == saved


def test_a_snapshot_file_that_does_not_fit_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshotter = Snapshotter(tmp_path / "snap")
    (tmp_path / "snap").mkdir()
    monkeypatch.setattr(wal_disk, "write_at", disk_full_after(10))
    with pytest.raises(OSError, match="No space left"):
        snapshotter.save(Snapshot(b"x" * 4096, SnapshotMetadata(index=5, term=1)))
    assert list((tmp_path / "snap").iterdir()) == []


def test_a_wal_on_a_full_tmpfs_stops_at_the_cut_and_replays_whole_once_space_is_freed(
    tmp_path: Path,
) -> None:
    """For real: a 3 MiB filesystem holds one 1 MiB segment and 1.5 MiB of ballast, so the
    second segment's preallocation fails with ENOSPC."""
    segment = MIB
    with small_filesystem(tmp_path / "disk", 3 * MIB) as disk:
        directory = disk / "wal"
        (disk / "ballast").write_bytes(bytes(3 * MIB // 2))
        saved: list[Entry] = []
        with WAL.create(directory, b"meta", segment_size=segment) as wal:
            with pytest.raises(WalWriteError, match="no space left on device"):
                first = 1
                while True:
                    wal.save(HardState(1, 1, first - 1), batch(first, size=4000))
                    saved += batch(first, size=4000)
                    first += 3
            saved += batch(first, size=4000)
            with pytest.raises(WalWriteError):
                wal.save(HardState(1, 1, first), batch(first + 3))
        assert [path.name for path in directory.glob("*.wal*")] == [
            "0000000000000000-0000000000000000.wal"
        ]

        resize(disk, 8 * MIB)
        with WAL.open(directory, segment_size=segment) as wal:
            _, _, entries = wal.read_all()
            assert entries == saved
            wal.save(HardState(1, 1, first), batch(first + 3, size=4000))
        state, entries = replay(directory, segment)
        assert len(list(directory.glob("*.wal"))) == 2
        assert entries == saved + batch(first + 3, size=4000)
        assert state == HardState(1, 1, first)
