"""Read a bbolt database: its meta page, top-level buckets and their keys in order.

Opens the file as bbolt does (the meta page with the higher transaction id that validates,
bbolt's error texts when none does) and walks each bucket's B+tree, inline or not, with
overflow pages. Damage found on the way (a page past the file's end or the high-water mark, a
page of the wrong type, a loop) is a BoltFormatError, never a crash or a silent skip.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from node.bbolt.page import (
    BRANCH_ELEMENT,
    BRANCH_PAGE,
    BUCKET_HEADER,
    BUCKET_LEAF_FLAG,
    LEAF_ELEMENT,
    LEAF_PAGE,
    META,
    PAGE_HEADER,
    PAGE_SIZE,
    BoltFormatError,
    Meta,
)

MAX_DEPTH = 64
"""Deeper than any real tree: a deeper walk means pages point in a loop."""


@contextmanager
def open_bolt(path: str | os.PathLike) -> Iterator[BoltReader]:
    """A bbolt file opened read-only and memory-mapped, for the length of the block."""
    with open(Path(path), "rb") as file:
        file_size = os.fstat(file.fileno()).st_size
        if file_size < 2 * PAGE_HEADER.size + 2 * META.size:
            raise BoltFormatError("file size too small")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield BoltReader(mapped, file_size)


class BoltReader:
    """The current state of a mapped bbolt file: its meta page and its buckets."""

    def __init__(self, mapped: mmap.mmap, file_size: int) -> None:
        self._map = mapped
        self.meta = self._current_meta(file_size)

    @property
    def page_size(self) -> int:
        return self.meta.page_size

    @property
    def size(self) -> int:
        """Bytes the database's pages take (bbolt's tx.Size(): high-water mark x page size)."""
        return self.meta.pgid * self.meta.page_size

    def _meta_at(self, offset: int) -> Meta:
        raw = self._map[offset + PAGE_HEADER.size:offset + PAGE_HEADER.size + META.size]
        if len(raw) < META.size:
            raise BoltFormatError("file size too small")
        meta = Meta.decode(raw)
        meta.validate(raw)
        return meta

    def _current_meta(self, file_size: int) -> Meta:
        first: Meta | None = None
        try:
            first = self._meta_at(0)
        except BoltFormatError as exc:
            error0 = exc
        page_size = first.page_size if first is not None else PAGE_SIZE
        second: Meta | None = None
        try:
            second = self._meta_at(page_size)
        except BoltFormatError:
            if first is None:
                raise error0 from None
        metas = [m for m in (first, second) if m is not None]
        meta = max(metas, key=lambda m: m.txid)
        if meta.page_size < PAGE_HEADER.size + META.size or meta.root >= meta.pgid:
            raise BoltFormatError("invalid database")
        if file_size < meta.pgid * meta.page_size:
            raise BoltFormatError(
                f"file size {file_size} is less than the {meta.pgid} pages of "
                f"{meta.page_size} bytes its meta page names: the file was cut short"
            )
        return meta

    # -- pages ------------------------------------------------------------------------------

    def _page(self, page_id: int) -> bytes:
        if page_id < 2 or page_id >= self.meta.pgid:
            raise BoltFormatError(f"page {page_id}: out of bounds: {self.meta.pgid}")
        start = page_id * self.page_size
        header_id, _, _, overflow = PAGE_HEADER.unpack_from(self._map, start)
        if header_id != page_id:
            raise BoltFormatError(f"page {page_id}: its header names page {header_id}")
        end = start + (overflow + 1) * self.page_size
        if page_id + overflow >= self.meta.pgid:
            raise BoltFormatError(f"page {page_id}: overflow past the high-water mark")
        return self._map[start:end]

    def _walk(self, page: bytes, depth: int) -> Iterator[tuple[bytes, bytes, int]]:
        """(key, value, flags) of every leaf element under `page`, in key order."""
        if depth > MAX_DEPTH:
            raise BoltFormatError("pages point in a loop")
        _, flags, count, _ = PAGE_HEADER.unpack_from(page)
        try:
            if flags & LEAF_PAGE:
                for index in range(count):
                    at = PAGE_HEADER.size + index * LEAF_ELEMENT.size
                    elem_flags, pos, ksize, vsize = LEAF_ELEMENT.unpack_from(page, at)
                    key = page[at + pos:at + pos + ksize]
                    value = page[at + pos + ksize:at + pos + ksize + vsize]
                    if len(key) != ksize or len(value) != vsize:
                        raise BoltFormatError("leaf element past its page's end")
                    yield key, value, elem_flags
            elif flags & BRANCH_PAGE:
                children = []
                for index in range(count):
                    at = PAGE_HEADER.size + index * BRANCH_ELEMENT.size
                    children.append(BRANCH_ELEMENT.unpack_from(page, at)[2])
                for child in children:
                    yield from self._walk(self._page(child), depth + 1)
            else:
                raise BoltFormatError(f"invalid page type: {flags:#x}")
        except struct.error as exc:  # an element past the page's end
            raise BoltFormatError(f"damaged page: {exc}") from exc

    def _bucket_items(self, root: int) -> Iterator[tuple[bytes, bytes, int]]:
        return self._walk(self._page(root), 0)

    # -- buckets ----------------------------------------------------------------------------

    def bucket_names(self) -> list[bytes]:
        """The top-level buckets, in name order."""
        return [key for key, _, flags in self._bucket_items(self.meta.root)
                if flags & BUCKET_LEAF_FLAG]

    def items(self, bucket: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs of a top-level bucket in key order (nested buckets skipped);
        nothing when there is no such bucket."""
        for name, value, flags in self._bucket_items(self.meta.root):
            if name == bucket and flags & BUCKET_LEAF_FLAG:
                yield from self._nested(value)
                return

    def _nested(self, value: bytes) -> Iterator[tuple[bytes, bytes]]:
        if len(value) < BUCKET_HEADER.size:
            raise BoltFormatError("bucket value shorter than its header")
        root, _ = BUCKET_HEADER.unpack_from(value)
        elements = (
            self._walk(value[BUCKET_HEADER.size:], 0) if root == 0
            else self._bucket_items(root)
        )
        for key, item, flags in elements:
            if not flags & BUCKET_LEAF_FLAG:
                yield key, item
