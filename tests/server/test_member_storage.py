"""Opening a member's data dir: what a restart refuses, and how it says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.raft import ConfState, Entry, HardState, Snapshot
from node.raft.types import SnapshotMetadata
from node.server.member_storage import DataPaths, encode_wal_metadata, open_member_storage
from node.wal import WAL, Snapshotter, WalSnapshot
from node.wal.errors import EntryGapError


def entries(first: int, last: int) -> list[Entry]:
    return [Entry(2, index, data=b"x") for index in range(first, last + 1)]


def member_restored_from_a_snapshot_at_50(tmp_path: Path) -> DataPaths:
    """A member whose log starts at a snapshot it installed (no entries before 51)."""
    paths = DataPaths(tmp_path)
    paths.snap.mkdir(parents=True)
    with WAL.create(paths.wal, encode_wal_metadata(1, 7)) as wal:
        wal.save_snapshot(WalSnapshot(index=50, term=2))
        wal.save(HardState(term=2, vote=1, commit=52), entries(51, 52))
    metadata = SnapshotMetadata(ConfState(voters=[1]), index=50, term=2)
    Snapshotter(paths.snap).save(Snapshot(b"state", metadata))
    return paths


def test_a_member_restarts_from_its_snapshot_and_the_log_after_it(tmp_path: Path) -> None:
    storage = open_member_storage(member_restored_from_a_snapshot_at_50(tmp_path))
    try:
        assert storage.raft_storage.last_index() == 52
    finally:
        storage.close()


def test_a_member_whose_only_snapshot_is_broken_refuses_and_names_it(tmp_path: Path) -> None:
    paths = member_restored_from_a_snapshot_at_50(tmp_path)
    (snapshot_file,) = paths.snap.glob("*.snap")
    damaged = bytearray(snapshot_file.read_bytes())
    damaged[-1] ^= 0x01
    snapshot_file.write_bytes(bytes(damaged))

    with pytest.raises(EntryGapError) as refusal:
        open_member_storage(paths)

    message = str(refusal.value)
    assert message.startswith("wal: slice bounds out of range")
    assert f"{snapshot_file.name}.broken" in message
    assert "remove this member and add it again" in message


def member_with_snapshots_at_50_and_60(
    tmp_path: Path, marker_at_60: WalSnapshot | None
) -> DataPaths:
    """A member with snapshot files at 50 and 60, its log 51..70 and commit 65; the WAL marks
    the snapshot at 50, and at 60 only `marker_at_60` (if given)."""
    paths = member_restored_from_a_snapshot_at_50(tmp_path)
    with WAL.open(paths.wal, WalSnapshot(index=50, term=2)) as wal:
        wal.read_all()
        wal.save(HardState(term=2, vote=1, commit=65), entries(53, 70))
        if marker_at_60 is not None:
            wal.save_snapshot(marker_at_60)
    metadata = SnapshotMetadata(ConfState(voters=[1]), index=60, term=2)
    Snapshotter(paths.snap).save(Snapshot(b"state at 60", metadata))
    return paths


def restart_point(paths: DataPaths) -> tuple[int, int, int]:
    """(snapshot index, first and last index of the log) a restart rebuilds."""
    storage = open_member_storage(paths)
    try:
        assert storage.snapshot is not None
        raft = storage.raft_storage
        return storage.snapshot.metadata.index, raft.first_index(), raft.last_index()
    finally:
        storage.close()


def test_a_member_restarts_from_its_newest_snapshot_the_wal_marks(tmp_path: Path) -> None:
    paths = member_with_snapshots_at_50_and_60(tmp_path, WalSnapshot(index=60, term=2))
    assert restart_point(paths) == (60, 61, 70)


def test_a_snapshot_file_saved_before_a_crash_took_its_wal_marker_is_passed_over(
    tmp_path: Path,
) -> None:
    """etcd saves the snapshot file before the WAL's marker: a crash between leaves a file
    the WAL does not mark, and the restart takes the newest snapshot it does (etcd 3.5)."""
    paths = member_with_snapshots_at_50_and_60(tmp_path, marker_at_60=None)
    assert restart_point(paths) == (50, 51, 70)


def test_a_snapshot_marked_past_the_wals_commit_index_is_passed_over(tmp_path: Path) -> None:
    paths = member_with_snapshots_at_50_and_60(tmp_path, WalSnapshot(index=60, term=2))
    with WAL.open(paths.wal, WalSnapshot(index=60, term=2)) as wal:
        wal.read_all()
        wal.save_snapshot(WalSnapshot(index=68, term=2))
    metadata = SnapshotMetadata(ConfState(voters=[1]), index=68, term=2)
    Snapshotter(paths.snap).save(Snapshot(b"state at 68", metadata))
    assert restart_point(paths) == (60, 61, 70)


def test_a_snapshot_marked_in_another_term_is_passed_over(tmp_path: Path) -> None:
    paths = member_with_snapshots_at_50_and_60(tmp_path, WalSnapshot(index=60, term=3))
    assert restart_point(paths) == (50, 51, 70)
