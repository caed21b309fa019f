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
