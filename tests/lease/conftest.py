"""Shared fixtures for the lessor tests: a hand-driven clock, a backend and a recording deleter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from node.lease import Lessor
from node.mvcc.backend import Backend

MIN_TTL = 2


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingTxn:
    """Stands in for the key space's write transaction: remembers the keys it deletes."""

    def __init__(self) -> None:
        self.deleted: list[bytes] = []

    def delete_range(self, key: bytes, range_end: bytes = b"") -> int:
        self.deleted.append(key)
        return 1


class RecordingDeleter:
    """Stands in for `kv.write`: each committed transaction's deleted keys, in order."""

    def __init__(self) -> None:
        self.transactions: list[list[bytes]] = []

    @contextmanager
    def __call__(self) -> Iterator[RecordingTxn]:
        txn = RecordingTxn()
        yield txn
        self.transactions.append(txn.deleted)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend_path(tmp_path: Path) -> Path:
    return tmp_path / "member.db"


@pytest.fixture
def backend(backend_path: Path) -> Iterator[Backend]:
    backend = Backend(backend_path, map_size=1 << 24)
    yield backend
    backend.close()


@pytest.fixture
def deleter() -> RecordingDeleter:
    return RecordingDeleter()


@pytest.fixture
def make_lessor(
    backend: Backend, clock: FakeClock, deleter: RecordingDeleter
) -> Callable[..., Lessor]:
    def make(**options: object) -> Lessor:
        options.setdefault("min_ttl", MIN_TTL)
        return Lessor(backend, clock=clock, range_deleter=deleter, **options)

    return make


@pytest.fixture
def follower(make_lessor: Callable[..., Lessor]) -> Lessor:
    """A lessor that is not primary, as on a member that is not the raft leader."""
    return make_lessor()


@pytest.fixture
def primary(make_lessor: Callable[..., Lessor]) -> Lessor:
    """A lessor promoted with no extension, as on the raft leader."""
    lessor = make_lessor()
    lessor.promote(0.0)
    return lessor
