"""WAL records: the five kinds, and how one is framed on disk with a chained CRC-32C.

A frame is `word | crc | payload`. `word` (4 bytes, big-endian) holds the payload length in its
low 31 bits and, in its top bit, the *synced* flag: set when every earlier byte of the segment
had been fsynced before this record was written. `crc` (4 bytes) is the CRC-32C of word and
payload, seeded with the previous record's crc, so a WAL's records form one chain. `payload` is
the cbor2 list `[kind, body]`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2
from crc32c import crc32c

from node.raft.types import Entry, HardState, MalformedRecord

HEADER = struct.Struct(">II")
_WORD = struct.Struct(">I")
SYNCED_FLAG = 1 << 31
MAX_PAYLOAD = SYNCED_FLAG - 1


class RecordKind(IntEnum):
    """What a record holds; numbered as etcd's walpb record types."""

    METADATA = 1
    ENTRY = 2
    HARD_STATE = 3
    CRC = 4
    SNAPSHOT = 5


_KINDS = {int(kind): kind for kind in RecordKind}

# Every payload opens with a two-item cbor array header and a kind: the bytes a scan for
# records hidden behind a damaged one looks for.
PAYLOAD_START = re.compile(rb"\x82[\x01-\x05]")


@dataclass(slots=True)
class WalSnapshot:
    """A snapshot marker: the snapshot at (index, term) is saved, so replay may start after it."""

    index: int = 0
    term: int = 0

    def to_wire(self) -> list:
        return [self.index, self.term]

    @classmethod
    def from_wire(cls, obj: Any) -> WalSnapshot:
        if not isinstance(obj, list) or len(obj) != 2:
            raise MalformedRecord(f"expected [index, term], got {obj!r:.80}")
        return cls(_uint(obj[0]), _uint(obj[1]))


@dataclass(slots=True)
class Record:
    """One decoded record: its kind and its value (bytes, Entry, HardState, int or WalSnapshot;
    None for an entry a reader passed over)."""

    kind: RecordKind
    value: Any


@dataclass(slots=True)
class Frame:
    """One record's bytes as found at `offset`, shaped like a record but not yet CRC-checked."""

    offset: int
    end: int
    word: int
    crc: int
    payload: bytes

    @property
    def synced(self) -> bool:
        return bool(self.word & SYNCED_FLAG)

    def expected_crc(self, prev_crc: int) -> int:
        """The crc this frame's bytes get when chained on `prev_crc`."""
        return crc32c(self.payload, value=crc32c(_WORD.pack(self.word), value=prev_crc))

    def chains_on(self, prev_crc: int) -> bool:
        return self.expected_crc(prev_crc) == self.crc

    def decode(self) -> Record:
        """The record in the payload; MalformedRecord if it is not one."""
        return decode_payload(self.payload)


def decode_payload(payload: bytes) -> Record:
    """The record a frame's payload holds; MalformedRecord if it is not one."""
    try:
        obj = cbor2.loads(payload)
    except cbor2.CBORDecodeError as exc:
        raise MalformedRecord(f"record payload is not valid cbor: {exc}") from exc
    if not isinstance(obj, list) or len(obj) != 2:
        raise MalformedRecord(f"expected [kind, body], got {obj!r:.80}")
    kind = _KINDS.get(obj[0]) if type(obj[0]) is int else None
    if kind is None:
        raise MalformedRecord(f"unknown record kind {obj[0]!r:.80}")
    return Record(kind, _FROM_WIRE[kind](obj[1]))


def encode_record(kind: RecordKind, value: Any, prev_crc: int, synced: bool) -> tuple[bytes, int]:
    """The framed bytes of one record chained on `prev_crc`, and its crc (the next link)."""
    payload = cbor2.dumps([int(kind), _TO_WIRE[kind](value)])
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a WAL record holds at most {MAX_PAYLOAD} bytes, got {len(payload)}")
    word = len(payload) | (SYNCED_FLAG if synced else 0)
    word_bytes = _WORD.pack(word)
    crc = crc32c(payload, value=crc32c(word_bytes, value=prev_crc))
    return word_bytes + _WORD.pack(crc) + payload, crc


def header_at(buf: bytes, offset: int) -> tuple[int, int] | None:
    """The (word, crc) header at `offset`, or None if the buffer ends inside it."""
    if offset + HEADER.size > len(buf):
        return None
    return HEADER.unpack_from(buf, offset)


def frame_at(buf: bytes, offset: int) -> Frame | None:
    """The frame at `offset` if its header is whole and its payload fits in the buffer."""
    header = header_at(buf, offset)
    if header is None:
        return None
    word, crc = header
    length = word & MAX_PAYLOAD
    start = offset + HEADER.size
    end = start + length
    if length == 0 or end > len(buf):
        return None
    return Frame(offset, end, word, crc, buf[start:end])


def _uint(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise MalformedRecord(f"expected a non-negative integer, got {value!r:.80}")
    return value


PASSED_ENTRY = Record(RecordKind.ENTRY, None)
"""The record of every entry a reader passes over (shared: it is never changed)."""

_ENTRY_START = b"\x82\x02\x84"
"""A cbor entry record: [kind, [term, index, type, data]]."""


def passed_entry(buf: bytes, start: int, end: int, bound: int) -> bool:
    """Whether the payload at buf[start:end] opens as an entry record whose index is below
    `bound`, read from its first bytes: cbor2 has no partial decode, and decoding whole
    entries the snapshot covers was most of a restart. False sends it to a full decode."""
    if buf[start : start + 3] != _ENTRY_START:
        return False
    position = start + 3 + _uint_size(buf[start + 3])  # past the term
    if position >= end:
        return False
    head = buf[position]
    if head < 24:
        return head < bound
    size = _uint_size(head) - 1
    if size <= 0 or position + 1 + size > end:
        return False
    return int.from_bytes(buf[position + 1 : position + 1 + size]) < bound


def _uint_size(head: int) -> int:
    """Bytes a cbor unsigned integer takes from its first byte `head` (a huge number for
    anything else, so a caller's bounds check fails)."""
    if head < 24:
        return 1
    if head <= 27:
        return 1 + (1 << (head - 24))
    return 1 << 62


def _metadata(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise MalformedRecord(f"metadata must be bytes, got {type(value).__name__}")
    return value


def _crc(value: Any) -> int:
    if _uint(value) > 0xFFFFFFFF:
        raise MalformedRecord(f"a crc is 32 bits, got {value}")
    return value


_TO_WIRE: dict[RecordKind, Callable[[Any], Any]] = {
    RecordKind.METADATA: bytes,
    RecordKind.ENTRY: Entry.to_wire,
    RecordKind.HARD_STATE: HardState.to_wire,
    RecordKind.CRC: int,
    RecordKind.SNAPSHOT: WalSnapshot.to_wire,
}

_FROM_WIRE: dict[RecordKind, Callable[[Any], Any]] = {
    RecordKind.METADATA: _metadata,
    RecordKind.ENTRY: Entry.from_wire,
    RecordKind.HARD_STATE: HardState.from_wire,
    RecordKind.CRC: _crc,
    RecordKind.SNAPSHOT: WalSnapshot.from_wire,
}
