"""The raft log: what Storage holds (stable) plus what is not persisted yet (unstable).

As etcd's log.go and log_unstable.go. Indexes below `first_index() - 1` are compacted; the
entry at `first_index() - 1` is the snapshot's (only its term is known). `term(i)` answers
None for an index it cannot answer, so hot paths need no exceptions.
"""

from __future__ import annotations

from node.raft.storage import NO_LIMIT, CompactedError, Storage, UnavailableError, limit_size
from node.raft.types import Entry, Snapshot

__all__ = ["LogConflictError", "RaftLog", "Unstable"]


class LogConflictError(ValueError):
    """An append would overwrite a committed entry: the sender's log is not trustworthy."""


class Unstable:
    """Entries and a snapshot handed out in Ready but not yet acknowledged by advance()."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_last_index(self) -> int | None:
        """The last unstable index (or the pending snapshot's), if any."""
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, i: int) -> int | None:
        """The term of entry i if the unstable part knows it."""
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == i:
                return self.snapshot.metadata.term
            return None
        pos = i - self.offset
        if pos >= len(self.entries):
            return None
        return self.entries[pos].term

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) are now in Storage; forget them here."""
        if self.maybe_term(index) != term or index < self.offset:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        """The snapshot at `index` is now in Storage; forget it here."""
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        """Start over from a snapshot received from the leader."""
        self.offset = snapshot.metadata.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        """Append entries, replacing any unstable entries from their first index on."""
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # The new entries replace everything unstable, and possibly part of Storage.
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)


class RaftLog:
    """The whole log as raft sees it, with the commit and applied cursors."""

    __slots__ = ("applied", "committed", "max_committed_size", "storage", "unstable")

    def __init__(self, storage: Storage, max_committed_size: int = NO_LIMIT) -> None:
        self.storage = storage
        first = storage.first_index()
        self.unstable = Unstable(storage.last_index() + 1)
        self.committed = first - 1
        self.applied = first - 1
        self.max_committed_size = max_committed_size

    def first_index(self) -> int:
        """The first index still held (the one after the latest snapshot)."""
        snapshot = self.unstable.snapshot
        if snapshot is not None:
            return snapshot.metadata.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        """The index of the last entry, stable or not."""
        unstable = self.unstable
        if unstable.entries:
            return unstable.offset + len(unstable.entries) - 1
        index = unstable.maybe_last_index()
        return index if index is not None else self.storage.last_index()

    def term(self, i: int) -> int | None:
        """The term of entry i, or None when i is compacted or beyond the last index."""
        unstable = self.unstable
        if unstable.entries and i >= unstable.offset:
            pos = i - unstable.offset
            return unstable.entries[pos].term if pos < len(unstable.entries) else None
        term = unstable.maybe_term(i)
        if term is not None:
            return term
        if i < self.first_index() - 1 or i > self.last_index():
            return None
        try:
            return self.storage.term(i)
        except (CompactedError, UnavailableError):
            return None

    def last_term(self) -> int:
        """The term of the last entry (0 for an empty log)."""
        return self.term(self.last_index()) or 0

    def match_term(self, i: int, term: int) -> bool:
        """Whether entry i exists with this term."""
        return self.term(i) == term

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Whether a log ending at (last_index, term) is at least as up to date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    def find_conflict(self, entries: list[Entry]) -> int:
        """The index of the first entry not already in the log with its term, else 0."""
        for entry in entries:
            if self.term(entry.index) != entry.term:
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest (index, term) at or below `index` whose term is at most `term`.

        Used on both sides of a rejected append to skip a whole divergent term at once; an
        index whose term is unknown (compacted) is returned with term 0 as a possible match.
        """
        while index > 0:
            our_term = self.term(index)
            if our_term is None:
                return index, 0
            if our_term <= term:
                return index, our_term
            index -= 1
        return 0, 0

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, entries: list[Entry]
    ) -> int | None:
        """Append entries after (prev_index, prev_term) if our log has it; the new last index.

        Raises LogConflictError if the entries would overwrite a committed entry.
        """
        if self.term(prev_index) != prev_term:
            return None
        last_new = prev_index + len(entries)
        if entries:
            conflict = self.find_conflict(entries)
            if conflict:
                if conflict <= self.committed:
                    raise LogConflictError(
                        f"entry {conflict} conflict with committed entry "
                        f"[committed({self.committed})]"
                    )
                self.append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def append(self, entries: list[Entry]) -> int:
        """Append entries (which may overwrite an uncommitted suffix); the new last index."""
        if entries:
            if entries[0].index - 1 < self.committed:
                raise LogConflictError(
                    f"after({entries[0].index - 1}) is out of range [committed({self.committed})]"
                )
            self.unstable.truncate_and_append(entries)
        return self.last_index()

    def unstable_entries(self) -> list[Entry]:
        """The entries not yet handed to Storage, as a new list."""
        return list(self.unstable.entries)

    def has_next_committed_entries(self) -> bool:
        """Whether committed entries wait to be applied."""
        return self.committed > self.applied and self.committed >= self.first_index()

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet applied, up to max_committed_size bytes (at least one)."""
        lo = max(self.applied + 1, self.first_index())
        if self.committed < lo:
            return []
        return self.slice(lo, self.committed + 1, self.max_committed_size)

    def has_pending_snapshot(self) -> bool:
        """Whether a received snapshot waits to be persisted."""
        return self.unstable.snapshot is not None

    def snapshot(self) -> Snapshot:
        """The newest snapshot: a pending one, else Storage's."""
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def commit_to(self, index: int) -> None:
        """Move the commit index forward (never back)."""
        if index > self.committed:
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Advance commit to `index` if that entry is of `term` (Raft's Figure 8 rule)."""
        if index > self.committed and self.term(index) == term:
            self.committed = index
            return True
        return False

    def applied_to(self, index: int) -> None:
        """Move the applied index forward (never back)."""
        if index > self.applied:
            self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) were persisted."""
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        """The snapshot at `index` is now in Storage; forget it here."""
        self.unstable.stable_snap_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the log with a snapshot: everything up to its index is committed."""
        self.committed = snapshot.metadata.index
        self.unstable.restore(snapshot)

    def entries_from(self, lo: int, max_size: int) -> list[Entry]:
        """Entries from lo to the end of the log, at most max_size bytes but at least one."""
        last = self.last_index()
        if lo > last:
            return []
        return self.slice(lo, last + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int = NO_LIMIT) -> list[Entry]:
        """Entries in [lo, hi); lo must not be compacted (raises CompactedError)."""
        if lo < self.first_index():
            raise CompactedError()
        if lo >= hi:
            return []
        unstable = self.unstable
        offset = unstable.offset
        if hi <= offset:
            return self.storage.entries(lo, hi, max_size)
        if lo >= offset:
            return limit_size(unstable.entries, lo - offset, hi - offset, max_size)
        stored = self.storage.entries(lo, offset, max_size)
        if len(stored) < offset - lo:
            return stored
        size = sum(e.size() for e in stored)
        if size >= max_size:
            return stored
        rest = limit_size(unstable.entries, 0, hi - offset, max_size - size)
        if rest and size + rest[0].size() > max_size:
            return stored
        return stored + rest
