"""Segment files: their names, and reading one back while telling a torn tail from damage.

A crash can only tear what was written after the last completed fsync, and only in the last
segment. So when a record of the last segment fails its check, the reader looks past it: if
nothing after it verifies, the bad bytes are a torn tail (cut off on repair). If a record that
was written after a completed fsync verifies behind it, the bad record had been synced: that
is corruption. If only unsynced records verify behind it, it is a torn write whose pages
reached the disk out of order, provided a zeroed sector (a page that never landed) shows it;
otherwise it is corruption. Damage in any earlier segment is always corruption.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from node.raft.types import MalformedRecord
from node.wal.errors import WalCorruptError, WalNotFoundError
from node.wal.record import (
    HEADER,
    MAX_PAYLOAD,
    PASSED_ENTRY,
    PAYLOAD_START,
    Frame,
    Record,
    RecordKind,
    decode_payload,
    frame_at,
    header_at,
    passed_entry,
)

SEGMENT_SUFFIX = ".wal"
SECTOR_SIZE = 512

_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")
_ZERO_SECTOR = bytes(SECTOR_SIZE)
_ENTRY = int(RecordKind.ENTRY)


@dataclass(slots=True, frozen=True, order=True)
class SegmentName:
    """A segment's sequence number and the raft index of the first entry it may hold."""

    seq: int
    index: int

    @property
    def filename(self) -> str:
        return f"{self.seq:016x}-{self.index:016x}{SEGMENT_SUFFIX}"

    @classmethod
    def parse(cls, filename: str) -> SegmentName | None:
        match = _NAME.match(filename)
        if match is None:
            return None
        return cls(int(match[1], 16), int(match[2], 16))


def list_segments(directory: Path) -> list[SegmentName]:
    """The segment files in `directory`, oldest first; other files are ignored."""
    names = (SegmentName.parse(path.name) for path in directory.iterdir())
    return sorted(name for name in names if name is not None)


def select_segments(directory: Path, names: list[SegmentName], index: int) -> list[SegmentName]:
    """The segments replay from snapshot `index` needs: from the last one starting at or
    before it to the end, with no sequence number missing."""
    covering = [i for i, name in enumerate(names) if name.index <= index]
    if not covering:
        raise WalNotFoundError(
            f"wal: file not found: no segment in {directory} covers snapshot index {index}"
        )
    selected = names[covering[-1]:]
    check_contiguous(directory, selected)
    return selected


def check_contiguous(directory: Path, names: list[SegmentName]) -> None:
    """WalNotFoundError unless the sequence numbers of `names` follow one another."""
    for before, after in itertools.pairwise(names):
        if after.seq != before.seq + 1:
            raise WalNotFoundError(
                f"wal: file not found: segment sequence {before.seq + 1} is missing in {directory}"
            )


class RecordSpan(NamedTuple):
    """Where one record sits in its segment (offset of its header, end of its payload) and
    the crc it carries: what an inspector shows beside the record."""

    offset: int
    end: int
    crc: int


@dataclass(slots=True)
class SegmentContents:
    """The good records of one segment, where each sits (when asked), where they end, and
    the crc chain after them."""

    records: list[Record]
    spans: list[RecordSpan]
    end: int
    chain: int
    torn: bool


class _Ending(Enum):
    ZEROS = "zeros"
    TORN = "torn"
    CORRUPT = "corrupt"


def read_segment(
    path: Path, chain: int | None, last: bool, entries_from: int = 0
) -> SegmentContents:
    """Decode a segment whose first record must continue `chain` (None: adopt its value).

    Only the last segment may end in zeros or a torn tail (`torn` tells the caller to cut
    there before appending); any other damage raises WalCorruptError. Entries with an index
    below `entries_from` are checked but not decoded (their records' values are None).
    """
    contents, damage = read_segment_until_damage(path, chain, last, entries_from, False)
    if damage is not None:
        raise damage
    return contents


def read_segment_until_damage(
    path: Path, chain: int | None, last: bool, entries_from: int = 0, with_spans: bool = True
) -> tuple[SegmentContents, WalCorruptError | None]:
    """As `read_segment`, but damage after the segment's opening records is returned beside
    the good records before it rather than raised: what an inspector shows (with each
    record's span, unless `with_spans` is False: a replay needs none)."""
    buf = path.read_bytes()
    records: list[Record] = []
    spans: list[RecordSpan] | None = [] if with_spans else None
    offset = 0
    link = 0
    first = frame_at(buf, 0)
    if first is not None:
        record = _decode(first, path)
        # The leading crc record carries the chain value it is itself chained on.
        if record.kind is RecordKind.CRC and first.chains_on(record.value):
            if chain is not None and record.value != chain:
                raise WalCorruptError("walpb: crc mismatch (segment breaks the chain)", path, 0)
            records.append(record)
            if spans is not None:
                spans.append(RecordSpan(0, first.end, first.crc))
            link, offset = first.crc, first.end
    # The rest, as frame_at and Frame.chains_on would read them, inlined: a restart reads
    # every record of the segments it replays, and the calls cost more than the checks.
    if records:
        size, view, unpack = len(buf), memoryview(buf), HEADER.unpack_from
        while offset + HEADER.size <= size:
            word, crc = unpack(buf, offset)
            length = word & MAX_PAYLOAD
            start = offset + HEADER.size
            end = start + length
            if length == 0 or end > size:
                break
            if crc32c(view[start:end], value=crc32c(view[offset:start - 4], value=link)) != crc:
                break
            try:
                if (
                    entries_from
                    and buf[start + 1] == _ENTRY
                    and passed_entry(buf, start, end, entries_from)
                ):
                    record = PASSED_ENTRY
                else:
                    record = decode_payload(buf[start:end])
            except MalformedRecord as exc:
                raise WalCorruptError(f"wal: malformed record ({exc})", path, offset) from exc
            _check_position(record, len(records), path, offset)
            records.append(record)
            if spans is not None:
                spans.append(RecordSpan(offset, end, crc))
            link, offset = crc, end
    if len(records) < 2:
        raise WalCorruptError(
            "wal: segment does not start with its crc and metadata records", path, offset
        )
    contents = SegmentContents(records, spans or [], offset, link, torn=False)
    if offset == len(buf):
        return contents, None
    if not last:
        return contents, WalCorruptError(_describe(buf, offset), path, offset)
    ending = _classify_tail(buf, offset, link)
    if ending is _Ending.CORRUPT:
        reason = _describe(buf, offset) + ", and valid records follow it"
        return contents, WalCorruptError(reason, path, offset)
    contents.torn = ending is _Ending.TORN
    return contents, None


def _decode(frame: Frame, path: Path) -> Record:
    try:
        return frame.decode()
    except MalformedRecord as exc:
        raise WalCorruptError(f"wal: malformed record ({exc})", path, frame.offset) from exc


def _check_position(record: Record, position: int, path: Path, offset: int) -> None:
    if position == 1 and record.kind is not RecordKind.METADATA:
        raise WalCorruptError("wal: segment's second record is not its metadata", path, offset)
    if position > 0 and record.kind is RecordKind.CRC:
        raise WalCorruptError("wal: crc record inside a segment", path, offset)


def _describe(buf: bytes, offset: int) -> str:
    header = header_at(buf, offset)
    if header is None:
        return "wal: unexpected EOF inside a record header"
    if header[0] & MAX_PAYLOAD == 0:
        return "wal: zero-length record"
    if frame_at(buf, offset) is None:
        return "wal: unexpected EOF: record extends past the end of the file"
    return "walpb: crc mismatch"


def _classify_tail(buf: bytes, bad: int, link: int) -> _Ending:
    data_end = len(buf.rstrip(b"\x00"))
    if data_end <= bad:
        return _Ending.ZEROS
    survivors = _verified_records_after(buf, bad, data_end, link)
    if not survivors:
        return _Ending.TORN
    if any(frame.synced for frame in survivors):
        return _Ending.CORRUPT
    if _has_zero_sector(buf, bad, survivors[0].offset):
        return _Ending.TORN
    return _Ending.CORRUPT


def _verified_records_after(buf: bytes, bad: int, data_end: int, link: int) -> list[Frame]:
    """Records between the bad one at `bad` and `data_end` whose crc proves them genuine.

    A record is proven if it chains on the bad record's stored crc or on the crc its bytes
    would have (one damaged field), or on the record just before it (two or more survive).
    """
    anchors = set()
    header = header_at(buf, bad)
    if header is not None:
        anchors.add(header[1])
    damaged = frame_at(buf, bad)
    if damaged is not None:
        anchors.add(damaged.expected_crc(link))
    found: dict[int, Frame] = {}
    for match in PAYLOAD_START.finditer(buf, bad + HEADER.size + 1, data_end):
        candidate = frame_at(buf, match.start() - HEADER.size)
        if candidate is None:
            continue
        if any(candidate.chains_on(anchor) for anchor in anchors):
            found[candidate.offset] = candidate
        successor = frame_at(buf, candidate.end)
        if successor is not None and successor.chains_on(candidate.crc):
            found[successor.offset] = successor
    return [found[offset] for offset in sorted(found)]


def _has_zero_sector(buf: bytes, start: int, stop: int) -> bool:
    first = -(-start // SECTOR_SIZE) * SECTOR_SIZE
    return any(
        buf[sector:sector + SECTOR_SIZE] == _ZERO_SECTOR
        for sector in range(first, stop - SECTOR_SIZE + 1, SECTOR_SIZE)
    )
