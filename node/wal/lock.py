"""The exclusive lock that keeps two openers (processes or WAL objects) off one WAL directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from node.wal.errors import WalLockedError

LOCK_FILENAME = "wal.lock"


class DirectoryLock:
    """An flock on `<dir>/wal.lock`; it follows the directory through a rename."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        """Take the lock without waiting; WalLockedError if anyone else holds it."""
        fd = os.open(directory / LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WalLockedError(
                f"fileutil: file already locked: the WAL in {directory} is open elsewhere"
            ) from None
        return cls(fd)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
