"""Crashes and disk damage: cut the WAL at every byte, flip bytes, zero sectors, then replay.

A crash keeps a prefix of what was written (the rest of the preallocated segment stays zero,
or the file is shorter). Replay must return exactly the records wholly on disk, or raise
WalCorruptError naming the file and offset; it must never return wrong data.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

import node.wal.disk as wal_disk
from node.raft.types import Entry, HardState
from node.wal import WAL, WalCorruptError, WalSnapshot
from tests.wal.wal_image import WalImage, recover

SEGMENT = 2048
LAST_RECORDS_CUT_EVERYWHERE = 5


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build each crash image themselves, so real fsyncs would only cost time."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(wal_disk, "fdatasync", lambda fd: None)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> WalImage:
    """A WAL of several segments: batches of 1-3 entries, some commit-only (unsynced) saves,
    and a snapshot marker."""
    directory = tmp_path_factory.mktemp("pristine") / "wal"
    rng = random.Random(20240607)
    index = 0
    with WAL.create(directory, b"member-1/cluster-9", segment_size=SEGMENT) as wal:
        for batch in range(150):
            fresh = [
                Entry(1, index + k, data=rng.randbytes(rng.randint(1, 40)) + b"!")
                for k in range(1, rng.randint(1, 3) + 1)
            ]
            wal.save(HardState(term=1, vote=1, commit=index), fresh)
            index += len(fresh)
            if batch % 4 == 0:
                wal.save(HardState(term=1, vote=1, commit=index), [])
            if batch == 60:
                wal.save_snapshot(WalSnapshot(index=index, term=1))
    captured = WalImage.capture(directory)
    assert len(captured.segments) >= 4
    assert len(captured.frames(captured.last)) >= LAST_RECORDS_CUT_EVERYWHERE + 4
    return captured


def cut(data: bytes, at: int, zero_fill: bool) -> bytes:
    """What a crash leaves of a segment written up to `at`."""
    return data[:at] + bytes(len(data) - at) if zero_fill else data[:at]


def intact_frames(image: WalImage, damaged: bytes) -> int:
    """How many leading records of the last segment are still wholly on disk."""
    original = image.files[image.last]
    count = 0
    for frame in image.frames(image.last):
        if damaged[frame.offset : frame.end] != original[frame.offset : frame.end]:
            break
        count += 1
    return count


def head_end(image: WalImage, name: str) -> int:
    """End of a segment's crc and metadata records, which it is created with."""
    return image.frames(name)[1].end


def assert_appends_after_recovery(
    directory: Path, state: HardState, entries: list, segment_size: int = SEGMENT
) -> None:
    extra = Entry(2, entries[-1].index + 1, data=b"written after the crash")
    with WAL.open(directory, segment_size=segment_size) as wal:
        wal.read_all()
        wal.save(HardState(term=2, vote=1, commit=state.commit), [extra])
    assert recover(directory, segment_size) == (
        HardState(term=2, vote=1, commit=state.commit),
        [*entries, extra],
    )


def assert_cut_recovers_what_was_whole(image: WalImage, directory: Path, at: int) -> None:
    for zero_fill in (True, False):
        damaged = cut(image.files[image.last], at, zero_fill)
        image.write(directory, {image.last: damaged})
        expected = image.replay(intact_frames(image, damaged))
        assert recover(directory, SEGMENT) == expected, f"cut at {at}, zero fill {zero_fill}"
        assert_appends_after_recovery(directory, *expected)


def test_a_cut_at_every_byte_of_the_last_records_recovers_exactly_the_whole_ones(
    image: WalImage, tmp_path: Path
) -> None:
    frames = image.frames(image.last)
    first = frames[-LAST_RECORDS_CUT_EVERYWHERE].offset
    for at in range(first, frames[-1].end + 1):
        assert_cut_recovers_what_was_whole(image, tmp_path / "wal", at)


def test_a_cut_at_random_offsets_earlier_in_the_last_segment_recovers_the_prefix(
    image: WalImage, tmp_path: Path
) -> None:
    rng = random.Random(1)
    frames = image.frames(image.last)
    for at in rng.sample(range(head_end(image, image.last), frames[-1].end), 40):
        assert_cut_recovers_what_was_whole(image, tmp_path / "wal", at)


def test_a_cut_through_the_head_of_the_last_segment_is_corruption(
    image: WalImage, tmp_path: Path
) -> None:
    # A segment's head is synced before the segment is renamed into place: a crash cannot cut it.
    for at in range(0, head_end(image, image.last)):
        image.write(tmp_path / "wal", {image.last: cut(image.files[image.last], at, True)})
        with pytest.raises(WalCorruptError) as failure:
            recover(tmp_path / "wal", SEGMENT)
        assert failure.value.path.name == image.last


def test_a_cut_in_an_earlier_segment_is_corruption_naming_file_and_offset(
    image: WalImage, tmp_path: Path
) -> None:
    rng = random.Random(2)
    for _ in range(40):
        name = rng.choice(image.segments[:-1])
        at = rng.randrange(len(image.files[name]))
        image.write(tmp_path / "wal", {name: cut(image.files[name], at, rng.random() < 0.5)})
        with pytest.raises(WalCorruptError) as failure:
            recover(tmp_path / "wal", SEGMENT)
        assert failure.value.path.name == name
        assert failure.value.offset <= at
        assert f"{name} at byte offset {failure.value.offset}" in str(failure.value)


def flip(data: bytes, position: int, rng: random.Random) -> bytes:
    return data[:position] + bytes([data[position] ^ rng.randint(1, 255)]) + data[position + 1 :]


def test_a_flipped_byte_is_detected_unless_it_is_in_the_last_record(
    image: WalImage, tmp_path: Path
) -> None:
    rng = random.Random(3)
    last_frames = image.frames(image.last)
    for _ in range(400):
        name = rng.choice(image.segments)
        position = rng.randrange(len(image.files[name]))
        image.write(tmp_path / "wal", {name: flip(image.files[name], position, rng)})
        where = f"flip in {name} at {position}"
        if name != image.last or position < last_frames[-2].end:
            with pytest.raises(WalCorruptError) as failure:
                recover(tmp_path / "wal", SEGMENT)
            assert failure.value.path.name == name, where
            damaged_record = max(f.offset for f in image.frames(name) if f.offset <= position)
            assert failure.value.offset == damaged_record, where
        elif position < last_frames[-1].end:
            assert recover(tmp_path / "wal", SEGMENT) == image.replay(len(last_frames) - 1), where
        else:
            assert recover(tmp_path / "wal", SEGMENT) == image.replay(len(last_frames)), where


def test_several_flipped_bytes_never_make_replay_return_wrong_data(
    image: WalImage, tmp_path: Path
) -> None:
    rng = random.Random(4)
    last_frames = image.frames(image.last)
    for _ in range(150):
        damaged = image.files[image.last]
        for _ in range(rng.randint(2, 4)):
            damaged = flip(damaged, rng.randrange(last_frames[-8].offset, len(damaged)), rng)
        image.write(tmp_path / "wal", {image.last: damaged})
        try:
            recovered = recover(tmp_path / "wal", SEGMENT)
        except WalCorruptError:
            continue
        assert recovered == image.replay(intact_frames(image, damaged))


def test_a_middle_record_with_a_bad_crc_is_reported_with_its_file_and_offset(
    image: WalImage, tmp_path: Path
) -> None:
    frames = image.frames(image.last)
    victim = frames[-3]
    data = bytearray(image.files[image.last])
    data[victim.end - 1] ^= 0x40
    image.write(tmp_path / "wal", {image.last: bytes(data)})

    with pytest.raises(WalCorruptError, match="walpb: crc mismatch") as failure:
        recover(tmp_path / "wal", SEGMENT)

    assert failure.value.path == tmp_path / "wal" / image.last
    assert failure.value.offset == victim.offset


@pytest.mark.parametrize("field", ["length", "synced flag", "crc", "payload"])
def test_damage_to_any_field_of_the_last_but_one_record_is_corruption(
    image: WalImage, tmp_path: Path, field: str
) -> None:
    # Only the last record follows: it must still be found and proven to chain on the victim.
    victim = image.frames(image.last)[-2]
    position = victim.offset + {"length": 3, "synced flag": 0, "crc": 6, "payload": 9}[field]
    data = bytearray(image.files[image.last])
    data[position] ^= 0x80 if field == "synced flag" else 0x01
    image.write(tmp_path / "wal", {image.last: bytes(data)})

    with pytest.raises(WalCorruptError) as failure:
        recover(tmp_path / "wal", SEGMENT)

    assert failure.value.offset == victim.offset


def big_batch_wal(directory: Path, then_one_more_save: bool) -> WalImage:
    """A WAL whose last (or last but one) save is one batch of about 3 KiB of entries."""
    with WAL.create(directory, b"meta", segment_size=64 * 1024) as wal:
        wal.save(HardState(term=1, vote=1, commit=0), [Entry(1, 1, data=b"first")])
        batch = [Entry(1, i, data=bytes([i]) * 100) for i in range(2, 32)]
        wal.save(HardState(term=1, vote=1, commit=1), batch)
        if then_one_more_save:
            wal.save(HardState(term=1, vote=1, commit=31), [Entry(1, 32, data=b"later")])
    return WalImage.capture(directory)


def zero_a_sector_inside_the_batch(image: WalImage) -> tuple[bytes, int]:
    """The last segment with the second 512-byte sector of the big batch zeroed."""
    data = bytearray(image.files[image.last])
    batch_start = image.frames(image.last)[5].offset
    sector = (batch_start // 512 + 2) * 512
    data[sector : sector + 512] = bytes(512)
    return bytes(data), sector


def test_a_torn_batch_whose_pages_landed_out_of_order_is_cut_at_the_hole(tmp_path: Path) -> None:
    image = big_batch_wal(tmp_path / "pristine", then_one_more_save=False)
    damaged, _ = zero_a_sector_inside_the_batch(image)
    image.write(tmp_path / "wal", {image.last: damaged})
    intact = intact_frames(image, damaged)

    state, entries = recover(tmp_path / "wal", 64 * 1024)

    assert (state, entries) == image.replay(intact)
    assert 2 < entries[-1].index < 31
    assert_appends_after_recovery(tmp_path / "wal", state, entries, 64 * 1024)


def test_a_zeroed_sector_in_a_batch_that_was_synced_is_corruption(tmp_path: Path) -> None:
    image = big_batch_wal(tmp_path / "pristine", then_one_more_save=True)
    damaged, sector = zero_a_sector_inside_the_batch(image)
    image.write(tmp_path / "wal", {image.last: damaged})

    with pytest.raises(WalCorruptError, match="valid records follow it") as failure:
        recover(tmp_path / "wal", 64 * 1024)

    assert failure.value.offset <= sector
