"""How the key space stores its records: revisions and key-values in the backend's encodings.

A revision is (main, sub): every write transaction takes one new main revision and each change
in it the next sub. In the backend's `key` database a change is stored under its revision's
17 bytes (main big-endian, `_`, sub big-endian), with a trailing `t` for a tombstone, exactly as
etcd lays out its `key` bucket, so a cursor walks history in revision order. The value stored
is the KeyValue's wire form in cbor2.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Protocol

import cbor2

from node.messages.key_value import KeyValue

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


def encode_key_value(kv: KeyValue) -> bytes:
    """A KeyValue as the `key` database stores it."""
    return cbor2.dumps(kv.to_wire())


def decode_key_value(raw: bytes) -> KeyValue:
    """A KeyValue read back from the `key` database."""
    return KeyValue.from_wire(cbor2.loads(raw))


def decode_index_fields(raw: bytes) -> tuple[bytes, int, int, int]:
    """(key, create_revision, version, lease) of a stored KeyValue: what rebuilding the index
    needs, without building a KeyValue for each of a million records."""
    key, create_revision, _, version, _, lease = cbor2.loads(raw)
    return key, create_revision, version, lease


class LeaseAttacher(Protocol):
    """What the key space needs from the lessor: attach keys to leases and check leases exist."""

    def exists(self, lease_id: int) -> bool: ...

    def attach(self, lease_id: int, key: bytes) -> None: ...

    def detach(self, lease_id: int, key: bytes) -> None: ...
