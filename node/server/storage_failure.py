"""A write the member's disk refused (full, failing, read-only) stops the member, as etcd's
lg.Fatal does: the WAL or backend cannot tell what reached the disk, so the only safe way on is
a restart that replays the WAL, once space is freed. The other members keep serving."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from node.mvcc.backend import BackendWriteError
from node.wal import WalError

SAVE_ENTRIES = "failed to save Raft hard state and entries"
SAVE_RAFT_SNAPSHOT = "failed to save Raft snapshot"
SAVE_SNAPSHOT = "failed to save snapshot"
COMMIT_TX = "failed to commit tx"
"""etcd 3.4's fatal log messages for each write (raft.go, server.go, backend/batch_tx.go)."""


class StorageFailure(Exception):
    """The member's storage refused a write: the member stops, its process exits with 1."""

    def __init__(self, what: str, cause: BaseException) -> None:
        self.what = what
        super().__init__(f"{what}: {cause}")


@contextmanager
def fatal_storage_errors(what: str, log: logging.Logger) -> Iterator[None]:
    """Turn a refused write inside into StorageFailure, logged at etcd's fatal level first."""
    try:
        yield
    except (OSError, WalError, BackendWriteError) as exc:
        log.critical("%s: %s", what, exc)
        raise StorageFailure(what, exc) from exc
