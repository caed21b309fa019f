"""The key space's Range, Put, DeleteRange, write transactions, history and reopen, as etcd.

Requests go through tests/server/served.py: the server's shape checks, then its txn layer
over this store. Txn scenarios live in tests/server/test_txn.py, compaction and hashing in
test_kvstore_compaction.py; they share RecordingLessor, open_store and backend_state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.messages import errors
from node.messages.key_value import Event, EventType, KeyValue
from node.messages.kv import DeleteRangeRequest, PutRequest, RangeRequest, SortOrder, SortTarget
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.mvcc.records import Revision
from tests.server.served import served_delete_range, served_put, served_range


class RecordingLessor:
    """A lessor stand-in: the leases that exist and which keys each holds."""

    def __init__(self, *lease_ids: int) -> None:
        self.keys: dict[int, set[bytes]] = {lease_id: set() for lease_id in lease_ids}

    def exists(self, lease_id: int) -> bool:
        return lease_id in self.keys

    def attach(self, lease_id: int, key: bytes) -> None:
        self.keys[lease_id].add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        self.keys[lease_id].discard(key)


def open_store(path: Path, lessor: RecordingLessor | None = None, **options) -> KVStore:
    return KVStore(Backend(path, map_size=1 << 30), lessor, **options)


def backend_state(kv: KVStore) -> tuple:
    """Everything a store has written: its revision and the key and meta buckets."""
    return kv.current_revision, kv.backend.items(b"key"), kv.backend.items(b"meta")


@pytest.fixture
def lessor() -> RecordingLessor:
    return RecordingLessor(7, 8)


@pytest.fixture
def kv(tmp_path: Path, lessor: RecordingLessor) -> Iterator[KVStore]:
    store = open_store(tmp_path / "db", lessor)
    yield store
    store.backend.close()


def put(kv: KVStore, key: bytes, value: bytes = b"v", **options) -> int:
    return served_put(kv, PutRequest(key, value, **options)).revision


def get(kv: KVStore, key: bytes, **options) -> KeyValue | None:
    kvs = served_range(kv, RangeRequest(key, **options)).kvs
    return kvs[0] if kvs else None


def keys(kv: KVStore, key: bytes, range_end: bytes, **options) -> list[bytes]:
    return [item.key for item in served_range(kv, RangeRequest(key, range_end, **options)).kvs]


# -- revisions and versions ---------------------------------------------------------------


def test_a_fresh_store_is_at_revision_one_and_the_first_write_makes_two(kv: KVStore) -> None:
    assert kv.current_revision == 1
    assert kv.compact_revision == 0
    assert put(kv, b"a") == 2
    assert kv.current_revision == 2


def test_each_put_bumps_version_and_mod_revision_and_keeps_create_revision(
    kv: KVStore,
) -> None:
    put(kv, b"k", b"one")
    put(kv, b"other")
    put(kv, b"k", b"two")
    assert get(kv, b"k") == KeyValue(
        b"k", create_revision=2, mod_revision=4, version=2, value=b"two"
    )


def test_a_key_recreated_after_delete_starts_again_at_version_one(kv: KVStore) -> None:
    put(kv, b"k")
    put(kv, b"k")
    served_delete_range(kv, DeleteRangeRequest(b"k"))
    rev = put(kv, b"k", b"again")
    assert get(kv, b"k") == KeyValue(
        b"k", create_revision=rev, mod_revision=rev, version=1, value=b"again"
    )


# -- range ----------------------------------------------------------------------------------


@pytest.fixture
def abc(kv: KVStore) -> KVStore:
    for key in (b"a", b"b", b"c", b"d"):
        put(kv, key, key.upper())
    return kv


def test_range_end_conventions_follow_etcd(abc: KVStore) -> None:
    assert keys(abc, b"b", b"") == [b"b"]
    assert keys(abc, b"b", b"d") == [b"b", b"c"]
    assert keys(abc, b"b", b"\0") == [b"b", b"c", b"d"]
    assert keys(abc, b"\0", b"\0") == [b"a", b"b", b"c", b"d"]
    assert keys(abc, b"c", b"a") == []
    assert keys(abc, b"c", b"c") == []


def test_range_reads_any_past_revision(abc: KVStore) -> None:
    put(abc, b"a", b"new")
    served_delete_range(abc, DeleteRangeRequest(b"b"))
    assert get(abc, b"a", revision=2).value == b"A"
    assert keys(abc, b"a", b"\0", revision=5) == [b"a", b"b", b"c", b"d"]
    assert keys(abc, b"a", b"\0") == [b"a", b"c", b"d"]
    assert get(abc, b"a", revision=1) is None


def test_range_reports_the_current_revision_even_for_a_past_read(abc: KVStore) -> None:
    assert served_range(abc, RangeRequest(b"a", revision=2)).revision == 5


def test_range_at_a_future_revision_is_refused(abc: KVStore) -> None:
    with pytest.raises(errors.FutureRevision) as raised:
        served_range(abc, RangeRequest(b"a", revision=6))
    assert str(raised.value) == "etcdserver: mvcc: required revision is a future revision"


def test_range_with_an_empty_key_is_refused(kv: KVStore) -> None:
    with pytest.raises(errors.EmptyKey) as raised:
        served_range(kv, RangeRequest(b""))
    assert str(raised.value) == "etcdserver: key is not provided"


def test_limit_cuts_the_result_count_counts_all_and_more_says_so(abc: KVStore) -> None:
    resp = served_range(abc, RangeRequest(b"a", b"\0", limit=2))
    assert [item.key for item in resp.kvs] == [b"a", b"b"]
    assert (resp.count, resp.more) == (4, True)
    resp = served_range(abc, RangeRequest(b"a", b"\0", limit=4))
    assert (len(resp.kvs), resp.count, resp.more) == (4, 4, False)
    resp = served_range(abc, RangeRequest(b"a", b"\0", limit=-1))
    assert (len(resp.kvs), resp.more) == (4, False)


def test_count_only_returns_the_count_without_kvs(abc: KVStore) -> None:
    resp = served_range(abc, RangeRequest(b"a", b"\0", count_only=True))
    assert (resp.kvs, resp.count) == ([], 4)


def test_keys_only_leaves_values_out(abc: KVStore) -> None:
    resp = served_range(abc, RangeRequest(b"a", b"c", keys_only=True))
    assert [(item.key, item.value, item.version) for item in resp.kvs] == [
        (b"a", b"", 1),
        (b"b", b"", 1),
    ]


@pytest.fixture
def varied(kv: KVStore) -> KVStore:
    """Keys whose version, create, mod and value orders all differ from key order."""
    put(kv, b"k3", b"x")  # 2
    put(kv, b"k1", b"z")  # 3
    put(kv, b"k2", b"y")  # 4
    put(kv, b"k1", b"w")  # 5
    put(kv, b"k1", b"v")  # 6
    put(kv, b"k3", b"u")  # 7
    return kv


@pytest.mark.parametrize(
    ("target", "order", "expected"),
    [
        (SortTarget.KEY, SortOrder.ASCEND, [b"k1", b"k2", b"k3"]),
        (SortTarget.KEY, SortOrder.DESCEND, [b"k3", b"k2", b"k1"]),
        (SortTarget.VERSION, SortOrder.DESCEND, [b"k1", b"k3", b"k2"]),
        (SortTarget.CREATE, SortOrder.ASCEND, [b"k3", b"k1", b"k2"]),
        (SortTarget.MOD, SortOrder.DESCEND, [b"k3", b"k1", b"k2"]),
        (SortTarget.VALUE, SortOrder.ASCEND, [b"k3", b"k1", b"k2"]),
        (SortTarget.VALUE, SortOrder.NONE, [b"k3", b"k1", b"k2"]),
        (SortTarget.MOD, SortOrder.NONE, [b"k2", b"k1", b"k3"]),
    ],
)
def test_sort_by_each_target(
    varied: KVStore, target: SortTarget, order: SortOrder, expected: list[bytes]
) -> None:
    assert keys(varied, b"k", b"l", sort_target=target, sort_order=order) == expected


def test_sort_happens_before_the_limit(varied: KVStore) -> None:
    resp = served_range(varied,
        RangeRequest(b"k", b"l", limit=1, sort_target=SortTarget.MOD, sort_order=SortOrder.DESCEND)
    )
    assert [item.key for item in resp.kvs] == [b"k3"]
    assert (resp.count, resp.more) == (3, True)


def test_revision_filters_apply_before_the_limit_and_leave_count_alone(varied: KVStore) -> None:
    resp = served_range(varied, RangeRequest(b"k", b"l", min_mod_revision=5, limit=1))
    assert [item.key for item in resp.kvs] == [b"k1"]
    assert (resp.count, resp.more) == (3, True)
    assert keys(varied, b"k", b"l", max_mod_revision=6) == [b"k1", b"k2"]
    assert keys(varied, b"k", b"l", min_create_revision=3) == [b"k1", b"k2"]
    assert keys(varied, b"k", b"l", max_create_revision=3) == [b"k1", b"k3"]
    resp = served_range(varied, RangeRequest(b"k", b"l", min_create_revision=4, max_mod_revision=4))
    assert ([item.key for item in resp.kvs], resp.count, resp.more) == ([b"k2"], 3, False)


# -- put ------------------------------------------------------------------------------------


def test_put_returns_the_previous_kv_when_asked(kv: KVStore) -> None:
    put(kv, b"k", b"old")
    resp = served_put(kv, PutRequest(b"k", b"new", prev_kv=True))
    assert resp.prev_kv.value == b"old"
    assert served_put(kv, PutRequest(b"fresh", b"x", prev_kv=True)).prev_kv is None
    assert served_put(kv, PutRequest(b"k", b"newer")).prev_kv is None


def test_ignore_value_keeps_the_current_value(kv: KVStore) -> None:
    put(kv, b"k", b"kept", lease=7)
    put(kv, b"k", ignore_value=True, value=b"", lease=8)
    assert (get(kv, b"k").value, get(kv, b"k").lease) == (b"kept", 8)


def test_ignore_lease_keeps_the_current_lease(kv: KVStore, lessor: RecordingLessor) -> None:
    put(kv, b"k", b"one", lease=7)
    put(kv, b"k", b"two", ignore_lease=True)
    assert (get(kv, b"k").value, get(kv, b"k").lease) == (b"two", 7)
    assert lessor.keys[7] == {b"k"}


def test_a_put_attaches_its_lease_and_detaches_the_previous_one(
    kv: KVStore, lessor: RecordingLessor
) -> None:
    put(kv, b"k", lease=7)
    assert lessor.keys == {7: {b"k"}, 8: set()}
    put(kv, b"k", lease=8)
    assert lessor.keys == {7: set(), 8: {b"k"}}
    put(kv, b"k")
    assert lessor.keys == {7: set(), 8: set()}
    assert get(kv, b"k").lease == 0


@pytest.mark.parametrize(
    ("request_", "error", "text"),
    [
        (PutRequest(b"", b"v"), errors.EmptyKey, "key is not provided"),
        (PutRequest(b"k", b"v", lease=99), errors.LeaseNotFound, "requested lease not found"),
        (PutRequest(b"k", b"v", ignore_value=True), errors.ValueProvided, "value is provided"),
        (PutRequest(b"k", lease=7, ignore_lease=True), errors.LeaseProvided, "lease is provided"),
        (PutRequest(b"nokey", ignore_value=True), errors.KeyNotFound, "key not found"),
        (PutRequest(b"nokey", b"v", ignore_lease=True), errors.KeyNotFound, "key not found"),
        (PutRequest(b"k", b"x" * (1536 * 1024)), errors.RequestTooLarge, "request is too large"),
    ],
)
def test_a_bad_put_is_refused_with_etcds_text_and_writes_nothing(
    kv: KVStore, request_: PutRequest, error: type[errors.EtcdError], text: str
) -> None:
    put(kv, b"k", b"v")
    before = backend_state(kv)
    with pytest.raises(error) as raised:
        served_put(kv, request_)
    assert str(raised.value) == f"etcdserver: {text}"
    assert backend_state(kv) == before


def test_max_request_bytes_is_configurable(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    with pytest.raises(errors.RequestTooLarge):
        served_put(kv, PutRequest(b"k", b"x" * 100), max_request_bytes=100)
    served_put(kv, PutRequest(b"k", b"x" * 50), max_request_bytes=100)
    kv.backend.close()


def test_a_lease_is_unknown_when_the_store_has_no_lessor(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    with pytest.raises(errors.LeaseNotFound):
        put(kv, b"k", lease=7)
    kv.backend.close()


# -- delete range ---------------------------------------------------------------------------


def test_delete_range_reports_the_count_and_previous_kvs(abc: KVStore) -> None:
    resp = served_delete_range(abc, DeleteRangeRequest(b"b", b"d", prev_kv=True))
    assert resp.deleted == 2
    assert [(item.key, item.value) for item in resp.prev_kvs] == [(b"b", b"B"), (b"c", b"C")]
    assert resp.revision == 6
    assert keys(abc, b"a", b"\0") == [b"a", b"d"]


def test_deleting_nothing_does_not_bump_the_revision(abc: KVStore) -> None:
    resp = served_delete_range(abc, DeleteRangeRequest(b"zzz"))
    assert (resp.deleted, resp.revision, abc.current_revision) == (0, 5, 5)


def test_delete_detaches_the_deleted_keys_leases(kv: KVStore, lessor: RecordingLessor) -> None:
    put(kv, b"a", lease=7)
    put(kv, b"b", lease=7)
    served_delete_range(kv, DeleteRangeRequest(b"a"))
    assert lessor.keys[7] == {b"b"}


def test_delete_with_an_empty_key_is_refused(kv: KVStore) -> None:
    with pytest.raises(errors.EmptyKey):
        served_delete_range(kv, DeleteRangeRequest(b""))


# -- write transactions and commit notifications --------------------------------------------


def test_a_write_transaction_takes_one_revision_with_increasing_subs(kv: KVStore) -> None:
    heard: list[tuple[int, list[Event]]] = []
    kv.on_commit.append(lambda revision, events: heard.append((revision, events)))
    put(kv, b"gone")
    with kv.write() as txn:
        txn.put(b"a", b"1")
        txn.put(b"b", b"2", lease=7)
        assert txn.delete_range(b"gone") == 1
    assert kv.current_revision == 3
    revision, events = heard[-1]
    assert revision == 3
    assert events == [
        Event(EventType.PUT, KeyValue(b"a", 3, 3, 1, b"1")),
        Event(EventType.PUT, KeyValue(b"b", 3, 3, 1, b"2", 7)),
        Event(EventType.DELETE, KeyValue(b"gone", mod_revision=3)),
    ]
    stored = [Revision.from_bytes(raw) for raw, _ in kv.backend.items(b"key")]
    assert stored[-3:] == [Revision(3, 0), Revision(3, 1), Revision(3, 2)]


def test_reads_inside_a_write_transaction_see_its_own_writes(kv: KVStore) -> None:
    put(kv, b"a", b"old")
    with kv.write() as txn:
        assert txn.range(b"a").kvs[0].value == b"old"
        txn.put(b"a", b"new")
        found = txn.range(b"a")
        assert (found.kvs[0].value, found.revision) == (b"new", 3)
        assert txn.range(b"a", revision=2).kvs[0].value == b"old"


def test_a_transaction_that_changes_nothing_keeps_the_revision_and_stays_silent(
    kv: KVStore,
) -> None:
    heard = []
    kv.on_commit.append(lambda revision, events: heard.append(revision))
    put(kv, b"a")
    with kv.write() as txn:
        assert txn.delete_range(b"missing") == 0
    assert kv.current_revision == 2
    assert heard == [2]


def test_a_transaction_that_raises_leaves_no_trace(kv: KVStore) -> None:
    put(kv, b"a", b"old")
    before = backend_state(kv)
    with pytest.raises(ZeroDivisionError), kv.write() as txn:
        txn.put(b"a", b"new")
        txn.put(b"b", b"x")
        txn.delete_range(b"a")
        raise ZeroDivisionError
    assert backend_state(kv) == before
    assert get(kv, b"a").value == b"old"
    assert get(kv, b"b") is None
    assert put(kv, b"a", b"next") == 3
    assert get(kv, b"a").version == 2


def test_write_transactions_do_not_nest(kv: KVStore) -> None:
    with pytest.raises(RuntimeError), kv.write():
        put(kv, b"a")


def test_operations_inside_an_outer_batch_commit_together(kv: KVStore) -> None:
    with kv.backend.batch():
        put(kv, b"a", b"1")
        put(kv, b"b", b"2")
        served_delete_range(kv, DeleteRangeRequest(b"a"))
        assert keys(kv, b"a", b"\0") == [b"b"]
    assert kv.current_revision == 4
    assert len(kv.backend.items(b"key")) == 3


# -- history for watchers -------------------------------------------------------------------


def test_events_between_replays_history_with_tombstones_as_deletes(abc: KVStore) -> None:
    served_delete_range(abc, DeleteRangeRequest(b"a", b"c"))
    events = abc.events_between(4, 7)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        (EventType.PUT, b"c", 4),
        (EventType.PUT, b"d", 5),
        (EventType.DELETE, b"a", 6),
        (EventType.DELETE, b"b", 6),
    ]
    assert events[-1].kv == KeyValue(b"b", mod_revision=6)


def test_events_between_never_splits_a_revision_at_the_limit(abc: KVStore) -> None:
    served_delete_range(abc, DeleteRangeRequest(b"a", b"\0"))
    events = abc.events_between(5, 100, limit=2)
    assert [(e.kv.key, e.kv.mod_revision) for e in events] == [
        (b"d", 5),
        (b"a", 6),
        (b"b", 6),
        (b"c", 6),
        (b"d", 6),
    ]
    assert [e.kv.key for e in abc.events_between(2, 100, limit=2)] == [b"a", b"b"]


def test_events_between_refuses_compacted_history_but_serves_the_compaction_point(
    abc: KVStore,
) -> None:
    abc.compact(4)
    with pytest.raises(errors.Compacted):
        abc.events_between(3, 6)
    assert [e.kv.key for e in abc.events_between(4, 6)] == [b"c", b"d"]


# -- reopen ---------------------------------------------------------------------------------


def _everything(kv: KVStore) -> list:
    """All reads a client could make: every key at every readable revision, plus revisions."""
    seen = [kv.current_revision, kv.compact_revision]
    for revision in range(max(kv.compact_revision, 1), kv.current_revision + 1):
        seen.append(served_range(kv, RangeRequest(b"\0", b"\0", revision=revision)).kvs)
    return seen


def test_reopening_restores_every_revision_and_the_counters(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    put(kv, b"a", b"1")
    put(kv, b"b", b"2")
    put(kv, b"a", b"3")
    served_delete_range(kv, DeleteRangeRequest(b"b"))
    put(kv, b"b", b"4")
    with kv.write() as txn:
        txn.put(b"c", b"5")
        txn.delete_range(b"a")
    before = _everything(kv)
    kv.backend.close()

    reopened = open_store(tmp_path / "db")
    assert _everything(reopened) == before
    assert put(reopened, b"b", b"6") == 8
    assert get(reopened, b"b").version == 2
    reopened.backend.close()


def test_reopening_reattaches_live_keys_to_their_leases(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db", RecordingLessor(7, 8))
    put(kv, b"a", lease=7)
    put(kv, b"b", lease=7)
    put(kv, b"b", lease=8)
    put(kv, b"c", lease=8)
    served_delete_range(kv, DeleteRangeRequest(b"c"))
    put(kv, b"d", lease=7)
    put(kv, b"d")
    kv.backend.close()

    lessor = RecordingLessor(7, 8)
    reopened = open_store(tmp_path / "db", lessor)
    assert lessor.keys == {7: {b"a"}, 8: {b"b"}}
    reopened.backend.close()


def test_reopening_an_empty_backend_gives_a_fresh_store(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    kv.backend.close()
    reopened = open_store(tmp_path / "db")
    assert (reopened.current_revision, reopened.compact_revision) == (1, 0)
    reopened.backend.close()
