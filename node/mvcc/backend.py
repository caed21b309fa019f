"""The member's durable key-value backend: one LMDB environment with etcd's named buckets.

LMDB is the B+tree design bbolt derives from: one writer, many readers that never block it.
Writes are grouped: `batch()` opens one write transaction that every write inside it joins
(nested batches join the outermost), so an apply batch of thousands of changes is one
transaction. With `batch_limit` 1 (the default) each outermost batch commits on exit. The
member's backend defers commits as etcd's batchTx does (--backend-batch-limit and
--backend-batch-interval): each outermost batch becomes a child of one pending transaction,
merged into it on exit without I/O, and the pending transaction commits (one fsync) once
`batch_limit` writes are pending or when the server's timer calls `commit()`. Reads on the
member's thread see every batch, committed or pending; reads from another thread (and copies)
see the committed data only, so the caller commits first. A crash loses the pending batches
with their consistent index, and the WAL replays them on restart.

A write the disk refuses (ENOSPC, EIO, a read-only file system) or that outgrows the map
(MDB_MAP_FULL) aborts the whole batch and raises BackendWriteError: LMDB's last commit stays
the database, and the member stops as etcd does on a failed commit (lg.Fatal "failed to
commit tx"), replaying the lost batch from its WAL on restart. The map is opened at least
twice the size of the file, so a member stopped by a full map has room when it restarts.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb

from node import failpoints

BUCKETS = (
    b"key", b"meta", b"lease", b"members", b"cluster", b"alarm", b"auth", b"authUsers", b"authRoles"
)

CONSISTENT_INDEX_KEY = b"consistent_index"
SCHEDULED_COMPACT_KEY = b"scheduledCompactRev"
FINISHED_COMPACT_KEY = b"finishedCompactRev"

DEFAULT_MAP_SIZE = 64 << 30
MAX_KEY_BYTES = 511
"""LMDB's largest key (its compiled-in MDB_MAXKEYSIZE); bbolt, etcd's backend, takes 32 KiB.
No key outside 1..MAX_KEY_BYTES bytes can be stored, so a get of one finds nothing."""
_U64 = struct.Struct(">Q")
_U64_PAIR = struct.Struct(">QQ")


class BackendWriteError(Exception):
    """The backend could not write a batch: nothing of it is in the database."""


def encode_u64(value: int) -> bytes:
    return _U64.pack(value)


def decode_u64(raw: bytes) -> int:
    return _U64.unpack(raw)[0]


class Backend:
    """An LMDB environment under `path` (a directory) holding the buckets in BUCKETS."""

    def __init__(
        self, path: str | os.PathLike, *, map_size: int = DEFAULT_MAP_SIZE, batch_limit: int = 1
    ) -> None:
        self.path = Path(path)
        self._map_size = map_size
        self.batch_limit = batch_limit
        """Writes that may wait in the pending transaction before a batch's exit commits it."""
        self._txn: lmdb.Transaction[bytes] | None = None
        """The open batch's write transaction (a child of `_pending` when commits wait)."""
        self._pending: lmdb.Transaction[bytes] | None = None
        self._pending_writes = 0
        self._failed: BackendWriteError | None = None
        """A commit that failed: the pending writes are gone, so no later batch may commit a
        consistent index past them."""
        self._depth = 0
        self._owner = threading.get_ident()
        self._size = 0
        self.on_commit: Callable[[float], None] | None = None
        """Told how long each commit to disk took (etcd's backend commit histogram)."""
        self._open()

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        data = self.path / "data.mdb"
        in_file = data.stat().st_size if data.exists() else 0
        # metasync=False: a machine crash may lose the last commits but never corrupts the
        # tree; the WAL replays anything above the consistent index on restart, as long as
        # the server calls sync() before it releases WAL it took a snapshot over.
        self._env = lmdb.open(
            str(self.path),
            map_size=max(self._map_size, 2 * in_file),
            max_dbs=len(BUCKETS) + 2,
            metasync=False,
            readahead=False,
        )
        self._size = data.stat().st_size
        self._dbs = {name: self._env.open_db(name) for name in BUCKETS}

    def close(self) -> None:
        """Commit what is pending (as etcd's backend does on close) and close the file."""
        if self._txn is not None:
            self._txn.abort()
            self._txn, self._depth = None, 0
        try:
            self.commit()
        finally:
            if self._pending is not None:
                self._pending.abort()
                self._pending = None
            self._env.close()

    def commit(self) -> None:
        """Commit the pending transaction, if any, to disk (etcd's ForceCommit); on the
        member's thread, outside any batch."""
        if self._pending is None:
            return
        if self._txn is not None:
            raise RuntimeError("cannot commit inside a write batch")
        txn, self._pending, self._pending_writes = self._pending, None, 0
        try:
            self._commit(txn)
        except BackendWriteError as exc:
            self._failed = exc
            raise

    def _commit(self, txn: lmdb.Transaction[bytes]) -> None:
        failpoints.hit("beforeCommit")
        started = time.perf_counter()
        try:
            txn.commit()
        except lmdb.Error as exc:
            raise self._write_error("commit tx", exc) from exc
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started)
        self._size = os.stat(self.path / "data.mdb").st_size
        failpoints.hit("afterCommit")

    def sync(self) -> None:
        """Force every committed transaction to disk, data and meta pages both: after it the
        backend survives a machine crash at least as new as it is now (commit() first for
        what is pending; this may run in a worker thread)."""
        try:
            self._env.sync(True)
        except lmdb.Error as exc:
            raise self._write_error("sync", exc) from exc

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group every write inside into one LMDB write transaction: committed on exit, or
        merged into the pending transaction when commits wait (`batch_limit` above 1). An
        exception leaving the outermost batch discards its writes, and only its own."""
        if self._txn is None:
            try:
                self._txn = self._begin_batch()
            except lmdb.Error as exc:
                raise self._write_error("begin a write transaction", exc) from exc
        self._depth += 1
        try:
            yield
        except BaseException as exc:
            self._depth -= 1
            if self._depth == 0:
                self._txn.abort()
                self._txn = None
                if isinstance(exc, lmdb.Error):
                    raise self._write_error("write to a bucket", exc) from exc
            raise
        self._depth -= 1
        if self._depth == 0:
            txn, self._txn = self._txn, None
            if self._pending is None:
                self._commit(txn)
                return
            try:
                txn.commit()  # into the pending transaction: no I/O
            except lmdb.Error as exc:
                self._pending.abort()
                self._pending = None
                self._failed = self._write_error("commit tx", exc)
                raise self._failed from exc
            if self._pending_writes >= self.batch_limit:
                self.commit()

    def _begin_batch(self) -> lmdb.Transaction[bytes]:
        if self._failed is not None:
            raise self._failed
        if self.batch_limit <= 1:
            return self._env.begin(write=True)
        if self._pending is None:
            self._pending = self._env.begin(write=True)
        return self._env.begin(write=True, parent=self._pending)

    def _write_error(self, action: str, exc: lmdb.Error) -> BackendWriteError:
        if isinstance(exc, lmdb.MapFullError):
            reason = (
                f"the map of {self._env.info()['map_size']} bytes is full (MDB_MAP_FULL); "
                "reopened, the backend maps twice its file"
            )
        else:
            reason = str(exc)
        return BackendWriteError(f"backend: cannot {action} in {self.path}: {reason}")

    @contextmanager
    def write(self) -> Iterator[WriteView]:
        """A batch (joining the open one, if any) with a view that reads and writes through
        it directly, for callers making many changes."""
        with self.batch():
            yield WriteView(self._batch_txn(), self._dbs, self)

    def _batch_txn(self) -> lmdb.Transaction[bytes]:
        """The open batch's write transaction (inside `batch()`)."""
        if self._txn is None:
            raise RuntimeError("no batch is open")
        return self._txn

    @property
    def in_batch(self) -> bool:
        return self._txn is not None

    @contextmanager
    def read(self) -> Iterator[ReadView]:
        """A consistent view for several reads: on the member's thread the open batch's or
        the pending transaction's (every write so far), else a fresh read of what is
        committed."""
        if threading.get_ident() == self._owner:
            open_txn = self._txn or self._pending
            if open_txn is not None:
                yield ReadView(open_txn, self._dbs)
                return
        with self._env.begin() as txn:
            yield ReadView(txn, self._dbs)

    # -- single operations (join the open batch, or run in their own transaction) ---------

    def put(self, bucket: bytes, key: bytes, value: bytes) -> None:
        with self.batch():
            self._pending_writes += 1
            self._batch_txn().put(key, value, db=self._dbs[bucket])

    def delete(self, bucket: bytes, key: bytes) -> bool:
        with self.batch():
            self._pending_writes += 1
            return self._batch_txn().delete(key, db=self._dbs[bucket])

    def get(self, bucket: bytes, key: bytes) -> bytes | None:
        with self.read() as view:
            return view.get(bucket, key)

    def items(
        self, bucket: bytes, start: bytes = b"", end: bytes | None = None, limit: int = 0
    ) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs of `bucket` in [start, end) in key order, at most `limit`."""
        with self.read() as view:
            return list(view.items(bucket, start, end, limit))

    # -- meta -----------------------------------------------------------------------------

    def consistent_index(self) -> tuple[int, int]:
        """(raft index, term) of the last entry whose effects this backend holds."""
        raw = self.get(b"meta", CONSISTENT_INDEX_KEY)
        return _U64_PAIR.unpack(raw) if raw else (0, 0)

    def set_consistent_index(self, index: int, term: int) -> None:
        self.put(b"meta", CONSISTENT_INDEX_KEY, _U64_PAIR.pack(index, term))

    # -- size, copies, defragmentation ----------------------------------------------------

    def size(self) -> int:
        """Bytes the database file takes on disk (etcd's dbSize), as of the last commit: the
        quota check asks on every write."""
        return self._size

    def size_in_use(self) -> int:
        """Bytes of pages actually in use (etcd's dbSizeInUse)."""
        info = self._env.info()
        return (info["last_pgno"] + 1) * self._env.stat()["psize"]

    def copy_to(self, dest: str | os.PathLike) -> None:
        """Write a consistent, compacted copy of the committed data into the directory `dest`
        (from a worker thread: the caller commits what is pending first)."""
        Path(dest).mkdir(parents=True, exist_ok=True)
        try:
            self._env.copy(str(dest), compact=True)
        except lmdb.Error as exc:
            raise BackendWriteError(f"backend: cannot copy {self.path} to {dest}: {exc}") from exc

    def defragment(self) -> None:
        """Rewrite the file without free pages so its size shrinks to what is in use. A copy
        that does not fit (a full disk) is removed and the backend stays as it was."""
        if self._txn is not None:
            raise RuntimeError("cannot defragment inside a write batch")
        self.commit()
        tmp = self.path.with_name(self.path.name + ".defrag")
        shutil.rmtree(tmp, ignore_errors=True)
        failpoints.hit("defragBeforeCopy")
        try:
            self.copy_to(tmp)
        except BackendWriteError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._env.close()
        failpoints.hit("defragBeforeRename")
        os.replace(tmp / "data.mdb", self.path / "data.mdb")
        shutil.rmtree(tmp, ignore_errors=True)
        self._open()


class ReadView:
    """Reads through one LMDB transaction, so they all see the same committed state."""

    __slots__ = ("_dbs", "_txn")

    def __init__(self, txn: lmdb.Transaction[bytes], dbs: dict[bytes, lmdb._Database]) -> None:
        self._txn = txn
        self._dbs = dbs

    def get(self, bucket: bytes, key: bytes) -> bytes | None:
        if not 0 < len(key) <= MAX_KEY_BYTES:
            return None  # LMDB refuses to look such a key up (MDB_BAD_VALSIZE)
        return self._txn.get(key, db=self._dbs[bucket])

    def items(
        self, bucket: bytes, start: bytes = b"", end: bytes | None = None, limit: int = 0
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs in [start, end) in key order; at most `limit` when limit > 0."""
        with self._txn.cursor(db=self._dbs[bucket]) as cursor:
            if not cursor.set_range(start):
                return
            for count, (key, value) in enumerate(cursor, 1):
                if end is not None and key >= end:
                    return
                yield key, value
                if count == limit:
                    return

    def keys(
        self, bucket: bytes, start: bytes = b"", end: bytes | None = None, limit: int = 0
    ) -> Iterator[bytes]:
        """Keys in [start, end) in key order, without reading values; at most `limit`."""
        with self._txn.cursor(db=self._dbs[bucket]) as cursor:
            if not cursor.set_range(start):
                return
            for count, key in enumerate(cursor.iternext(keys=True, values=False), 1):
                if end is not None and key >= end:
                    return
                yield key
                if count == limit:
                    return


class WriteView(ReadView):
    """Reads and writes through the open batch's write transaction."""

    __slots__ = ("_backend",)

    def __init__(
        self, txn: lmdb.Transaction[bytes], dbs: dict[bytes, lmdb._Database], backend: Backend
    ) -> None:
        super().__init__(txn, dbs)
        self._backend = backend

    def put(self, bucket: bytes, key: bytes, value: bytes) -> None:
        self._backend._pending_writes += 1
        self._txn.put(key, value, db=self._dbs[bucket])

    def delete(self, bucket: bytes, key: bytes) -> bool:
        self._backend._pending_writes += 1
        return self._txn.delete(key, db=self._dbs[bucket])
