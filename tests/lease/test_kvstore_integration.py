"""The lessor with the real key space: revokes delete at one revision, restarts re-attach keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.lease import Lessor
from node.messages.key_value import Event, EventType
from node.messages.kv import PutRequest, RangeRequest
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from tests.lease.conftest import MIN_TTL, FakeClock
from tests.server.served import served_put, served_range


class Member:
    """A backend, a lessor and the key space wired as the server wires them at start."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.backend = Backend(path, map_size=1 << 24)
        self.lessor = Lessor(self.backend, min_ttl=MIN_TTL, clock=clock)
        self.kv = KVStore(self.backend, self.lessor)
        self.lessor.set_range_deleter(self.kv.write)
        self.commits: list[tuple[int, list[Event]]] = []
        self.kv.on_commit.append(lambda revision, events: self.commits.append((revision, events)))

    def put(self, key: bytes, lease: int = 0) -> None:
        served_put(self.kv, PutRequest(key=key, value=b"v:" + key, lease=lease))

    def live(self, *keys: bytes) -> list[bytes]:
        """Those of `keys` that a get finds."""
        return [key for key in keys if served_range(self.kv, RangeRequest(key=key)).kvs]


@pytest.fixture
def member(backend_path: Path, clock: FakeClock) -> Iterator[Member]:
    member = Member(backend_path, clock)
    yield member
    member.backend.close()


def test_revoke_deletes_the_lease_keys_at_one_new_revision(member: Member) -> None:
    member.lessor.grant(1, 30)
    for key in (b"svc/b", b"svc/a", b"svc/c"):
        member.put(key, lease=1)
    member.put(b"config")
    before = member.kv.current_revision

    member.lessor.revoke(1)

    assert member.kv.current_revision == before + 1
    assert member.live(b"svc/a", b"svc/b", b"svc/c", b"config") == [b"config"]
    revision, events = member.commits[-1]
    assert revision == before + 1
    assert [(event.type, event.kv.key) for event in events] == [
        (EventType.DELETE, b"svc/a"),
        (EventType.DELETE, b"svc/b"),
        (EventType.DELETE, b"svc/c"),
    ]
    assert not member.lessor.exists(1)


def test_a_revoke_inside_an_apply_batch_commits_with_it(member: Member) -> None:
    member.lessor.grant(1, 30)
    member.put(b"a", lease=1)

    with member.backend.batch():
        member.lessor.revoke(1)
        member.put(b"b")

    assert member.live(b"a", b"b") == [b"b"]
    assert member.backend.get(b"lease", (1).to_bytes(8, "big")) is None


def test_a_key_moved_off_a_lease_survives_its_revoke(member: Member) -> None:
    member.lessor.grant(1, 30)
    member.lessor.grant(2, 30)
    member.put(b"a", lease=1)
    member.put(b"b", lease=1)
    member.put(b"b", lease=2)

    member.lessor.revoke(1)

    assert member.live(b"a", b"b") == [b"b"]
    assert member.lessor.lookup(2).keys == {b"b"}


def test_reopening_the_store_reattaches_keys_to_their_leases(
    backend_path: Path, clock: FakeClock
) -> None:
    member = Member(backend_path, clock)
    member.lessor.grant(1, 30)
    member.lessor.grant(2, 30)
    member.put(b"job/1", lease=1)
    member.put(b"job/2", lease=1)
    member.put(b"lock", lease=2)
    member.put(b"lock")
    member.backend.close()

    reopened = Member(backend_path, clock)
    try:
        assert reopened.lessor.lookup(1).keys == {b"job/1", b"job/2"}
        assert reopened.lessor.lookup(2).keys == set()

        before = reopened.kv.current_revision
        reopened.lessor.revoke(1)
        assert reopened.kv.current_revision == before + 1
        assert reopened.live(b"job/1", b"job/2", b"lock") == [b"lock"]
    finally:
        reopened.backend.close()
