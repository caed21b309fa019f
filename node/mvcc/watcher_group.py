"""Watchers indexed by the keys they watch, so one change finds its watchers without a scan.

As etcd's watcherGroup: single-key watchers sit in a dict by key, range watchers in an
interval tree (here a treap ordered by range and augmented with the furthest end in each
subtree), so routing a change costs a dict lookup plus O(log n + matches) tree nodes no
matter how many watchers exist. A range end of b"" means "no upper bound" (etcd's from-key).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class KeyRanged(Protocol):
    """What the group needs of a member: `key`, and `end` (None: the single key `key`)."""

    key: bytes
    end: bytes | None


M = TypeVar("M", bound=KeyRanged)
"""The kind of member a group holds (the watchable store's Watcher)."""


def _reaches_past(end: bytes, key: bytes) -> bool:
    return end == b"" or end > key


def _further(a: bytes, b: bytes) -> bytes:
    if a == b"" or b == b"":
        return b""
    return max(a, b)


class _Node(Generic[M]):
    __slots__ = ("end", "left", "members", "order", "priority", "reach", "right", "start")

    def __init__(self, start: bytes, end: bytes) -> None:
        self.start = start
        self.end = end
        # unbounded ends sort after every bounded end of the same start
        self.order = (start, end == b"", end)
        self.members: set[M] = set()
        self.priority = random.random()
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.reach = end

    def refresh(self) -> None:
        reach = self.end
        if self.left is not None:
            reach = _further(reach, self.left.reach)
        if self.right is not None:
            reach = _further(reach, self.right.reach)
        self.reach = reach


def _split(node: _Node | None, order: tuple) -> tuple[_Node | None, _Node | None]:
    if node is None:
        return None, None
    if node.order < order:
        node.right, rest = _split(node.right, order)
        node.refresh()
        return node, rest
    rest, node.left = _split(node.left, order)
    node.refresh()
    return rest, node


def _merge(low: _Node | None, high: _Node | None) -> _Node | None:
    if low is None:
        return high
    if high is None:
        return low
    if low.priority > high.priority:
        low.right = _merge(low.right, high)
        low.refresh()
        return low
    high.left = _merge(low, high.left)
    high.refresh()
    return high


def _insert(node: _Node | None, new: _Node) -> _Node:
    if node is None:
        return new
    if new.priority > node.priority:
        new.left, new.right = _split(node, new.order)
        new.refresh()
        return new
    if new.order < node.order:
        node.left = _insert(node.left, new)
    else:
        node.right = _insert(node.right, new)
    node.refresh()
    return node


def _remove(node: _Node | None, order: tuple) -> _Node | None:
    if node is None:
        return None
    if node.order == order:
        return _merge(node.left, node.right)
    if order < node.order:
        node.left = _remove(node.left, order)
    else:
        node.right = _remove(node.right, order)
    node.refresh()
    return node


class RangeTree(Generic[M]):
    """Sets of members keyed by the key range [start, end) they watch; stabbing by one key."""

    def __init__(self) -> None:
        self._root: _Node[M] | None = None
        self.probes = 0

    def _find(self, order: tuple) -> _Node[M] | None:
        node = self._root
        while node is not None and node.order != order:
            node = node.left if order < node.order else node.right
        return node

    def add(self, start: bytes, end: bytes, member: M) -> None:
        """Add `member` under the range [start, end)."""
        order = (start, end == b"", end)
        node = self._find(order)
        if node is None:
            node = _Node[M](start, end)
            self._root = _insert(self._root, node)
        node.members.add(member)

    def discard(self, start: bytes, end: bytes, member: M) -> None:
        """Remove `member` from the range [start, end), dropping the range once empty."""
        order = (start, end == b"", end)
        node = self._find(order)
        if node is None:
            return
        node.members.discard(member)
        if not node.members:
            self._root = _remove(self._root, order)

    def stab(self, key: bytes) -> Iterator[set[M]]:
        """The member sets of every range containing `key`."""
        pending = [self._root]
        while pending:
            node = pending.pop()
            if node is None:
                continue
            self.probes += 1
            if not _reaches_past(node.reach, key):
                continue
            pending.append(node.left)
            if node.start <= key:
                if _reaches_past(node.end, key):
                    yield node.members
                pending.append(node.right)


class WatcherGroup(Generic[M]):
    """A set of watchers, findable by the key a change touches."""

    def __init__(self) -> None:
        self._by_key: dict[bytes, set[M]] = {}
        self._ranges = RangeTree[M]()
        # insertion-ordered, so a sync round that takes the first N serves them in turn
        self._members: dict[M, None] = {}
        self._lookups = 0

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, watcher: object) -> bool:
        return watcher in self._members

    def __iter__(self) -> Iterator[M]:
        return iter(self._members)

    @property
    def probes(self) -> int:
        """Index steps taken by `watching` so far (dict lookups and tree nodes visited)."""
        return self._lookups + self._ranges.probes

    def add(self, watcher: M) -> None:
        """Add a watcher that is not in the group yet."""
        self._members[watcher] = None
        if watcher.end is None:
            self._by_key.setdefault(watcher.key, set()).add(watcher)
        else:
            self._ranges.add(watcher.key, watcher.end, watcher)

    def discard(self, watcher: M) -> bool:
        """Remove `watcher`; False when it was not in the group."""
        if watcher not in self._members:
            return False
        del self._members[watcher]
        if watcher.end is None:
            same_key = self._by_key[watcher.key]
            same_key.discard(watcher)
            if not same_key:
                del self._by_key[watcher.key]
        else:
            self._ranges.discard(watcher.key, watcher.end, watcher)
        return True

    def watching(self, key: bytes) -> Iterator[M]:
        """Every watcher in the group whose key or range includes `key`."""
        self._lookups += 1
        exact = self._by_key.get(key)
        if exact:
            yield from exact
        for members in self._ranges.stab(key):
            yield from members
