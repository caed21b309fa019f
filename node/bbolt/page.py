"""bbolt's on-disk layout: page headers, meta pages, leaf and branch elements, bucket headers.

Every page starts with a 16-byte header (id, flags, count, overflow), little-endian as bbolt
writes it on amd64. Pages 0 and 1 are meta pages naming the root bucket's page, the freelist
page and the high-water page id, each guarded by an FNV-1a 64 checksum; the one with the higher
transaction id that validates is the database's current state. A bucket is a B+tree of branch
and leaf pages; a small bucket is stored inline, its one leaf page inside its parent's value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAGE_SIZE = 4096
"""The page size bbolt picks on Linux (the OS page size), as etcd's files have."""
MAGIC = 0xED0CDAED
VERSION = 2

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01
"""A leaf element's flag: its value is a nested bucket."""

NO_FREELIST = 0xFFFFFFFFFFFFFFFF
"""The freelist page id of a database opened with NoFreelistSync (no freelist written)."""

PAGE_HEADER = struct.Struct("<QHHI")
"""id, flags, count, overflow."""
LEAF_ELEMENT = struct.Struct("<IIII")
"""flags, pos (from the element itself), key size, value size."""
BRANCH_ELEMENT = struct.Struct("<IIQ")
"""pos (from the element itself), key size, child page id."""
BUCKET_HEADER = struct.Struct("<QQ")
"""root page id (0 for an inline bucket), sequence."""
META = struct.Struct("<IIII QQ QQQ Q")
"""magic, version, page size, flags, root bucket (root, sequence), freelist, pgid, txid,
checksum."""
_META_SUMMED = META.size - 8

MAX_FREELIST_COUNT = 0xFFFF
"""A freelist longer than this keeps its count in its first 8 bytes instead of the header."""


class BoltFormatError(Exception):
    """A file that is not a bbolt database, or a damaged one (bbolt's error texts)."""


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, the hash of a meta page's checksum (Go's hash/fnv New64a)."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


@dataclass(slots=True)
class Meta:
    """A meta page's fields: where the root bucket and the freelist are, how many pages."""

    page_size: int
    root: int
    freelist: int
    pgid: int
    txid: int
    flags: int = 0
    sequence: int = 0
    magic: int = MAGIC
    version: int = VERSION
    checksum: int = 0

    def encode(self) -> bytes:
        """The meta struct's bytes with a fresh checksum."""
        fields = (self.magic, self.version, self.page_size, self.flags, self.root,
                  self.sequence, self.freelist, self.pgid, self.txid)
        body = META.pack(*fields, 0)[:_META_SUMMED]
        return body + struct.pack("<Q", fnv1a64(body))

    @classmethod
    def decode(cls, raw: bytes) -> Meta:
        (magic, version, page_size, flags, root, sequence, freelist, pgid, txid,
         checksum) = META.unpack_from(raw)
        return cls(page_size, root, freelist, pgid, txid, flags, sequence, magic, version,
                   checksum)

    def validate(self, raw: bytes) -> None:
        """bbolt's meta.validate: magic, then version, then checksum."""
        if self.magic != MAGIC:
            raise BoltFormatError("invalid database")
        if self.version != VERSION:
            raise BoltFormatError("version mismatch")
        if self.checksum != fnv1a64(raw[:_META_SUMMED]):
            raise BoltFormatError("checksum error")


def page_header(page_id: int, flags: int, count: int, overflow: int = 0) -> bytes:
    return PAGE_HEADER.pack(page_id, flags, count, overflow)


def leaf_page(items: list[tuple[bytes, bytes, int]], page_id: int = 0) -> bytes:
    """A leaf page's bytes (header, elements, then each key and value) for (key, value,
    flags) items, unpadded."""
    head = [page_header(page_id, LEAF_PAGE, len(items))]
    data = []
    offset = len(items) * LEAF_ELEMENT.size
    for index, (key, value, flags) in enumerate(items):
        pos = offset - index * LEAF_ELEMENT.size
        head.append(LEAF_ELEMENT.pack(flags, pos, len(key), len(value)))
        data.append(key)
        data.append(value)
        offset += len(key) + len(value)
    return b"".join(head + data)


def branch_page(children: list[tuple[bytes, int]], page_id: int) -> bytes:
    """A branch page's bytes for (first key, child page id) pairs, unpadded."""
    head = [page_header(page_id, BRANCH_PAGE, len(children))]
    keys = []
    offset = len(children) * BRANCH_ELEMENT.size
    for index, (key, child) in enumerate(children):
        head.append(BRANCH_ELEMENT.pack(offset - index * BRANCH_ELEMENT.size, len(key), child))
        keys.append(key)
        offset += len(key)
    return b"".join(head + keys)


def leaf_element_size(key: bytes, value: bytes) -> int:
    return LEAF_ELEMENT.size + len(key) + len(value)


def branch_element_size(key: bytes) -> int:
    return BRANCH_ELEMENT.size + len(key)
