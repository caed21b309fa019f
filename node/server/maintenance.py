"""Backend-level maintenance: the Snapshot stream, the whole-backend Hash, and rebuilding a
member from a snapshot file (etcd's maintenance server and `etcdctl snapshot restore`).

A snapshot file is the LMDB database of a consistent backend copy followed by the sha256 of
those bytes, as etcd appends one to its bbolt file: etcdctl checks the digest when the
file's size is 32 bytes past a multiple of 512, which an LMDB file (whole pages) always is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import crc32c
import trio

from node.messages.maintenance import SnapshotResponse
from node.mvcc.backend import BUCKETS, CONSISTENT_INDEX_KEY, Backend

CHUNK_SIZE = 32 * 1024
"""etcd's snapshotSendBufferSize."""
DIGEST_SIZE = hashlib.sha256().digest_size


class SnapshotFileError(Exception):
    """A snapshot file that cannot be restored (too short, digest mismatch)."""


async def backend_snapshot_chunks(
    copy_backend: Callable[[Path], None], lock: trio.Lock
) -> AsyncGenerator[SnapshotResponse, None]:
    """Stream a consistent copy of the backend: chunks with the bytes remaining after each,
    then one holding the sha256 of everything sent (remaining 0)."""
    workdir = Path(tempfile.mkdtemp(prefix="etcd-snapshot-"))
    try:
        async with lock:
            await trio.to_thread.run_sync(copy_backend, workdir / "copy")
        db = workdir / "copy" / "data.mdb"
        size = db.stat().st_size
        digest = hashlib.sha256()
        sent = 0
        async with await trio.open_file(db, "rb") as file:
            while sent < size:
                chunk = await file.read(CHUNK_SIZE)
                if not chunk:
                    break
                sent += len(chunk)
                digest.update(chunk)
                yield SnapshotResponse(remaining_bytes=size - sent, blob=chunk)
        yield SnapshotResponse(remaining_bytes=0, blob=digest.digest())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def backend_hash(backend: Backend) -> int:
    """CRC-32C over every bucket's keys and values except the consistent index (etcd's Hash
    ignores it too: it differs between members holding the same data)."""
    digest = 0
    with backend.read() as view:
        for bucket in BUCKETS:
            digest = crc32c.crc32c(bucket, value=digest)
            for key, value in view.items(bucket):
                if bucket == b"meta" and key == CONSISTENT_INDEX_KEY:
                    continue
                digest = crc32c.crc32c(value, value=crc32c.crc32c(key, value=digest))
    return digest


def extract_snapshot_database(snapshot_file: Path, dest_db: Path) -> None:
    """Write the database part of a snapshot file to `dest_db`, checking its sha256."""
    size = snapshot_file.stat().st_size
    if size % 512 != DIGEST_SIZE:
        raise SnapshotFileError(
            f"snapshot file {snapshot_file} has no sha256 digest at its end ({size} bytes)"
        )
    digest = hashlib.sha256()
    dest_db.parent.mkdir(parents=True, exist_ok=True)
    with open(snapshot_file, "rb") as source, open(dest_db, "wb") as dest:
        remaining = size - DIGEST_SIZE
        while remaining:
            chunk = source.read(min(1 << 20, remaining))
            if not chunk:
                raise SnapshotFileError(f"snapshot file {snapshot_file} was cut short")
            remaining -= len(chunk)
            digest.update(chunk)
            dest.write(chunk)
        expected = source.read(DIGEST_SIZE)
        dest.flush()
        os.fsync(dest.fileno())
    if digest.digest() != expected:
        dest_db.unlink(missing_ok=True)
        raise SnapshotFileError(f"snapshot file {snapshot_file}: sha256 mismatch")
