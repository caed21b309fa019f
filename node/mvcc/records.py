"""The MVCC key space's records: revisions, key-values and watch events, with their encodings.

A revision is (main, sub): every write transaction takes one new main revision and each change
in it the next sub. In the backend's `key` database a change is stored under its revision's
17 bytes (main big-endian, `_`, sub big-endian), with a trailing `t` for a tombstone, exactly as
etcd lays out its `key` bucket, so a cursor walks history in revision order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple, Protocol

import cbor2

_REV = struct.Struct(">Q")
REVISION_BYTES = 17
TOMBSTONE_MARK = b"t"


class Revision(NamedTuple):
    """A point in the key space's history; compares in (main, sub) order."""

    main: int
    sub: int = 0

    def to_bytes(self, tombstone: bool = False) -> bytes:
        raw = _REV.pack(self.main) + b"_" + _REV.pack(self.sub)
        return raw + TOMBSTONE_MARK if tombstone else raw

    @classmethod
    def from_bytes(cls, raw: bytes) -> Revision:
        return cls(_REV.unpack_from(raw, 0)[0], _REV.unpack_from(raw, 9)[0])


def is_tombstone(raw_revision: bytes) -> bool:
    """True when a `key` database key marks a deletion."""
    return len(raw_revision) == REVISION_BYTES + 1 and raw_revision[-1:] == TOMBSTONE_MARK


@dataclass(slots=True)
class KeyValue:
    """A key's value at one revision, with etcd's mvccpb.KeyValue fields and meanings.

    create_revision: revision of the put that started this key's current generation;
    mod_revision: revision of this change; version: 1 at creation, +1 per put, reset by delete;
    lease: the attached lease id, 0 for none.
    """

    key: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0

    def to_wire(self) -> list:
        return [
            self.key,
            self.create_revision,
            self.mod_revision,
            self.version,
            self.value,
            self.lease,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> KeyValue:
        key, create_revision, mod_revision, version, value, lease = obj
        return cls(key, create_revision, mod_revision, version, value, lease)

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_wire())

    @classmethod
    def decode(cls, raw: bytes) -> KeyValue:
        return cls.from_wire(cbor2.loads(raw))

    def etcd_encoding(self) -> bytes:
        """The protobuf mvccpb.KeyValue etcd stores in its `key` bucket (zero fields left out),
        so that HashKV, hashing this, gives etcd's hash for the same history."""
        parts: list[bytes] = []
        if self.key:
            parts += (b"\x0a", _varint(len(self.key)), self.key)
        for tag, number in (
            (b"\x10", self.create_revision),
            (b"\x18", self.mod_revision),
            (b"\x20", self.version),
        ):
            if number:
                parts += (tag, _varint(number))
        if self.value:
            parts += (b"\x2a", _varint(len(self.value)), self.value)
        if self.lease:
            parts += (b"\x30", _varint(self.lease))
        return b"".join(parts)


def _varint(number: int) -> bytes:
    """A protobuf varint; a negative int64 as its 64-bit two's complement, as protobuf does."""
    number &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


class EventType(IntEnum):
    PUT = 0
    DELETE = 1


@dataclass(slots=True)
class Event:
    """One change seen by a watcher. For DELETE, kv holds the key and the deleting revision."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    def is_create(self) -> bool:
        return self.type is EventType.PUT and self.kv.create_revision == self.kv.mod_revision


class LeaseAttacher(Protocol):
    """What the key space needs from the lessor: attach keys to leases and check leases exist."""

    def exists(self, lease_id: int) -> bool: ...

    def attach(self, lease_id: int, key: bytes) -> None: ...

    def detach(self, lease_id: int, key: bytes) -> None: ...
