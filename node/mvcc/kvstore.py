"""The member's revisioned key space: etcd's mvcc store over the LMDB backend.

Every change is written to the backend's `key` bucket under its revision (a tombstone for a
deletion) and recorded in the in-memory RevisionIndex, which says where each key's value
lives at any revision not yet compacted. A write transaction takes one new main revision
for all its changes; the store announces each finished one to `on_commit` subscribers (the
watchable store).

Revisions start as etcd's do: a fresh store is at revision 1 and its first write makes 2.

Like etcd's mvcc.KV, the store offers read and write views only (ReadTxn, WriteTxn: range,
put, delete range, at revisions); the rules of etcd's requests over them (limits, sort,
prev_kv, txn compares and branches) live in the server's txn layer, node/server/txn.py.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import crc32c

from node import failpoints
from node.messages import errors
from node.messages.key_value import Event, EventType, KeyValue
from node.mvcc.backend import (
    FINISHED_COMPACT_KEY,
    SCHEDULED_COMPACT_KEY,
    Backend,
    ReadView,
    WriteView,
)
from node.mvcc.key_index import IndexBuilder, RevisionIndex, main_of, pack, sub_of
from node.mvcc.records import (
    REVISION_BYTES,
    LeaseAttacher,
    Revision,
    decode_index_fields,
    decode_key_value,
    encode_key_value,
)

KEY = b"key"
META = b"meta"
DEFAULT_COMPACTION_BATCH_LIMIT = 1000

_REVISION = struct.Struct(">QcQ")

CommitListener = Callable[[int, list[Event]], None]


def revision_bytes(packed: int, tombstone: bool = False) -> bytes:
    """The `key` bucket key of a packed revision (etcd's 17-byte layout, `t` for tombstones)."""
    raw = _REVISION.pack(main_of(packed), b"_", sub_of(packed))
    return raw + b"t" if tombstone else raw


def packed_revision(raw: bytes) -> int:
    """The packed revision of a `key` bucket key."""
    main, _, sub = _REVISION.unpack_from(raw)
    return pack(main, sub)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Rebuilding the index allocates millions of long-lived objects and no cycles; letting
    the cyclic collector walk them again and again nearly doubles the rebuild time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class RangeResult:
    """What a txn-level range finds: kvs (cut to the limit), count of keys in range, and the
    revision the reader is at."""

    kvs: list[KeyValue]
    count: int
    revision: int


@dataclass(slots=True)
class HashKVResult:
    """etcd's HashKV answer: CRC-32C of the kept history, the compaction and current revision."""

    hash: int
    compact_revision: int
    revision: int


class ReadTxn:
    """Reads at one revision through one backend view (etcd's storeTxnRead)."""

    def __init__(self, store: KVStore, view: ReadView, begin: int) -> None:
        self._store = store
        self._view = view
        self._begin = begin

    @property
    def revision(self) -> int:
        """The revision this transaction reads at (and reports in headers)."""
        return self._begin

    @property
    def compact_revision(self) -> int:
        """The oldest revision still readable."""
        return self._store.compact_revision

    def lease_exists(self, lease_id: int) -> bool:
        """True when the lessor knows the lease (no lessor: no lease exists)."""
        lessor = self._store.lessor
        return lessor is not None and lessor.exists(lease_id)

    def range(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        count_only: bool = False,
    ) -> RangeResult:
        """The live keys in range as of `revision` (0: this txn's), etcd's rangeKeys."""
        current = self.revision
        if revision > current:
            raise errors.FutureRevision()
        at = revision if revision > 0 else current
        if at < self._store.compact_revision:
            raise errors.Compacted()
        found = self._live_keys(key, range_end, at)
        if count_only or not found:
            return RangeResult([], len(found), current)
        wanted = found[:limit] if 0 < limit < len(found) else found
        kvs = [self._kv_at(rev) for _, rev in wanted]
        return RangeResult(kvs, len(found), current)

    def _live_keys(self, key: bytes, range_end: bytes, at: int) -> list[tuple[bytes, int]]:
        """(key, modified) of the live keys in range at `at`, with etcd's range_end
        conventions: b"" is the single key, b"\\0" every key from `key` on, else [key, end)."""
        index = self._store.index
        if not range_end:
            hit = index.get(key, at)
            return [(key, hit[0])] if hit is not None else []
        return index.range(key, None if range_end == b"\0" else range_end, at)

    def _kv_at(self, packed: int) -> KeyValue:
        raw = self._view.get(KEY, revision_bytes(packed))
        if raw is None:
            raise RuntimeError(f"the index names revision {packed:#x}, which is not stored")
        return decode_key_value(raw)


class WriteTxn(ReadTxn):
    """A write transaction: every change takes main revision begin+1 and the next sub
    (etcd's storeTxnWrite). Reads see the transaction's own earlier writes."""

    def __init__(self, store: KVStore, view: WriteView, begin: int) -> None:
        super().__init__(store, view, begin)
        self._writer = view
        self.changes: list[Event] = []

    @property
    def revision(self) -> int:
        return self._begin + 1 if self.changes else self._begin

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write key=value (attached to `lease` unless 0); returns the revision."""
        store = self._store
        rev = self._begin + 1
        packed = pack(rev, len(self.changes))
        previous = store.index.get(key, rev)
        lessor = store.lessor
        old_lease = 0
        if previous is None:
            kv = KeyValue(key, rev, rev, 1, value, lease)
        else:
            modified, created, version = previous
            kv = KeyValue(key, main_of(created), rev, version + 1, value, lease)
            if lessor is not None:
                old_lease = self._kv_at(modified).lease
        self._writer.put(KEY, revision_bytes(packed), encode_key_value(kv))
        store.index.put(key, packed)
        self.changes.append(Event(EventType.PUT, kv))
        if lessor is not None:
            if old_lease:
                lessor.detach(old_lease, key)
            if lease:
                lessor.attach(lease, key)
        return rev

    def delete_range(self, key: bytes, range_end: bytes = b"") -> int:
        """Delete the live keys in range (etcd's range_end conventions); returns how many."""
        found = self._live_keys(key, range_end, self.revision)
        for name, modified in found:
            self._delete(name, modified)
        return len(found)

    def _delete(self, key: bytes, modified: int) -> None:
        store = self._store
        rev = self._begin + 1
        packed = pack(rev, len(self.changes))
        lessor = store.lessor
        old_lease = self._kv_at(modified).lease if lessor is not None else 0
        self._writer.put(
            KEY, revision_bytes(packed, tombstone=True), encode_key_value(KeyValue(key))
        )
        store.index.tombstone(key, packed)
        self.changes.append(Event(EventType.DELETE, KeyValue(key, mod_revision=rev)))
        if lessor is not None and old_lease:
            lessor.detach(old_lease, key)

    def undo_index(self) -> None:
        """Take this transaction's changes back out of the index (it is being aborted)."""
        index = self._store.index
        for event in reversed(self.changes):
            if event.type is EventType.PUT:
                index.undo_put(event.kv.key)
            else:
                index.undo_tombstone(event.kv.key)
        self.changes.clear()


class KVStore:
    """The revisioned key space of one member (etcd's mvcc store).

    Opening it over an existing backend rebuilds the index, restores the current and
    compacted revisions, finishes an interrupted compaction and re-attaches live keys to
    their leases. Every operation works inside or outside an open `backend.batch()`.
    """

    def __init__(
        self,
        backend: Backend,
        lessor: LeaseAttacher | None = None,
        *,
        compaction_batch_limit: int = DEFAULT_COMPACTION_BATCH_LIMIT,
    ) -> None:
        self.backend = backend
        self.lessor = lessor
        self.compaction_batch_limit = compaction_batch_limit
        self.index = RevisionIndex()
        self.on_commit: list[CommitListener] = []
        self._current = 1
        self._compact = 0
        self._writing = False
        self._restore()

    @property
    def current_revision(self) -> int:
        """The revision of the last write transaction that changed something."""
        return self._current

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction; 0 when never compacted."""
        return self._compact

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[ReadTxn]:
        """A read transaction at the current revision over one consistent backend view."""
        with self.backend.read() as view:
            yield ReadTxn(self, view, self._current)

    @contextmanager
    def write(self) -> Iterator[WriteTxn]:
        """A write transaction: all its changes take one new main revision (none if it
        changes nothing); `on_commit` listeners hear of it once it ends.

        If the block raises, the index is put back and, when this transaction opened the
        outermost backend batch, the backend too; inside an outer batch the caller must
        let the exception abort that batch.
        """
        if self._writing:
            raise RuntimeError("write transactions do not nest")
        self._writing = True
        txn = None
        try:
            with self.backend.write() as view:
                txn = WriteTxn(self, view, self._current)
                yield txn
        except BaseException:
            if txn is not None:
                txn.undo_index()
            raise
        finally:
            self._writing = False
        if txn.changes:
            self._current = txn.revision
            for listener in list(self.on_commit):
                listener(self._current, txn.changes)

    # -- compaction -----------------------------------------------------------------------

    def compact(self, revision: int) -> None:
        """Forget history before `revision`: reads below it fail with Compacted from now on.

        The scheduled revision is recorded first, the index compacted, superseded revisions
        deleted from the backend in chunks of compaction_batch_limit (each its own batch
        unless an outer batch is open), and the finished revision recorded with the last.
        """
        if revision <= self._compact:
            raise errors.Compacted()
        if revision > self._current:
            raise errors.FutureRevision()
        self._compact = revision
        failpoints.hit("compactBeforeCommitScheduledCompact")
        self.backend.put(META, SCHEDULED_COMPACT_KEY, Revision(revision).to_bytes())
        failpoints.hit("compactAfterCommitScheduledCompact")
        kept = self.index.compact(revision)
        self._delete_compacted(revision, kept)

    def _delete_compacted(self, revision: int, kept: set[int]) -> None:
        end = Revision(revision + 1).to_bytes()
        start = b""
        limit = self.compaction_batch_limit
        while True:
            failpoints.hit("compactBeforeCommitBatch")
            with self.backend.write() as view:
                chunk = list(view.keys(KEY, start, end, limit))
                for raw in chunk:
                    if packed_revision(raw) not in kept:
                        view.delete(KEY, raw)
                if len(chunk) < limit:
                    failpoints.hit("compactBeforeSetFinishedCompact")
                    view.put(META, FINISHED_COMPACT_KEY, Revision(revision).to_bytes())
            failpoints.hit("compactAfterCommitBatch")
            if len(chunk) < limit:
                failpoints.hit("compactAfterSetFinishedCompact")
                return
            last = Revision.from_bytes(chunk[-1])
            start = Revision(last.main, last.sub + 1).to_bytes()

    # -- hashing and history --------------------------------------------------------------

    def hash_kv(self, revision: int = 0) -> HashKVResult:
        """etcd's HashKV: CRC-32C over the `key` bucket up to `revision` (0: current),
        skipping what a compaction at that revision would drop below the compaction point.
        Each record is hashed in etcd's protobuf encoding, so the hash equals etcd's."""
        compacted, current = self._compact, self._current
        if 0 < revision <= compacted:
            raise errors.Compacted()
        if revision > current:
            raise errors.FutureRevision()
        at = revision or current
        digest = crc32c.crc32c(KEY)
        if at < 0:  # as etcd: no record lies below a negative revision
            return HashKVResult(digest, compacted, current)
        kept = self.index.keep(at)
        lower = pack(compacted + 1)
        with self.backend.read() as view:
            for raw, value in view.items(KEY, b"", Revision(at + 1).to_bytes()):
                if kept:
                    rev = packed_revision(raw)
                    if rev < lower and rev not in kept:
                        continue
                record = decode_key_value(value).etcd_encoding()
                digest = crc32c.crc32c(record, value=crc32c.crc32c(raw, value=digest))
        return HashKVResult(digest, compacted, current)

    def events_between(self, start_rev: int, end_rev: int, limit: int = 0) -> list[Event]:
        """The changes with main revision in [start_rev, end_rev), oldest first, read from
        the backend (tombstones become DELETE events carrying key and mod_revision).

        Raises Compacted when start_rev < compact_revision: as etcd's watchers, one may
        start at the compaction revision itself, whose surviving changes are each key's
        latest at or below it. With limit > 0, stops after the revision in which the count
        reaches limit, so a revision's events are never split.
        """
        if start_rev < self._compact:
            raise errors.Compacted()
        events: list[Event] = []
        last_main = -1
        start = Revision(max(start_rev, 0)).to_bytes()
        with self.backend.read() as view:
            for raw, value in view.items(KEY, start, Revision(max(end_rev, 0)).to_bytes()):
                main = Revision.from_bytes(raw).main
                if limit and len(events) >= limit and main != last_main:
                    break
                last_main = main
                kv = decode_key_value(value)
                if len(raw) > REVISION_BYTES:
                    kv.mod_revision = main
                    events.append(Event(EventType.DELETE, kv))
                else:
                    events.append(Event(EventType.PUT, kv))
        return events

    # -- restore --------------------------------------------------------------------------

    def _restore(self) -> None:
        finished = self._meta_revision(FINISHED_COMPACT_KEY)
        scheduled = self._meta_revision(SCHEDULED_COMPACT_KEY)
        current = 1
        leases: dict[bytes, int] = {}
        built = IndexBuilder()
        unpack_from = _REVISION.unpack_from
        with _cyclic_gc_paused(), self.backend.read() as view:
            for raw, value in view.items(KEY):
                current, _, sub = unpack_from(raw)
                key, created, version, lease = decode_index_fields(value)
                if len(raw) > REVISION_BYTES:
                    built.tombstone(key, pack(current, sub))
                    leases.pop(key, None)
                    continue
                built.put(key, pack(current, sub), created, version)
                if lease:
                    leases[key] = lease
                elif leases:
                    leases.pop(key, None)
        self.index.load(built)
        self._compact = finished
        self._current = max(current, finished)
        if self.lessor is not None:
            for key, lease_id in leases.items():
                self.lessor.attach(lease_id, key)
        if scheduled > finished:
            # The interrupted compaction had reached `scheduled`; its own deletions may have
            # removed the newest revisions, so the store is at least there.
            self._current = max(self._current, scheduled)
            self.compact(scheduled)

    def _meta_revision(self, name: bytes) -> int:
        raw = self.backend.get(META, name)
        return Revision.from_bytes(raw).main if raw else 0
