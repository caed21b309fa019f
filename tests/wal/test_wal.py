"""The WAL as the server uses it: create, save, reopen, replay, snapshot markers, release, lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import node.wal.disk as wal_disk
from node.raft.types import Entry, EntryType, HardState
from node.wal import (
    WAL,
    EntryGapError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalError,
    WalExistsError,
    WalLockedError,
    WalNotFoundError,
    WalSnapshot,
    valid_snapshot_markers,
)
from tests.wal.wal_image import WalImage

SMALL_SEGMENT = 1024


def entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, data=f"value-{i}-{term}".encode()) for i in range(first, last + 1)]


def reopen(directory: Path, marker: WalSnapshot | None = None) -> tuple[bytes, HardState, list]:
    with WAL.open(directory, marker, segment_size=SMALL_SEGMENT) as wal:
        return wal.read_all()


def segment_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.wal"))


def test_a_new_wal_replays_its_metadata_and_nothing_else(tmp_path: Path) -> None:
    WAL.create(tmp_path / "wal", b"member-1/cluster-7").close()

    assert reopen(tmp_path / "wal") == (b"member-1/cluster-7", HardState(), [])
    assert segment_files(tmp_path / "wal") == ["0000000000000000-0000000000000000.wal"]
    assert not (tmp_path / "wal.tmp").exists()


def test_a_new_segment_is_preallocated_to_the_segment_size(tmp_path: Path) -> None:
    WAL.create(tmp_path / "wal", b"m", segment_size=64 * 1024).close()

    (segment,) = (tmp_path / "wal").glob("*.wal")
    assert segment.stat().st_size == 64 * 1024


def test_saved_batches_come_back_in_order_with_the_last_hard_state(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        for first in range(1, 200, 10):
            wal.save(HardState(term=1, vote=2, commit=first - 1), entries(first, first + 9))

    metadata, state, replayed = reopen(tmp_path / "wal")

    assert metadata == b"meta"
    assert state == HardState(term=1, vote=2, commit=190)
    assert replayed == entries(1, 200)


def test_records_are_cut_into_numbered_segments_that_replay_as_one_log(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        for i in range(1, 301):
            wal.save(HardState(term=2, vote=1, commit=i - 1), entries(i, i, term=2))

    names = segment_files(tmp_path / "wal")
    assert len(names) > 5
    assert [int(name[:16], 16) for name in names] == list(range(len(names)))
    # each segment is named after the first entry index it can hold
    first_indexes = [int(name[17:33], 16) for name in names]
    assert first_indexes == sorted(first_indexes) and first_indexes[0] == 0
    assert reopen(tmp_path / "wal") == (b"meta", HardState(2, 1, 299), entries(1, 300, term=2))


def test_a_segment_cut_carries_metadata_and_hard_state_into_the_new_segment(
    tmp_path: Path,
) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=3, vote=1, commit=40), entries(1, 40, term=3))
        wal.save_snapshot(WalSnapshot(index=40, term=3))
        wal.save(HardState(term=3, vote=1, commit=40), entries(41, 80, term=3))
        wal.save_snapshot(WalSnapshot(index=80, term=3))
        removed = wal.release_before(80)

    assert [p.name for p in removed] == ["0000000000000000-0000000000000000.wal"]
    metadata, state, replayed = reopen(tmp_path / "wal", WalSnapshot(index=80, term=3))
    assert (metadata, state, replayed) == (b"meta", HardState(3, 1, 40), [])


def test_entries_from_a_later_term_replace_the_conflicting_tail(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        wal.save(HardState(term=1, vote=1, commit=3), entries(1, 10, term=1))
        wal.save(HardState(term=2, vote=2, commit=3), entries(5, 7, term=2))

    _, state, replayed = reopen(tmp_path / "wal")

    assert state == HardState(term=2, vote=2, commit=3)
    assert replayed == entries(1, 4, term=1) + entries(5, 7, term=2)


def test_opening_at_a_snapshot_marker_returns_only_later_entries(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=1, vote=1, commit=30), entries(1, 30))
        wal.save_snapshot(WalSnapshot(index=20, term=1))
        wal.save(HardState(term=1, vote=1, commit=45), entries(31, 45))

    _, state, replayed = reopen(tmp_path / "wal", WalSnapshot(index=20, term=1))

    assert state == HardState(term=1, vote=1, commit=45)
    assert replayed == entries(21, 45)


def test_opening_at_a_marker_the_wal_lacks_fails_clearly(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        wal.save(HardState(term=1, vote=1, commit=30), entries(1, 30))

    with (
        WAL.open(tmp_path / "wal", WalSnapshot(index=20, term=1)) as wal,
        pytest.raises(SnapshotNotFoundError, match="wal: snapshot not found"),
    ):
        wal.read_all()


def test_opening_at_a_marker_of_another_term_fails_clearly(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        wal.save(HardState(term=1, vote=1, commit=30), entries(1, 30))
        wal.save_snapshot(WalSnapshot(index=20, term=1))

    with (
        WAL.open(tmp_path / "wal", WalSnapshot(index=20, term=2)) as wal,
        pytest.raises(SnapshotMismatchError, match="wal: snapshot mismatch"),
    ):
        wal.read_all()


def test_entries_that_skip_past_the_opening_snapshot_are_a_gap(tmp_path: Path) -> None:
    # A follower that installed a snapshot at 50 holds no entries 11..50: replaying from 0 fails.
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        wal.save(HardState(term=1, vote=1, commit=10), entries(1, 10))
        wal.save_snapshot(WalSnapshot(index=50, term=2))
        wal.save(HardState(term=2, vote=1, commit=51), entries(51, 52, term=2))

    with WAL.open(tmp_path / "wal") as wal, pytest.raises(EntryGapError, match="out of range"):
        wal.read_all()
    assert reopen(tmp_path / "wal", WalSnapshot(50, 2))[2] == entries(51, 52, term=2)


def test_a_cut_right_after_a_snapshot_marker_names_the_segment_after_the_snapshot(
    tmp_path: Path,
) -> None:
    # A follower installs a snapshot far past its last entry; if the next segment were named
    # after that entry, opening at the snapshot would skip the segment holding its marker.
    def follower_installs_a_snapshot(directory: Path, segment_size: int) -> None:
        with WAL.create(directory, b"meta", segment_size=segment_size) as wal:
            wal.save(HardState(term=1, vote=1, commit=5), entries(1, 5))
            wal.save_snapshot(WalSnapshot(index=500, term=2))
            wal.save(HardState(term=2, vote=1, commit=510), entries(501, 510, term=2))

    follower_installs_a_snapshot(tmp_path / "probe", SMALL_SEGMENT)
    probe = WalImage.capture(tmp_path / "probe")
    (marker_end,) = [
        frame.end
        for frame in probe.frames(probe.last)
        if frame.decode().value == WalSnapshot(index=500, term=2)
    ]

    follower_installs_a_snapshot(tmp_path / "wal", segment_size=marker_end)

    assert segment_files(tmp_path / "wal")[1] == "0000000000000001-00000000000001f5.wal"
    assert reopen(tmp_path / "wal", WalSnapshot(500, 2))[2] == entries(501, 510, term=2)


def test_the_opening_marker_selects_segments_so_released_ones_are_not_needed(
    tmp_path: Path,
) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        for i in range(1, 101):
            wal.save(HardState(term=1, vote=1, commit=i), entries(i, i))
        wal.save_snapshot(WalSnapshot(index=90, term=1))
        before = segment_files(tmp_path / "wal")
        removed = wal.release_before(90)
        wal.save(HardState(term=1, vote=1, commit=101), entries(101, 101))

    after = segment_files(tmp_path / "wal")
    assert [p.name for p in removed] == before[: len(before) - len(after)]
    assert removed and int(after[0][17:33], 16) <= 90
    assert all(int(name[17:33], 16) > 90 for name in after[1:])
    assert reopen(tmp_path / "wal", WalSnapshot(90, 1))[2] == entries(91, 101)
    with pytest.raises(WalNotFoundError, match="wal: file not found"):
        WAL.open(tmp_path / "wal")


def test_release_before_refuses_to_pass_the_latest_snapshot_marker(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=1, vote=1, commit=80), entries(1, 80))
        wal.save_snapshot(WalSnapshot(index=40, term=1))
        with pytest.raises(WalError, match="latest snapshot marker is at index 40"):
            wal.release_before(80)


def test_a_missing_middle_segment_is_reported(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=1, vote=1, commit=80), entries(1, 80))
        wal.save(HardState(term=1, vote=1, commit=160), entries(81, 160))
        wal.save(HardState(term=1, vote=1, commit=240), entries(161, 240))
    (tmp_path / "wal" / segment_files(tmp_path / "wal")[1]).unlink()

    with pytest.raises(WalNotFoundError, match="segment sequence 1 is missing"):
        WAL.open(tmp_path / "wal")


def test_a_second_opener_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with (
        WAL.create(tmp_path / "wal", b"meta"),
        pytest.raises(WalLockedError, match=str(tmp_path / "wal")),
    ):
        WAL.open(tmp_path / "wal")
    WAL.open(tmp_path / "wal").close()


def test_a_second_opener_in_another_process_is_refused(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from node.wal import WAL, WalLockedError\n"
        "try:\n"
        "    WAL.open(sys.argv[1])\n"
        "except WalLockedError as exc:\n"
        "    print(exc)\n"
    )
    with WAL.create(tmp_path / "wal", b"meta"):
        child = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "wal")],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    assert "file already locked" in child.stdout
    assert str(tmp_path / "wal") in child.stdout


def test_create_refuses_a_directory_that_already_holds_a_wal(tmp_path: Path) -> None:
    WAL.create(tmp_path / "wal", b"meta").close()

    assert WAL.exists(tmp_path / "wal")
    with pytest.raises(WalExistsError, match="already exists"):
        WAL.create(tmp_path / "wal", b"other")


def test_create_takes_over_an_empty_directory_and_a_leftover_temp_one(tmp_path: Path) -> None:
    (tmp_path / "wal").mkdir()
    (tmp_path / "wal.tmp").mkdir()
    (tmp_path / "wal.tmp" / "junk").write_bytes(b"from a crashed create")

    assert not WAL.exists(tmp_path / "wal")
    WAL.create(tmp_path / "wal", b"meta").close()

    assert reopen(tmp_path / "wal")[0] == b"meta"
    assert not (tmp_path / "wal.tmp").exists()


def test_opening_a_directory_without_a_wal_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(WalNotFoundError, match="wal: file not found"):
        WAL.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WalNotFoundError, match="wal: file not found"):
        WAL.open(tmp_path / "empty")


def test_appending_before_replaying_is_refused(tmp_path: Path) -> None:
    WAL.create(tmp_path / "wal", b"meta").close()

    with WAL.open(tmp_path / "wal") as wal, pytest.raises(WalError, match="read_all"):
        wal.save(HardState(term=1, vote=1, commit=0), entries(1, 1))


def test_a_closed_wal_refuses_to_append(tmp_path: Path) -> None:
    wal = WAL.create(tmp_path / "wal", b"meta")
    wal.close()

    with pytest.raises(WalError, match="closed"):
        wal.save(HardState(term=1, vote=1, commit=0), entries(1, 1))


def test_appending_after_replay_continues_the_same_log(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=1, vote=1, commit=5), entries(1, 50))
    for first in (51, 101):
        with WAL.open(tmp_path / "wal", segment_size=SMALL_SEGMENT) as wal:
            wal.read_all()
            wal.save(HardState(term=1, vote=1, commit=first), entries(first, first + 49))

    assert reopen(tmp_path / "wal") == (b"meta", HardState(1, 1, 101), entries(1, 150))


def test_each_save_is_one_group_commit_and_an_unchanged_state_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real_fdatasync = wal_disk.fdatasync
    monkeypatch.setattr(wal_disk, "fdatasync", lambda fd: syncs.append(fd) or real_fdatasync(fd))
    wal = WAL.create(tmp_path / "wal", b"meta")
    (segment,) = (tmp_path / "wal").glob("*.wal")
    syncs.clear()

    wal.save(HardState(term=1, vote=1, commit=0), entries(1, 100))
    assert len(syncs) == 1
    written = segment.read_bytes()
    wal.save(HardState(term=1, vote=1, commit=0), [])
    wal.save(HardState(), [])
    assert len(syncs) == 1
    assert segment.read_bytes() == written
    wal.close()


def test_a_commit_only_change_is_written_without_an_fsync_as_etcd_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    monkeypatch.setattr(wal_disk, "fdatasync", syncs.append)
    with WAL.create(tmp_path / "wal", b"meta") as wal:
        wal.save(HardState(term=1, vote=1, commit=0), entries(1, 3))
        syncs.clear()
        wal.save(HardState(term=1, vote=1, commit=3), [])
        assert syncs == []
        wal.save(HardState(term=2, vote=0, commit=3), [])
        assert len(syncs) == 1

    assert reopen(tmp_path / "wal")[1] == HardState(term=2, vote=0, commit=3)


def test_entry_types_and_binary_data_survive_the_round_trip(tmp_path: Path) -> None:
    saved = [
        Entry(1, 1, EntryType.CONF_CHANGE, b"\x00\x01conf"),
        Entry(1, 2, EntryType.NORMAL, bytes(range(256))),
        Entry(1, 3, EntryType.NORMAL, b""),
    ]
    with WAL.create(tmp_path / "wal", b"") as wal:
        wal.save(HardState(term=1, vote=1, commit=3), saved)

    assert reopen(tmp_path / "wal") == (b"", HardState(1, 1, 3), saved)


def test_valid_snapshot_markers_are_those_at_or_below_the_commit_index(tmp_path: Path) -> None:
    with WAL.create(tmp_path / "wal", b"meta", segment_size=SMALL_SEGMENT) as wal:
        wal.save(HardState(term=1, vote=1, commit=60), entries(1, 80))
        wal.save_snapshot(WalSnapshot(index=30, term=1))
        wal.save_snapshot(WalSnapshot(index=60, term=1))
        wal.save_snapshot(WalSnapshot(index=70, term=1))

    assert valid_snapshot_markers(tmp_path / "wal") == [
        WalSnapshot(0, 0),
        WalSnapshot(30, 1),
        WalSnapshot(60, 1),
    ]
