"""Compaction (errors, what survives, crash recovery) and HashKV, as etcd's mvcc store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.messages import errors
from node.messages.kv import DeleteRangeRequest, RangeRequest
from node.mvcc.backend import FINISHED_COMPACT_KEY, SCHEDULED_COMPACT_KEY
from node.mvcc.kvstore import KVStore
from node.mvcc.records import Revision
from tests.mvcc.test_kvstore import backend_state, get, open_store, put
from tests.server.served import served_delete_range, served_range


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[KVStore]:
    store = open_store(tmp_path / "db")
    yield store
    store.backend.close()


def stored_revisions(kv: KVStore) -> list[tuple[int, int, bool]]:
    """(main, sub, tombstone) of every change still in the backend's key bucket."""
    return [(*Revision.from_bytes(raw), len(raw) == 18) for raw, _ in kv.backend.items(b"key")]


def write_history(kv: KVStore) -> None:
    """a: put 2, put 3, put 5; b: put 4, delete 6; c: put 7."""
    put(kv, b"a", b"a1")
    put(kv, b"a", b"a2")
    put(kv, b"b", b"b1")
    put(kv, b"a", b"a3")
    served_delete_range(kv, DeleteRangeRequest(b"b"))
    put(kv, b"c", b"c1")


# -- compaction -----------------------------------------------------------------------------


def test_compaction_refuses_past_and_future_revisions(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(4)
    before = backend_state(kv)
    with pytest.raises(errors.Compacted) as compacted:
        kv.compact(4)
    assert str(compacted.value) == "etcdserver: mvcc: required revision has been compacted"
    with pytest.raises(errors.Compacted):
        kv.compact(3)
    with pytest.raises(errors.FutureRevision):
        kv.compact(8)
    assert backend_state(kv) == before


def test_reads_below_the_compaction_fail_and_at_it_succeed(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(4)
    assert kv.compact_revision == 4
    with pytest.raises(errors.Compacted):
        served_range(kv, RangeRequest(b"a", revision=3))
    assert get(kv, b"a", revision=4).value == b"a2"
    assert get(kv, b"b", revision=4).value == b"b1"
    assert get(kv, b"a", revision=5).value == b"a3"


def test_compaction_drops_superseded_revisions_and_old_tombstones(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(4)
    assert stored_revisions(kv) == [
        (3, 0, False),
        (4, 0, False),
        (5, 0, False),
        (6, 0, True),
        (7, 0, False),
    ]
    kv.compact(6)
    assert stored_revisions(kv) == [(5, 0, False), (7, 0, False)]


def test_compaction_does_not_change_the_revision_or_current_reads(kv: KVStore) -> None:
    write_history(kv)
    before = served_range(kv, RangeRequest(b"\0", b"\0"))
    kv.compact(7)
    assert kv.current_revision == 7
    assert served_range(kv, RangeRequest(b"\0", b"\0")) == before


def test_compaction_records_scheduled_and_finished_revisions(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(5)
    assert kv.backend.get(b"meta", SCHEDULED_COMPACT_KEY) == Revision(5).to_bytes()
    assert kv.backend.get(b"meta", FINISHED_COMPACT_KEY) == Revision(5).to_bytes()


def test_compaction_in_small_chunks_removes_the_same(tmp_path: Path) -> None:
    whole = open_store(tmp_path / "whole")
    chunked = open_store(tmp_path / "chunked", compaction_batch_limit=2)
    for store in (whole, chunked):
        write_history(store)
        store.compact(6)
    assert stored_revisions(chunked) == stored_revisions(whole)
    whole.backend.close()
    chunked.backend.close()


def test_a_compaction_inside_an_outer_batch_joins_it(kv: KVStore) -> None:
    write_history(kv)
    with kv.backend.batch():
        kv.compact(6)
        put(kv, b"d")
    assert stored_revisions(kv)[0] == (5, 0, False)


def test_reopening_keeps_the_compaction_revision(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    write_history(kv)
    kv.compact(6)
    kv.backend.close()
    reopened = open_store(tmp_path / "db")
    assert (reopened.current_revision, reopened.compact_revision) == (7, 6)
    with pytest.raises(errors.Compacted):
        served_range(reopened, RangeRequest(b"a", revision=5))
    reopened.backend.close()


def test_reopening_after_compacting_away_the_newest_tombstone_keeps_the_revision(
    tmp_path: Path,
) -> None:
    kv = open_store(tmp_path / "db")
    put(kv, b"a")
    served_delete_range(kv, DeleteRangeRequest(b"a"))
    kv.compact(3)
    assert kv.backend.items(b"key") == []
    kv.backend.close()
    reopened = open_store(tmp_path / "db")
    assert (reopened.current_revision, reopened.compact_revision) == (3, 3)
    assert put(reopened, b"a") == 4
    reopened.backend.close()


def test_reopening_finishes_an_interrupted_compaction(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    write_history(kv)
    # What a crash between scheduling and deleting leaves: only the scheduled mark.
    kv.backend.put(b"meta", SCHEDULED_COMPACT_KEY, Revision(6).to_bytes())
    kv.backend.close()

    reopened = open_store(tmp_path / "db")
    assert reopened.compact_revision == 6
    assert stored_revisions(reopened) == [(5, 0, False), (7, 0, False)]
    assert reopened.backend.get(b"meta", FINISHED_COMPACT_KEY) == Revision(6).to_bytes()
    hash_after_compaction = reopened.hash_kv()
    reopened.backend.close()

    clean = open_store(tmp_path / "clean")
    write_history(clean)
    clean.compact(6)
    assert clean.hash_kv() == hash_after_compaction
    clean.backend.close()


# -- hash -----------------------------------------------------------------------------------


def test_equal_histories_hash_equal_and_different_ones_differ(tmp_path: Path) -> None:
    first, second, other = (open_store(tmp_path / name) for name in ("1", "2", "3"))
    write_history(first)
    write_history(second)
    write_history(other)
    put(other, b"x")
    assert first.hash_kv() == second.hash_kv()
    assert first.hash_kv().hash != other.hash_kv().hash
    assert first.hash_kv(5).hash == other.hash_kv(5).hash
    for store in (first, second, other):
        store.backend.close()


def test_hash_reports_the_compaction_and_current_revisions(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(3)
    result = kv.hash_kv(5)
    assert (result.compact_revision, result.revision) == (3, 7)
    assert kv.hash_kv(0) == kv.hash_kv(7)


def test_hash_refuses_compacted_and_future_revisions(kv: KVStore) -> None:
    write_history(kv)
    kv.compact(3)
    with pytest.raises(errors.Compacted):
        kv.hash_kv(3)
    with pytest.raises(errors.FutureRevision):
        kv.hash_kv(8)


def test_hash_at_a_negative_revision_covers_no_record_as_etcd(kv: KVStore) -> None:
    # found by the native door's fuzzer: HashKV {revision: -2} failed with struct.error
    write_history(kv)
    empty = kv.hash_kv(-2)
    assert empty.revision == 7
    assert empty == kv.hash_kv(-(2**63))
    assert empty.hash != kv.hash_kv(0).hash


def test_compacted_members_with_equal_history_hash_equal(tmp_path: Path) -> None:
    compacted, whole = open_store(tmp_path / "c"), open_store(tmp_path / "w")
    write_history(compacted)
    write_history(whole)
    compacted.compact(4)
    assert compacted.hash_kv(7).hash != whole.hash_kv(7).hash
    whole.compact(4)
    assert compacted.hash_kv(7) == whole.hash_kv(7)
    compacted.backend.close()
    whole.backend.close()


def test_hash_survives_reopening(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    write_history(kv)
    kv.compact(4)
    before = kv.hash_kv()
    kv.backend.close()
    reopened = open_store(tmp_path / "db")
    assert reopened.hash_kv() == before
    reopened.backend.close()
