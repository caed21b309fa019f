"""The nemesis' disk damage, judged by the member's own WAL reader: a torn tail is repaired
with every record kept, a flipped bit in an earlier record is refused, and undoing either
gives back a WAL that replays whole."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from console.chaos import disk_faults
from node.raft.types import Entry, HardState
from node.wal import WAL, WalCorruptError

SEGMENT = 64 * 1024


def write_member_wal(data_dir: Path, batches: int = 40) -> list[Entry]:
    """A member data dir whose WAL holds `batches` synced batches of two entries."""
    entries = []
    with WAL.create(data_dir / "member" / "wal", b"metadata", segment_size=SEGMENT) as wal:
        for batch in range(batches):
            fresh = [Entry(1, 2 * batch + k, data=f"entry {batch}.{k}".encode()) for k in (1, 2)]
            wal.save(HardState(term=1, vote=1, commit=2 * batch), fresh)
            entries.extend(fresh)
    return entries


def replay(data_dir: Path) -> list[Entry]:
    with WAL.open(data_dir / "member" / "wal", segment_size=SEGMENT) as wal:
        _, _, entries = wal.read_all()
    return entries


def test_a_torn_tail_is_cut_off_and_every_written_record_replays(tmp_path: Path) -> None:
    entries = write_member_wal(tmp_path)
    damage = disk_faults.tear_wal_tail(tmp_path)
    assert damage is not None
    assert "torn write" in damage.description
    assert replay(tmp_path) == entries


def test_a_flipped_bit_in_an_earlier_record_makes_the_wal_refuse_to_open(tmp_path: Path) -> None:
    write_member_wal(tmp_path)
    damage = disk_faults.flip_wal_bit(tmp_path, random.Random(7))
    assert damage is not None
    with pytest.raises(WalCorruptError) as refused:
        replay(tmp_path)
    assert damage.path.name in str(refused.value)


def test_undoing_a_flipped_bit_gives_back_the_whole_wal(tmp_path: Path) -> None:
    entries = write_member_wal(tmp_path)
    damage = disk_faults.flip_wal_bit(tmp_path, random.Random(11))
    assert damage is not None
    damage.undo()
    assert replay(tmp_path) == entries


def test_a_member_without_a_wal_or_snapshot_has_nothing_to_damage(tmp_path: Path) -> None:
    assert disk_faults.tear_wal_tail(tmp_path) is None
    assert disk_faults.flip_wal_bit(tmp_path, random.Random(1)) is None
    assert disk_faults.flip_snapshot_bit(tmp_path, random.Random(1)) is None


def test_a_flipped_snapshot_bit_changes_one_bit_and_is_undone(tmp_path: Path) -> None:
    snap = tmp_path / "member" / "snap" / "0000000000000002-0000000000000010.snap"
    snap.parent.mkdir(parents=True)
    original = bytes(range(256)) * 4
    snap.write_bytes(original)
    damage = disk_faults.flip_snapshot_bit(tmp_path, random.Random(3))
    assert damage is not None
    damaged = snap.read_bytes()
    differing = [i for i in range(len(original)) if damaged[i] != original[i]]
    assert len(differing) == 1
    assert bin(damaged[differing[0]] ^ original[differing[0]]).count("1") == 1
    damage.undo()
    assert snap.read_bytes() == original


def test_undoing_restores_a_snapshot_the_member_set_aside_under_its_name(tmp_path: Path) -> None:
    snap = tmp_path / "member" / "snap" / "0000000000000002-0000000000000010.snap"
    snap.parent.mkdir(parents=True)
    snap.write_bytes(b"snapshot bytes " * 8)
    damage = disk_faults.flip_snapshot_bit(tmp_path, random.Random(5))
    assert damage is not None
    snap.rename(snap.with_name(snap.name + ".broken"))
    damage.undo()
    assert snap.read_bytes() == b"snapshot bytes " * 8
    assert not snap.with_name(snap.name + ".broken").exists()
