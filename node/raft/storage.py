"""Raft's view of stable storage: the Storage protocol and MemoryStorage, as etcd's storage.go.

The log is kept behind a dummy entry at the snapshot's index and term, so `term(i)` answers for
the snapshot index too. Entries are stored by reference (raft never mutates an entry it has
handed out) and a size-limited read stops scanning at its limit instead of at `hi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from node.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata

__all__ = [
    "NO_LIMIT",
    "CompactedError",
    "MemoryStorage",
    "SnapshotOutOfDateError",
    "SnapshotTemporarilyUnavailable",
    "Storage",
    "StorageError",
    "UnavailableError",
    "limit_size",
]

NO_LIMIT = 1 << 63


class StorageError(Exception):
    """Base class of the errors a Storage reports for indexes it cannot serve."""


class CompactedError(StorageError):
    """The index is before the first index kept: it was compacted into a snapshot."""

    def __init__(self) -> None:
        super().__init__("requested index is unavailable due to compaction")


class UnavailableError(StorageError):
    """The index is after the last index the storage holds."""

    def __init__(self) -> None:
        super().__init__("requested entry at index is unavailable")


class SnapshotOutOfDateError(StorageError):
    """A snapshot older than (or as old as) the one already held."""

    def __init__(self) -> None:
        super().__init__("requested index is older than the existing snapshot")


class SnapshotTemporarilyUnavailable(StorageError):
    """The storage is preparing a snapshot; the leader retries later."""

    def __init__(self) -> None:
        super().__init__("snapshot is temporarily unavailable")


def limit_size(entries: Sequence[Entry], lo: int, hi: int, max_size: int) -> list[Entry]:
    """entries[lo:hi] cut to at most max_size bytes, but always at least one entry."""
    if max_size >= NO_LIMIT or hi - lo <= 1:
        return list(entries[lo:hi])
    end = lo + 1
    total = entries[lo].size()
    while end < hi:
        total += entries[end].size()
        if total > max_size:
            break
        end += 1
    return list(entries[lo:end])


class Storage(Protocol):
    """What raft reads from stable storage; the application writes it (see MemoryStorage)."""

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted HardState and the latest snapshot's membership."""
        ...

    def entries(self, lo: int, hi: int, max_size: int) -> list[Entry]:
        """Entries in [lo, hi), at most max_size bytes but at least one."""
        ...

    def term(self, i: int) -> int:
        """The term of entry i (CompactedError / UnavailableError outside the log)."""
        ...

    def last_index(self) -> int:
        """The index of the last entry held."""
        ...

    def first_index(self) -> int:
        """The first index held (the snapshot index + 1)."""
        ...

    def snapshot(self) -> Snapshot:
        """The latest snapshot."""
        ...


class MemoryStorage:
    """An in-memory Storage: the caller appends what each Ready persisted, raft reads it back."""

    __slots__ = ("_ents", "_hard_state", "_snapshot")

    def __init__(self, conf_state: ConfState | None = None) -> None:
        initial = conf_state or ConfState()
        self._hard_state = HardState()
        self._snapshot = Snapshot(
            metadata=SnapshotMetadata(
                conf_state=ConfState(list(initial.voters), list(initial.learners))
            )
        )
        self._ents: list[Entry] = [Entry(0, 0)]

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted HardState and the membership of the latest snapshot."""
        return self._hard_state, self._snapshot.metadata.conf_state

    def set_hard_state(self, hard_state: HardState) -> None:
        """Record the HardState of a Ready."""
        self._hard_state = hard_state

    def entries(self, lo: int, hi: int, max_size: int = NO_LIMIT) -> list[Entry]:
        """Entries in [lo, hi), at most max_size bytes but at least one."""
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError()
        if hi > self.last_index() + 1:
            raise ValueError(f"entries' hi({hi}) is out of bound lastindex({self.last_index()})")
        if len(self._ents) == 1:
            raise UnavailableError()
        return limit_size(self._ents, lo - offset, hi - offset, max_size)

    def term(self, i: int) -> int:
        """The term of entry i; the snapshot index answers with the snapshot's term."""
        offset = self._ents[0].index
        if i < offset:
            raise CompactedError()
        if i - offset >= len(self._ents):
            raise UnavailableError()
        return self._ents[i - offset].term

    def last_index(self) -> int:
        """The index of the last entry held."""
        return self._ents[0].index + len(self._ents) - 1

    def first_index(self) -> int:
        """The first index held (the snapshot index + 1)."""
        return self._ents[0].index + 1

    def snapshot(self) -> Snapshot:
        """The latest snapshot (index 0 and the initial membership before any)."""
        return self._snapshot

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a snapshot received from the leader."""
        if self._snapshot.metadata.index >= snapshot.metadata.index:
            raise SnapshotOutOfDateError()
        self._snapshot = snapshot
        self._ents = [Entry(snapshot.metadata.term, snapshot.metadata.index)]

    def create_snapshot(
        self, index: int, conf_state: ConfState | None, data: bytes
    ) -> Snapshot:
        """Record a snapshot of the state machine as of the applied entry `index`."""
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError()
        offset = self._ents[0].index
        if index > self.last_index():
            raise ValueError(f"snapshot {index} is out of bound lastindex({self.last_index()})")
        cs = conf_state if conf_state is not None else self._snapshot.metadata.conf_state
        self._snapshot = Snapshot(
            data=data,
            metadata=SnapshotMetadata(
                conf_state=ConfState(list(cs.voters), list(cs.learners)),
                index=index,
                term=self._ents[index - offset].term,
            ),
        )
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Discard entries up to compact_index; it becomes the new dummy entry."""
        offset = self._ents[0].index
        if compact_index <= offset:
            raise CompactedError()
        if compact_index > self.last_index():
            raise ValueError(
                f"compact {compact_index} is out of bound lastindex({self.last_index()})"
            )
        i = compact_index - offset
        self._ents = [Entry(self._ents[i].term, compact_index), *self._ents[i + 1 :]]

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries, first truncating any stored suffix they conflict with."""
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return
        if first > entries[0].index:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise ValueError(
                f"missing log entry [last: {self.last_index()}, append at: {entries[0].index}]"
            )
        del self._ents[offset:]
        self._ents.extend(entries)
