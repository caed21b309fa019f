"""Reading a WAL directory for inspection: never takes its lock, never repairs anything.

A member may be writing the WAL at the same time, so its last segment may end in a record
being written: that is reported as a torn tail (where it starts) and left alone, where
`WAL.open` would cut it off. Damage anywhere else raises WalCorruptError naming the file and
the byte offset, after the records before it were yielded (in a SegmentScan of their own).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from node.wal.errors import WalNotFoundError
from node.wal.record import Record
from node.wal.segment import (
    RecordSpan,
    SegmentName,
    check_contiguous,
    list_segments,
    read_segment_until_damage,
)


class SegmentEnd(Enum):
    """How a segment's good records end."""

    FILE_END = "end of file"
    ZEROS = "preallocated zeros"
    TORN = "torn tail"
    DAMAGE = "damage"


@dataclass(slots=True)
class SegmentScan:
    """One segment's records with their places, and how it ends."""

    name: SegmentName
    path: Path
    file_size: int
    records: list[Record]
    spans: list[RecordSpan]
    end: int
    ending: SegmentEnd


def scan_wal(directory: Path | str) -> Iterator[SegmentScan]:
    """The segments of the WAL in `directory`, oldest first, each with its verified records."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WalNotFoundError(f"wal: file not found: {directory} does not exist")
    segments = list_segments(directory)
    if not segments:
        raise WalNotFoundError(f"wal: file not found: no segments in {directory}")
    check_contiguous(directory, segments)
    chain: int | None = None
    for position, name in enumerate(segments):
        path = directory / name.filename
        contents, damage = read_segment_until_damage(path, chain, position == len(segments) - 1)
        chain = contents.chain
        file_size = path.stat().st_size
        if damage is not None:
            yield SegmentScan(name, path, file_size, contents.records, contents.spans,
                              contents.end, SegmentEnd.DAMAGE)
            raise damage
        if contents.torn:
            ending = SegmentEnd.TORN
        elif contents.end < file_size:
            ending = SegmentEnd.ZEROS
        else:
            ending = SegmentEnd.FILE_END
        yield SegmentScan(
            name, path, file_size, contents.records, contents.spans, contents.end, ending
        )
