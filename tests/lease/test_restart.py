"""A lessor opened over a backend that already holds leases restores them."""

from __future__ import annotations

from pathlib import Path

from node.lease import Lessor
from node.mvcc.backend import Backend
from tests.lease.conftest import MIN_TTL, FakeClock


def reopen(path: Path, clock: FakeClock, min_ttl: int = MIN_TTL) -> tuple[Backend, Lessor]:
    backend = Backend(path, map_size=1 << 24)
    return backend, Lessor(backend, min_ttl=min_ttl, clock=clock)


def test_a_restart_restores_leases_and_remaining_ttls_as_a_follower(
    backend_path: Path, clock: FakeClock
) -> None:
    backend, lessor = reopen(backend_path, clock)
    lessor.promote(0.0)
    lessor.grant(1, 300)
    lessor.grant(2, 10)
    lessor.grant(3, 20)
    lessor.apply_checkpoint(1, 120)
    lessor.revoke(3)
    backend.close()

    backend, restored = reopen(backend_path, clock)
    try:
        assert [(lease.id, lease.ttl, lease.remaining_ttl) for lease in restored.leases()] == [
            (1, 300, 120),
            (2, 10, 0),
        ]
        assert not restored.is_primary
        clock.advance(1000)
        assert restored.expired_leases() == []

        restored.promote(1.0)
        assert restored.lookup(1).remaining() == 121
        assert restored.lookup(2).remaining() == 11
    finally:
        backend.close()


def test_a_restart_with_a_larger_minimum_raises_short_ttls(
    backend_path: Path, clock: FakeClock
) -> None:
    backend, lessor = reopen(backend_path, clock, min_ttl=2)
    lessor.grant(1, 3)
    backend.close()

    backend, restored = reopen(backend_path, clock, min_ttl=5)
    try:
        assert restored.lookup(1).ttl == 5
    finally:
        backend.close()


def test_restored_leases_accept_their_keys_again(backend_path: Path, clock: FakeClock) -> None:
    backend, lessor = reopen(backend_path, clock)
    lessor.grant(1, 30)
    lessor.attach(1, b"k")
    backend.close()

    backend, restored = reopen(backend_path, clock)
    try:
        assert restored.lookup(1).keys == set()
        restored.attach(1, b"k")
        assert restored.lookup(1).keys == {b"k"}
    finally:
        backend.close()
