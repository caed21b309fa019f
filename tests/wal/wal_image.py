"""A closed WAL's segment files held as bytes, so tests can damage copies of it and replay them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from node.raft.types import Entry, HardState
from node.wal import WAL
from node.wal.record import Frame, Record, RecordKind, frame_at


@dataclass
class WalImage:
    files: dict[str, bytes]
    _frames: dict[str, list[Frame]] = field(init=False, repr=False)
    _records: dict[str, list[Record]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._frames = {name: _walk(data) for name, data in self.files.items()}
        self._records = {
            name: [frame.decode() for frame in frames] for name, frames in self._frames.items()
        }

    @classmethod
    def capture(cls, directory: Path) -> WalImage:
        return cls({p.name: p.read_bytes() for p in sorted(directory.glob("*.wal"))})

    @property
    def segments(self) -> list[str]:
        return sorted(self.files)

    @property
    def last(self) -> str:
        return self.segments[-1]

    def frames(self, name: str) -> list[Frame]:
        """The records of an undamaged segment, in order."""
        return self._frames[name]

    def write(self, directory: Path, replaced: dict[str, bytes] | None = None) -> Path:
        """Write the image into `directory`, with some segments' bytes replaced."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (directory / name).write_bytes((replaced or {}).get(name, data))
        return directory

    def replay(self, last_frames: int) -> tuple[HardState, list[Entry]]:
        """What read_all should return when only the first `last_frames` records of the last
        segment survive (the WAL holds no conflicting entries)."""
        records = [r for name in self.segments[:-1] for r in self._records[name]]
        records += self._records[self.last][:last_frames]
        state, entries = HardState(), []
        for record in records:
            if record.kind is RecordKind.ENTRY:
                entries.append(record.value)
            elif record.kind is RecordKind.HARD_STATE:
                state = record.value
        return state, entries


def _walk(buf: bytes) -> list[Frame]:
    frames: list[Frame] = []
    offset = 0
    while (frame := frame_at(buf, offset)) is not None:
        frames.append(frame)
        offset = frame.end
    return frames


def recover(directory: Path, segment_size: int) -> tuple[HardState, list[Entry]]:
    """Open the WAL at its start and replay it, as a restarting member does."""
    with WAL.open(directory, segment_size=segment_size) as wal:
        _, state, entries = wal.read_all()
    return state, entries
