"""Write a new bbolt database from buckets whose keys arrive in order (a bulk load).

Leaf pages are written as they fill, so a bucket of any size streams through a small buffer;
the branch levels above them are built from each page's first key once a bucket ends. A
bucket whose one leaf would take at most a quarter page is stored inline in its parent, as
bbolt's inlineable() decides. The result passes bbolt's `tx.Check()`: every page below the
high-water mark is reachable exactly once, and the freelist (empty) is written.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from node.bbolt.page import (
    BUCKET_HEADER,
    BUCKET_LEAF_FLAG,
    FREELIST_PAGE,
    META_PAGE,
    PAGE_HEADER,
    PAGE_SIZE,
    Meta,
    branch_element_size,
    branch_page,
    leaf_element_size,
    leaf_page,
    page_header,
)

Items = Iterable[tuple[bytes, bytes]]

_TXID = 2
"""The transaction id of the written state (bbolt's WriteTo gives meta 1 one less)."""


class _PageFile:
    """Pages appended to the file in id order, the first two left for the meta pages."""

    def __init__(self, file: BinaryIO, page_size: int) -> None:
        self.file = file
        self.page_size = page_size
        self.next_id = 2
        file.seek(2 * page_size)

    def append(self, build: Callable[[int], bytes]) -> int:
        """Write the page `build(page_id)` returns (padded to whole pages) and return its id;
        a page longer than one takes overflow pages after it."""
        page_id = self.next_id
        raw = build(page_id)
        pages = -(-len(raw) // self.page_size)
        if pages > 1:
            raw = raw[:12] + (pages - 1).to_bytes(4, "little") + raw[16:]
        self.file.write(raw.ljust(pages * self.page_size, b"\0"))
        self.next_id += pages
        return page_id


class _TreeBuilder:
    """Packs one bucket's sorted elements into leaf pages as they come, then branches."""

    def __init__(self, pages: _PageFile, leaf_flags: int = 0) -> None:
        self._pages = pages
        self._flags = leaf_flags
        self._items: list[tuple[bytes, bytes, int]] = []
        self._size = PAGE_HEADER.size
        self._children: list[tuple[bytes, int]] = []
        self._last: bytes | None = None

    def add(self, key: bytes, value: bytes) -> None:
        if self._last is not None and key <= self._last:
            raise ValueError(f"keys must be added in increasing order: {key!r} after "
                             f"{self._last!r}")
        self._last = key
        size = leaf_element_size(key, value)
        if self._items and self._size + size > self._pages.page_size:
            self._flush_leaf()
        self._items.append((key, value, self._flags))
        self._size += size

    def _flush_leaf(self) -> None:
        items = self._items
        first = items[0][0] if items else b""  # an empty tree is one empty leaf
        self._children.append(
            (first, self._pages.append(lambda page_id: leaf_page(items, page_id)))
        )
        self._items, self._size = [], PAGE_HEADER.size

    def finish(self) -> int:
        """Write what is left and the branch levels; the id of the tree's root page."""
        if self._items or not self._children:
            self._flush_leaf()
        level = self._children
        while len(level) > 1:
            level = self._branch_level(level)
        return level[0][1]

    def _branch_level(self, children: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
        parents: list[tuple[bytes, int]] = []
        group: list[tuple[bytes, int]] = []
        size = PAGE_HEADER.size
        for key, child in children:
            element = branch_element_size(key)
            if group and size + element > self._pages.page_size:
                parents.append(self._write_branch(group))
                group, size = [], PAGE_HEADER.size
            group.append((key, child))
            size += element
        parents.append(self._write_branch(group))
        return parents

    def _write_branch(self, group: list[tuple[bytes, int]]) -> tuple[bytes, int]:
        return group[0][0], self._pages.append(lambda page_id: branch_page(group, page_id))


def _bucket_value(pages: _PageFile, items: Items) -> bytes:
    """A nested bucket's value in its parent: inline when small enough, else its tree."""
    limit = pages.page_size // 4
    held: list[tuple[bytes, bytes, int]] = []
    size = PAGE_HEADER.size
    iterator = iter(items)
    for key, value in iterator:
        held.append((key, value, 0))
        size += leaf_element_size(key, value)
        if size > limit:
            break
    else:
        for (before, _, _), (after, _, _) in itertools.pairwise(held):
            if after <= before:
                raise ValueError(f"keys must be added in increasing order: {after!r} after "
                                 f"{before!r}")
        return BUCKET_HEADER.pack(0, 0) + leaf_page(held)
    tree = _TreeBuilder(pages)
    for key, value, _ in held:
        tree.add(key, value)
    for key, value in iterator:
        tree.add(key, value)
    return BUCKET_HEADER.pack(tree.finish(), 0)


def write_bolt(
    path: str | os.PathLike, buckets: Iterable[tuple[bytes, Items]], page_size: int = PAGE_SIZE
) -> int:
    """Write a new bbolt database at `path` holding `buckets`, (name, items) in increasing
    name order, each bucket's (key, value) items in increasing key order. Returns its size."""
    with open(Path(path), "wb") as file:
        pages = _PageFile(file, page_size)
        root = _TreeBuilder(pages, BUCKET_LEAF_FLAG)
        for name, items in buckets:
            root.add(name, _bucket_value(pages, items))
        root_id = root.finish()
        freelist = pages.append(lambda page_id: page_header(page_id, FREELIST_PAGE, 0))
        meta = Meta(page_size, root_id, freelist, pages.next_id, _TXID)
        for page_id in (0, 1):
            file.seek(page_id * page_size)
            raw = page_header(page_id, META_PAGE, 0) + meta.encode()
            file.write(raw.ljust(page_size, b"\0"))
            meta.txid -= 1
        file.flush()
        os.fsync(file.fileno())
        return pages.next_id * page_size
