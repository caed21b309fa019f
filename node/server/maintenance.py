"""Backend-level maintenance: the Snapshot stream, the whole-backend Hash, and checking a
snapshot file before a member is rebuilt from it (etcd's maintenance server and `etcdctl
snapshot restore`).

A snapshot file is a bbolt database in etcd 3.4's layout (snapshot_db.py) followed by the
sha256 of those bytes, as etcd's Snapshot stream sends it: etcd checks the digest when the
file's size is 32 bytes past a multiple of 512, which a file of whole pages always is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path

import crc32c
import trio

from node.messages.maintenance import SnapshotResponse
from node.mvcc.backend import BUCKETS, CONSISTENT_INDEX_KEY, Backend
from node.server.member_storage import BootstrapError
from node.server.snapshot_db import export_snapshot_db

CHUNK_SIZE = 32 * 1024
"""etcd's snapshotSendBufferSize."""
DIGEST_SIZE = hashlib.sha256().digest_size


class SnapshotFileError(BootstrapError):
    """A snapshot file that cannot be restored (no digest, digest mismatch, not etcd's)."""


def _export_copy(copy: Path, dest: Path) -> None:
    """Export the LMDB copy at `copy` to etcd's layout at `dest`, then drop the copy."""
    backend = Backend(copy)
    try:
        export_snapshot_db(backend, dest)
    finally:
        backend.close()
        shutil.rmtree(copy, ignore_errors=True)


async def backend_snapshot_chunks(
    backend: Backend, lock: trio.Lock
) -> AsyncGenerator[SnapshotResponse, None]:
    """Stream a consistent copy of the backend in etcd's bbolt layout: chunks with the bytes
    remaining after each, then one holding the sha256 of everything sent (remaining 0). What
    is pending is committed first (etcd's snapshot commits too), so the copy holds it."""
    workdir = Path(tempfile.mkdtemp(prefix="etcd-snapshot-"))
    try:
        async with lock:
            backend.commit()
            await trio.to_thread.run_sync(backend.copy_to, workdir / "copy")
        db = workdir / "snapshot.db"
        await trio.to_thread.run_sync(_export_copy, workdir / "copy", db)
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
    """Write the database part of a snapshot file to `dest_db`, checking its sha256 as
    etcd's restore does (a file without one, or cut short, is refused with etcd's words)."""
    size = snapshot_file.stat().st_size
    if size % 512 != DIGEST_SIZE:
        raise SnapshotFileError(
            f"snapshot file {snapshot_file}: snapshot missing hash but --skip-hash-check=false "
            f"({size} bytes: cut short, or not a snapshot)"
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
        raise SnapshotFileError(
            f"snapshot file {snapshot_file}: sha256 mismatch: expected sha256 "
            f"{expected.hex()}, got {digest.hexdigest()}"
        )
