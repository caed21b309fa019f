"""Durable file operations the WAL and the snapshotter build on: what is written stays written.

The one place they call the OS to write, so a test can make a write or an fsync fail (ENOSPC,
EIO) without a full disk."""

from __future__ import annotations

import os
from pathlib import Path

# fdatasync flushes the data and the metadata needed to read it back (the size, the extents
# of a preallocated file) without the timestamps; platforms without it get a full fsync.
fdatasync = getattr(os, "fdatasync", os.fsync)


def fsync_dir(path: Path) -> None:
    """Persist a directory's entries (a create, rename or unlink in it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def preallocate(fd: int, size: int) -> None:
    """Reserve `size` bytes of zeros for the file, so appends need no metadata updates."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    elif os.fstat(fd).st_size < size:
        os.ftruncate(fd, size)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset`, however many calls the kernel needs."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def write_file_atomically(path: Path, data: bytes) -> None:
    """Make `path` hold `data`, or stay as it was: write a temp file, fsync, rename, fsync dir.
    A write that fails (a full disk) removes the temp file, so it holds no space."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_at(fd, data, 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
