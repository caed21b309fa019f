"""The in-memory key index: for every key, the revisions at which it changed, in generations.

Modelled on etcd's keyIndex and treeIndex. A key's history is a list of generations; a
generation runs from the put that created the key to the tombstone that deleted it (the live
generation has no tombstone yet). The index answers "which revision holds key K as of
revision R" without touching the backend, and compaction forgets revisions nobody can ask
for any more.

To keep a million keys small, a revision is held as one packed int, `main << 32 | sub`
(see `pack`), so sorting and comparing packed ints orders revisions exactly as (main, sub),
and a key whose kept history is the one put that created it (most keys of a big key space)
is held in the RevisionIndex as that put's packed revision alone, without a KeyIndex: a
KeyIndex and its list cost 130 bytes a key more. It becomes a KeyIndex when it next changes.
"""

from __future__ import annotations

from bisect import bisect_left

from sortedcontainers import SortedDict

SUB_BITS = 32
_SUB_MASK = (1 << SUB_BITS) - 1


def pack(main: int, sub: int = 0) -> int:
    """A revision as one int that orders like (main, sub)."""
    return main << SUB_BITS | sub


def main_of(packed: int) -> int:
    return packed >> SUB_BITS


def sub_of(packed: int) -> int:
    return packed & _SUB_MASK


def _below(main: int) -> int:
    """The smallest packed revision whose main revision is greater than `main`."""
    return (main + 1) << SUB_BITS


class Generation:
    """A finished life of a key: from its creating put to (and including) its tombstone."""

    __slots__ = ("created", "revs", "version")

    def __init__(self, created: int, version: int, revs: list[int]) -> None:
        self.created = created
        self.version = version
        self.revs = revs


class KeyIndex:
    """One key's revisions: the live generation inline, finished generations in `closed`.

    created: packed revision that started the live generation (0 when it is empty, i.e. the
    key is deleted); version: puts in the live generation, counting compacted ones; revs:
    the live generation's packed revisions still kept; closed: finished generations, oldest
    first, or None (most keys never have one).
    """

    __slots__ = ("closed", "created", "revs", "version")

    def __init__(self) -> None:
        self.created = 0
        self.version = 0
        self.revs: list[int] = []
        self.closed: list[Generation] | None = None

    def is_empty(self) -> bool:
        """True when the key has no revision left at all (it can leave the index)."""
        return not self.revs and not self.closed

    def is_live(self) -> bool:
        """True when the key exists now (its live generation is not empty)."""
        return bool(self.revs)

    def put(self, rev: int) -> None:
        """Record a put at `rev`; on a deleted (or new) key it starts a generation."""
        if self.revs:
            self.revs.append(rev)
            self.version += 1
        else:
            self.created = rev
            self.version = 1
            self.revs = [rev]  # a literal: no spare capacity for the many never-updated keys

    def restore(self, created: int, rev: int, version: int) -> None:
        """Start the live generation at a revision read back from the backend."""
        self.created = created
        self.version = version
        self.revs = [rev]

    def tombstone(self, rev: int) -> None:
        """Record a deletion: it ends the live generation and opens an empty one."""
        if not self.revs:
            raise KeyError("tombstone on a key that is not live")
        self.put(rev)
        finished = Generation(self.created, self.version, self.revs)
        if self.closed is None:
            self.closed = [finished]
        else:
            self.closed.append(finished)
        self.created, self.version, self.revs = 0, 0, []

    def get(self, at_rev: int) -> tuple[int, int, int] | None:
        """(modified, created, version) of the key as of main revision `at_rev`, else None."""
        bound = _below(at_rev)
        revs = self.revs
        if revs and revs[0] < bound:
            return _lookup(self.created, self.version, revs, bound)
        if self.closed:
            for gen in reversed(self.closed):
                if gen.revs[-1] < bound:
                    return None  # deleted at or before at_rev
                if gen.revs[0] < bound:
                    return _lookup(gen.created, gen.version, gen.revs, bound)
        return None

    def compact(self, at_rev: int, kept: set[int]) -> None:
        """Forget what a read at or after `at_rev` can never need, adding the revision kept.

        As etcd: generations whose tombstone is at or below at_rev go entirely (tombstone
        included); in the first remaining generation only the latest revision at or below
        at_rev survives, with everything after it.
        """
        first = self._first_needed_generation(at_rev)
        if first is None or self.closed is None:
            self.closed = None
            revs = self.revs
        else:
            needed = self.closed[first:]
            self.closed = needed
            revs = needed[0].revs
        index = bisect_left(revs, _below(at_rev)) - 1
        if index >= 0:
            kept.add(revs[index])
            del revs[:index]

    def keep(self, at_rev: int, kept: set[int]) -> None:
        """Add the revision that `compact(at_rev)` would keep, changing nothing."""
        first = self._first_needed_generation(at_rev)
        revs = self.revs if first is None or self.closed is None else self.closed[first].revs
        index = bisect_left(revs, _below(at_rev)) - 1
        if index >= 0:
            kept.add(revs[index])

    def _first_needed_generation(self, at_rev: int) -> int | None:
        """Index in `closed` of the oldest generation whose tombstone is after at_rev;
        None when every closed generation ended at or before it (the live one is needed)."""
        if self.closed:
            bound = _below(at_rev)
            for position, gen in enumerate(self.closed):
                if gen.revs[-1] >= bound:
                    return position
        return None

    def undo_put(self) -> None:
        """Take back the latest put (of a write transaction being aborted)."""
        self.revs.pop()
        if self.revs:
            self.version -= 1
        else:
            self.created = self.version = 0

    def undo_tombstone(self) -> None:
        """Take back the latest tombstone: its generation is live again."""
        assert self.closed is not None, "undo of a tombstone that was not written"
        gen = self.closed.pop()
        if not self.closed:
            self.closed = None
        self.created, self.version, self.revs = gen.created, gen.version, gen.revs
        self.undo_put()

    def generations(self) -> list[tuple[int, int, list[int]]]:
        """(created, version, revs) per generation, oldest first, live one last (may be empty);
        for inspecting a key's history."""
        gens = [(g.created, g.version, list(g.revs)) for g in self.closed or ()]
        gens.append((self.created, self.version, list(self.revs)))
        return gens


def _lookup(created: int, version: int, revs: list[int], bound: int) -> tuple[int, int, int]:
    index = bisect_left(revs, bound) - 1
    return revs[index], created, version - (len(revs) - index - 1)


KeyEntry = KeyIndex | int
"""A key's place in the index: its KeyIndex, or the packed revision of the one put that is
its whole kept history (created there, version 1)."""


def _inflated(created: int) -> KeyIndex:
    """The KeyIndex of a key held as the packed revision of its one put."""
    ki = KeyIndex()
    ki.restore(created, created, 1)
    return ki


class IndexBuilder:
    """Rebuilds the index from the key space's records read in revision order (a restart)."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: dict[bytes, KeyEntry] = {}

    def put(self, key: bytes, rev: int, created: int, version: int) -> None:
        """A stored put of `key` at packed `rev`, whose generation began at main revision
        `created` with `version` puts so far (the first put seen may follow compacted ones)."""
        keys = self.keys
        ki = keys.get(key)
        if ki is None:
            if version == 1 and created == rev >> SUB_BITS:
                keys[key] = rev
            else:
                ki = keys[key] = KeyIndex()
                ki.restore(pack(created), rev, version)
        else:
            if isinstance(ki, int):
                ki = keys[key] = _inflated(ki)
            ki.put(rev)

    def tombstone(self, key: bytes, rev: int) -> None:
        """A stored deletion of `key` at packed `rev` (ignored unless the key is live)."""
        ki = self.keys.get(key)
        if ki is None:
            return
        if isinstance(ki, int):
            ki = self.keys[key] = _inflated(ki)
        if ki.is_live():
            ki.tombstone(rev)


class RevisionIndex:
    """Every key's KeyIndex in key order (etcd's treeIndex), over a SortedDict."""

    def __init__(self) -> None:
        self._keys: SortedDict = SortedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def get(self, key: bytes, at_rev: int) -> tuple[int, int, int] | None:
        """(modified, created, version) of `key` as of main revision at_rev, or None."""
        ki = self._keys.get(key)
        if type(ki) is int:
            return (ki, ki, 1) if ki < _below(at_rev) else None
        return ki.get(at_rev) if ki is not None else None

    def range(self, key: bytes, end: bytes | None, at_rev: int) -> list[tuple[bytes, int]]:
        """(key, modified) of every key in [key, end) live at at_rev, in key order.

        end None means no upper bound.
        """
        found = []
        keys = self._keys
        bound = _below(at_rev)
        for name in keys.irange(key, end, inclusive=(True, False)):
            ki = keys[name]
            if type(ki) is int:
                if ki < bound:
                    found.append((name, ki))
                continue
            hit = ki.get(at_rev)
            if hit is not None:
                found.append((name, hit[0]))
        return found

    def put(self, key: bytes, rev: int) -> None:
        """Record a put of `key` at packed revision `rev`."""
        ki = self._keys.get(key)
        if ki is None:
            self._keys[key] = rev
            return
        if type(ki) is int:
            ki = self._keys[key] = _inflated(ki)
        ki.put(rev)

    def tombstone(self, key: bytes, rev: int) -> None:
        """Record the deletion of live `key` at packed revision `rev`."""
        self._key_index(key).tombstone(rev)

    def load(self, built: IndexBuilder) -> None:
        """Replace the whole index with a rebuilt one, sorting the keys once."""
        self._keys = SortedDict(built.keys)

    def undo_put(self, key: bytes) -> None:
        """Take back the latest put of `key`; a key left with no revision leaves the index."""
        ki = self._keys[key]
        if type(ki) is int:
            del self._keys[key]
            return
        ki.undo_put()
        if ki.is_empty():
            del self._keys[key]

    def undo_tombstone(self, key: bytes) -> None:
        """Take back the latest tombstone of `key`."""
        self._key_index(key).undo_tombstone()

    def compact(self, at_rev: int) -> set[int]:
        """Compact every key at at_rev; drop keys left empty. Returns the kept revisions."""
        kept: set[int] = set()
        emptied = []
        bound = _below(at_rev)
        for key, ki in self._keys.items():
            if type(ki) is int:
                if ki < bound:
                    kept.add(ki)
                continue
            ki.compact(at_rev, kept)
            if ki.is_empty():
                emptied.append(key)
        for key in emptied:
            del self._keys[key]
        return kept

    def keep(self, at_rev: int) -> set[int]:
        """The revisions a compaction at at_rev would keep."""
        kept: set[int] = set()
        bound = _below(at_rev)
        for ki in self._keys.values():
            if type(ki) is int:
                if ki < bound:
                    kept.add(ki)
            else:
                ki.keep(at_rev, kept)
        return kept

    def _key_index(self, key: bytes) -> KeyIndex:
        """The KeyIndex of `key` (made from its packed revision if held as one)."""
        ki = self._keys[key]
        if type(ki) is int:
            ki = self._keys[key] = _inflated(ki)
        return ki
