"""The key space's records as clients see them: etcd's mvccpb KeyValue and Event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


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
