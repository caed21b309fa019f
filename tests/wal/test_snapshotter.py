"""Snapshot files: saved durably, the newest intact one loaded, broken ones set aside."""

from __future__ import annotations

from pathlib import Path

from node.raft.types import ConfState, Snapshot, SnapshotMetadata
from node.wal import Snapshotter, WalSnapshot


def snapshot(index: int, term: int, data: bytes = b"") -> Snapshot:
    metadata = SnapshotMetadata(ConfState(voters=[1, 2, 3], learners=[4]), index, term)
    return Snapshot(data or f"state at {index}".encode(), metadata)


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_saved_snapshot_loads_back_from_its_named_file(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path / "snap")

    path = snapshotter.save(snapshot(index=0x2A, term=3, data=bytes(range(256))))

    assert path == tmp_path / "snap" / "0000000000000003-000000000000002a.snap"
    assert file_names(tmp_path / "snap") == ["0000000000000003-000000000000002a.snap"]
    assert Snapshotter(tmp_path / "snap").load() == snapshot(0x2A, 3, bytes(range(256)))


def test_load_returns_the_newest_snapshot(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path)
    for index, term in [(10, 1), (30, 2), (20, 2)]:
        snapshotter.save(snapshot(index, term))

    assert snapshotter.load() == snapshot(30, 2)


def test_no_snapshot_files_means_none(tmp_path: Path) -> None:
    assert Snapshotter(tmp_path).load() is None
    assert Snapshotter(tmp_path / "never-created").load() is None


def test_has_snapshots_once_a_snapshot_file_is_there(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path / "snap")
    assert not snapshotter.has_snapshots()
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "notes.txt").write_text("not a snapshot")
    assert not snapshotter.has_snapshots()

    snapshotter.save(snapshot(10, 2))

    assert snapshotter.has_snapshots()


def test_an_empty_snapshot_is_not_saved(tmp_path: Path) -> None:
    assert Snapshotter(tmp_path).save(Snapshot()) is None
    assert file_names(tmp_path) == []


def test_a_corrupt_newest_snapshot_is_set_aside_and_the_previous_one_used(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path)
    snapshotter.save(snapshot(10, 1))
    newest = snapshotter.save(snapshot(20, 1))
    assert newest is not None
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0xFF
    newest.write_bytes(bytes(data))

    assert snapshotter.load() == snapshot(10, 1)
    assert file_names(tmp_path) == [
        "0000000000000001-000000000000000a.snap",
        "0000000000000001-0000000000000014.snap.broken",
    ]


def test_empty_and_misnamed_snapshot_files_are_set_aside(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path)
    snapshotter.save(snapshot(10, 1))
    (tmp_path / "0000000000000001-0000000000000030.snap").write_bytes(b"")
    misnamed = snapshotter.save(snapshot(15, 1))
    assert misnamed is not None
    misnamed.rename(tmp_path / "0000000000000001-0000000000000020.snap")

    assert snapshotter.load() == snapshot(10, 1)
    assert sorted(p.name for p in tmp_path.glob("*.broken")) == [
        "0000000000000001-0000000000000020.snap.broken",
        "0000000000000001-0000000000000030.snap.broken",
    ]


def test_load_newest_available_skips_snapshots_the_wal_has_no_marker_for(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path)
    for index in (10, 20, 30):
        snapshotter.save(snapshot(index, 2))

    markers = [WalSnapshot(0, 0), WalSnapshot(10, 2), WalSnapshot(20, 2)]

    assert snapshotter.load_newest_available(markers) == snapshot(20, 2)
    assert snapshotter.load_newest_available([WalSnapshot(20, 1)]) is None


def test_purge_keeps_only_the_newest_snapshots(tmp_path: Path) -> None:
    snapshotter = Snapshotter(tmp_path)
    for index in range(1, 9):
        snapshotter.save(snapshot(index, 1))
    (tmp_path / "0000000000000001-0000000000000009.snap.tmp").write_bytes(b"half written")

    removed = snapshotter.purge(keep=3)

    assert len(removed) == 6
    assert file_names(tmp_path) == [
        "0000000000000001-0000000000000006.snap",
        "0000000000000001-0000000000000007.snap",
        "0000000000000001-0000000000000008.snap",
    ]
