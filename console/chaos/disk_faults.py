"""Damage done to a stopped member's files, as a crash or a failing disk leaves them.

- A torn WAL tail: the record the member was writing when it died reached the disk only in
  part. The nemesis writes the first half of a copy of the last record right after it, in
  the last segment: the member must cut it off and start. Records already written are left
  whole, because a crash cannot tear what was fsynced, and raft counts on it.
- A flipped bit inside an earlier WAL record (one followed by records flagged synced): the
  member must refuse to start with an error naming the damage.
- A flipped bit inside the newest snapshot file: the member must refuse to start or set the
  file aside and recover from an older one; it must never serve what the damage says.

Every Damage remembers the bytes it replaced, so the nemesis can restore the file. The
on-disk facts used here (segment `<seq>-<index>.wal` files of records `length | crc | payload`,
each crc a CRC-32C chained on the previous one; `<term>-<index>.snap` files) are those of the
design document; the console does not import the member's WAL code.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

BROKEN_SUFFIX = ".broken"
"""What a member appends to the name of a snapshot file it found corrupt."""
_HEADER = struct.Struct(">II")
_WORD = struct.Struct(">I")
_SYNCED = 1 << 31
_LENGTH = _SYNCED - 1


@dataclass(slots=True, frozen=True)
class Damage:
    """Bytes overwritten in one file, and what they were."""

    path: Path
    offset: int
    original: bytes
    description: str

    def undo(self) -> None:
        """Put the original bytes back; a file the member set aside as `.broken` is first
        given its name back."""
        set_aside = self.path.with_name(self.path.name + BROKEN_SUFFIX)
        if not self.path.exists() and set_aside.exists():
            set_aside.rename(self.path)
        with open(self.path, "r+b") as file:
            file.seek(self.offset)
            file.write(self.original)


@dataclass(slots=True, frozen=True)
class _Frame:
    offset: int
    end: int
    synced: bool


def wal_segments(data_dir: Path) -> list[Path]:
    """The member's WAL segment files, oldest first."""
    return sorted((data_dir / "member" / "wal").glob("*.wal"))


def snapshot_files(data_dir: Path) -> list[Path]:
    """The member's snapshot files, oldest first."""
    return sorted((data_dir / "member" / "snap").glob("*.snap"))


def _frames(buf: bytes) -> list[_Frame]:
    """The records of a segment up to the first one that does not continue the crc chain
    (the segment's first record, its crc record, is taken on trust)."""
    frames: list[_Frame] = []
    offset, link = 0, None
    while offset + _HEADER.size <= len(buf):
        word, crc = _HEADER.unpack_from(buf, offset)
        length = word & _LENGTH
        end = offset + _HEADER.size + length
        if length == 0 or end > len(buf):
            break
        payload = buf[offset + _HEADER.size : end]
        if link is not None and crc32c(payload, value=crc32c(_WORD.pack(word), value=link)) != crc:
            break
        frames.append(_Frame(offset, end, bool(word & _SYNCED)))
        offset, link = end, crc
    return frames


def tear_wal_tail(data_dir: Path) -> Damage | None:
    """Write half of a copy of the last record after it, as a torn write; None when the
    member has no WAL yet."""
    segments = wal_segments(data_dir)
    if not segments:
        return None
    path = segments[-1]
    buf = path.read_bytes()
    frames = _frames(buf)
    if len(frames) < 2:
        return None
    last = frames[-1]
    torn = buf[last.offset : last.offset + (last.end - last.offset) // 2 + _HEADER.size // 2]
    original = buf[last.end : last.end + len(torn)]
    original += bytes(len(torn) - len(original))
    with open(path, "r+b") as file:
        file.seek(last.end)
        file.write(torn)
    return Damage(
        path,
        last.end,
        original,
        f"torn write of {len(torn)} bytes at offset {last.end} of {path.name}",
    )


def flip_wal_bit(data_dir: Path, rng: random.Random) -> Damage | None:
    """Flip one bit in the payload of an earlier record of the last segment, one that
    synced records follow; None when the segment has no such record yet."""
    segments = wal_segments(data_dir)
    if not segments:
        return None
    path = segments[-1]
    frames = _frames(path.read_bytes())
    last_synced = max((i for i, f in enumerate(frames) if f.synced), default=-1)
    candidates = frames[2:last_synced]
    if not candidates:
        return None
    frame = rng.choice(candidates[: max(1, len(candidates) // 2)])
    offset = rng.randrange(frame.offset + _HEADER.size, frame.end)
    return _flip(path, offset, rng, f"flipped a bit of the record at offset {frame.offset}")


def flip_snapshot_bit(data_dir: Path, rng: random.Random) -> Damage | None:
    """Flip one bit in the middle half of the newest snapshot file; None when there is none."""
    files = snapshot_files(data_dir)
    if not files:
        return None
    path = files[-1]
    size = path.stat().st_size
    if size < 4:
        return None
    offset = rng.randrange(size // 4, size - size // 4)
    return _flip(path, offset, rng, "flipped a bit")


def _flip(path: Path, offset: int, rng: random.Random, what: str) -> Damage:
    bit = 1 << rng.randrange(8)
    with open(path, "r+b") as file:
        file.seek(offset)
        original = file.read(1)
        file.seek(offset)
        file.write(bytes([original[0] ^ bit]))
    return Damage(path, offset, original, f"{what} in {path.name} (byte {offset}, mask {bit:#04x})")
