"""A real filesystem of a few megabytes for tests of a full or read-only disk: a tmpfs mounted
on a test's directory. Mounting needs root (CAP_SYS_ADMIN); without it the test is skipped
with the reason the kernel gave."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MIB = 1024 * 1024


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def small_filesystem(directory: Path, size: int) -> Iterator[Path]:
    """`directory` as a tmpfs of `size` bytes for the block; unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory))
    except FileNotFoundError:
        pytest.skip("no mount command to make a small filesystem")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def resize(directory: Path, size: int) -> None:
    """Give the tmpfs at `directory` `size` bytes: what freeing space on a full disk does."""
    remounted = _mount("-o", f"remount,size={size}", str(directory))
    assert remounted.returncode == 0, remounted.stderr


def make_read_only(directory: Path) -> None:
    """Remount the tmpfs at `directory` read-only (EROFS for every write under it)."""
    remounted = _mount("-o", "remount,ro", str(directory))
    assert remounted.returncode == 0, remounted.stderr


def free_bytes(directory: Path) -> int:
    """Bytes still free on the filesystem holding `directory`."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize
