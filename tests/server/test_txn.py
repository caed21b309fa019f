"""Txn as etcd applies it: compares, branches, nesting, one revision, and refused requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.messages import errors
from node.messages.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    TxnRequest,
    TxnResponse,
)
from node.mvcc.kvstore import KVStore
from tests.mvcc.test_kvstore import RecordingLessor, backend_state, get, open_store, put
from tests.server.served import served_range, served_txn

EQUAL, GREATER, LESS, NOT_EQUAL = (
    CompareResult.EQUAL,
    CompareResult.GREATER,
    CompareResult.LESS,
    CompareResult.NOT_EQUAL,
)


@pytest.fixture
def lessor() -> RecordingLessor:
    return RecordingLessor(7)


@pytest.fixture
def kv(tmp_path: Path, lessor: RecordingLessor) -> Iterator[KVStore]:
    store = open_store(tmp_path / "db", lessor)
    yield store
    store.backend.close()


def put_op(key: bytes, value: bytes = b"v", **options) -> RequestOp:
    return RequestOp(request_put=PutRequest(key, value, **options))


def get_op(key: bytes, range_end: bytes = b"", **options) -> RequestOp:
    return RequestOp(request_range=RangeRequest(key, range_end, **options))


def del_op(key: bytes, range_end: bytes = b"", **options) -> RequestOp:
    return RequestOp(request_delete_range=DeleteRangeRequest(key, range_end, **options))


def txn_op(*compare: Compare, success=(), failure=()) -> RequestOp:
    return RequestOp(request_txn=TxnRequest(list(compare), list(success), list(failure)))


def txn(kv: KVStore, *compare: Compare, success=(), failure=()) -> TxnResponse:
    return served_txn(kv, TxnRequest(list(compare), list(success), list(failure)))


def cmp(key: bytes, target: CompareTarget, result: CompareResult, **operand) -> Compare:
    return Compare(result, target, key, **operand)


# -- compares -------------------------------------------------------------------------------


def test_success_branch_runs_when_every_compare_holds(kv: KVStore) -> None:
    put(kv, b"k", b"one")
    resp = txn(
        kv,
        cmp(b"k", CompareTarget.VALUE, EQUAL, value=b"one"),
        cmp(b"k", CompareTarget.VERSION, GREATER, version=0),
        success=[put_op(b"k", b"two")],
        failure=[put_op(b"k", b"never")],
    )
    assert resp.succeeded
    assert get(kv, b"k").value == b"two"


def test_failure_branch_runs_when_a_compare_fails(kv: KVStore) -> None:
    put(kv, b"k", b"one")
    resp = txn(
        kv,
        cmp(b"k", CompareTarget.VERSION, EQUAL, version=1),
        cmp(b"k", CompareTarget.MOD, LESS, mod_revision=2),
        success=[put_op(b"k", b"never")],
        failure=[get_op(b"k")],
    )
    assert not resp.succeeded
    assert resp.responses[0].kvs[0].value == b"one"
    assert resp.revision == 2


@pytest.mark.parametrize(
    ("compare", "holds"),
    [
        (cmp(b"missing", CompareTarget.VERSION, EQUAL, version=0), True),
        (cmp(b"missing", CompareTarget.CREATE, EQUAL, create_revision=0), True),
        (cmp(b"missing", CompareTarget.MOD, LESS, mod_revision=1), True),
        (cmp(b"missing", CompareTarget.LEASE, EQUAL, lease=0), True),
        (cmp(b"missing", CompareTarget.VALUE, EQUAL, value=b""), False),
        (cmp(b"missing", CompareTarget.VALUE, NOT_EQUAL, value=b"x"), False),
    ],
)
def test_a_missing_key_compares_as_a_zero_kv_except_for_value(
    kv: KVStore, compare: Compare, holds: bool
) -> None:
    assert txn(kv, compare).succeeded is holds


def test_compare_on_lease_and_create_revision(kv: KVStore) -> None:
    put(kv, b"k", lease=7)
    assert txn(kv, cmp(b"k", CompareTarget.LEASE, EQUAL, lease=7)).succeeded
    assert txn(kv, cmp(b"k", CompareTarget.CREATE, EQUAL, create_revision=2)).succeeded
    assert not txn(kv, cmp(b"k", CompareTarget.CREATE, NOT_EQUAL, create_revision=2)).succeeded


def test_a_range_compare_needs_every_key_in_range_to_hold(kv: KVStore) -> None:
    put(kv, b"p/a", b"1")
    put(kv, b"p/b", b"1")
    assert txn(kv, cmp(b"p/", CompareTarget.VALUE, EQUAL, value=b"1", range_end=b"p0")).succeeded
    put(kv, b"p/c", b"2")
    assert not txn(
        kv, cmp(b"p/", CompareTarget.VALUE, EQUAL, value=b"1", range_end=b"p0")
    ).succeeded
    assert txn(kv, cmp(b"p/", CompareTarget.VERSION, EQUAL, version=1, range_end=b"\0")).succeeded


# -- one revision, own writes, responses ----------------------------------------------------


def test_all_ops_share_one_revision_and_reads_see_earlier_writes(kv: KVStore) -> None:
    put(kv, b"old", b"x")
    resp = txn(
        kv,
        success=[
            get_op(b"a"),
            put_op(b"a", b"1"),
            put_op(b"b", b"2"),
            get_op(b"a", b"c"),
            del_op(b"old", prev_kv=True),
        ],
    )
    assert resp.revision == 3
    assert kv.current_revision == 3
    before, put_a, put_b, after, deleted = resp.responses
    assert before == RangeResponse([], False, 0, 2)
    assert put_a == PutResponse(None, 3)
    assert put_b == PutResponse(None, 3)
    assert [(item.key, item.mod_revision) for item in after.kvs] == [(b"a", 3), (b"b", 3)]
    assert after.revision == 3
    assert isinstance(deleted, DeleteRangeResponse)
    assert (deleted.deleted, deleted.prev_kvs[0].value, deleted.revision) == (1, b"x", 3)


def test_a_read_only_txn_reports_the_current_revision(kv: KVStore) -> None:
    put(kv, b"a")
    resp = txn(kv, success=[get_op(b"a")], failure=[get_op(b"b")])
    assert (resp.succeeded, resp.revision, kv.current_revision) == (True, 2, 2)


def test_a_txn_that_changes_nothing_keeps_the_revision(kv: KVStore) -> None:
    put(kv, b"a")
    resp = txn(kv, success=[del_op(b"missing")])
    assert (resp.revision, kv.current_revision) == (2, 2)


def test_nested_txns_run_their_chosen_branch_in_the_same_revision(kv: KVStore) -> None:
    put(kv, b"flag", b"on")
    resp = txn(
        kv,
        success=[
            put_op(b"a"),
            txn_op(
                cmp(b"flag", CompareTarget.VALUE, EQUAL, value=b"off"),
                success=[put_op(b"never")],
                failure=[put_op(b"b"), txn_op(success=[put_op(b"c")])],
            ),
        ],
    )
    assert resp.revision == 3
    outer_put, inner = resp.responses
    assert outer_put.revision == 3
    assert not inner.succeeded
    assert inner.responses[0] == PutResponse(None, 3)
    assert inner.responses[1].succeeded
    assert [item.key for item in served_range(kv, RangeRequest(b"a", b"\0")).kvs] == [
        b"a",
        b"b",
        b"c",
        b"flag",
    ]


def test_nested_compares_see_the_state_before_the_txn_wrote(kv: KVStore) -> None:
    resp = txn(
        kv,
        success=[
            put_op(b"k"),
            txn_op(cmp(b"k", CompareTarget.VERSION, EQUAL, version=0), success=[put_op(b"seen")]),
        ],
    )
    assert resp.responses[1].succeeded
    assert get(kv, b"seen") is not None


# -- refused txns write nothing -------------------------------------------------------------


def _many(count: int) -> list[RequestOp]:
    return [put_op(b"k%d" % i) for i in range(count)]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (TxnRequest(success=_many(129)), errors.TooManyOps),
        (TxnRequest([cmp(b"k", CompareTarget.VERSION, EQUAL)] * 129), errors.TooManyOps),
        (
            TxnRequest(success=[*_many(100), txn_op(success=_many(29))]),
            errors.TooManyOps,
        ),
        (TxnRequest(success=[put_op(b"k"), put_op(b"k")]), errors.DuplicateKey),
        (TxnRequest(failure=[put_op(b"b"), del_op(b"a", b"c")]), errors.DuplicateKey),
        (TxnRequest(success=[del_op(b"b"), put_op(b"b")]), errors.DuplicateKey),
        (
            TxnRequest(success=[put_op(b"k"), txn_op(success=[put_op(b"k")])]),
            errors.DuplicateKey,
        ),
        (
            TxnRequest(success=[del_op(b"a", b"z"), txn_op(failure=[put_op(b"k")])]),
            errors.DuplicateKey,
        ),
        (
            TxnRequest(success=[txn_op(success=[del_op(b"k")]), put_op(b"k")]),
            errors.DuplicateKey,
        ),
        (TxnRequest(success=[put_op(b"")]), errors.EmptyKey),
        (TxnRequest([cmp(b"", CompareTarget.VERSION, EQUAL)]), errors.EmptyKey),
        (TxnRequest(success=[put_op(b"a"), get_op(b"a", revision=99)]), errors.FutureRevision),
        (TxnRequest(success=[put_op(b"a"), put_op(b"b", lease=99)]), errors.LeaseNotFound),
        (
            TxnRequest(success=[put_op(b"a"), put_op(b"b", b"", ignore_value=True)]),
            errors.KeyNotFound,
        ),
        (TxnRequest(success=[put_op(b"a"), RequestOp()]), errors.KeyNotFound),
        (TxnRequest(success=[put_op(b"a", b"x" * (1536 * 1024))]), errors.RequestTooLarge),
    ],
)
def test_a_refused_txn_writes_nothing(
    kv: KVStore, request_: TxnRequest, error: type[errors.EtcdError]
) -> None:
    put(kv, b"a", b"before")
    before = backend_state(kv)
    with pytest.raises(error):
        served_txn(kv, request_)
    assert backend_state(kv) == before


def test_too_many_ops_and_duplicate_key_carry_etcds_texts(kv: KVStore) -> None:
    with pytest.raises(errors.TooManyOps) as too_many:
        served_txn(kv, TxnRequest(success=_many(129)))
    assert str(too_many.value) == "etcdserver: too many operations in txn request"
    with pytest.raises(errors.DuplicateKey) as duplicate:
        served_txn(kv, TxnRequest(success=[put_op(b"k"), put_op(b"k")]))
    assert str(duplicate.value) == "etcdserver: duplicate key given in txn request"


def test_exactly_max_txn_ops_is_accepted(kv: KVStore) -> None:
    assert txn(kv, success=_many(128)).revision == 2


def test_max_txn_ops_is_configurable(tmp_path: Path) -> None:
    kv = open_store(tmp_path / "db")
    with pytest.raises(errors.TooManyOps):
        served_txn(kv, TxnRequest(success=_many(3)), max_txn_ops=2)
    kv.backend.close()


@pytest.mark.parametrize(
    "request_",
    [
        TxnRequest(success=[put_op(b"k")], failure=[put_op(b"k")]),
        TxnRequest(success=[txn_op(success=[put_op(b"k")], failure=[put_op(b"k")])]),
        TxnRequest(success=[del_op(b"a", b"c"), del_op(b"b"), get_op(b"b")]),
        TxnRequest(success=[put_op(b"b"), del_op(b"a", b"b")]),
        # etcd compares a range_end of b"\0" as written, so this overlaps nothing
        TxnRequest(success=[put_op(b"b"), del_op(b"a", b"\0")]),
    ],
)
def test_what_etcd_does_not_count_as_a_duplicate(kv: KVStore, request_: TxnRequest) -> None:
    put(kv, b"b")
    assert served_txn(kv, request_).revision == 3


def test_a_compacted_read_inside_a_txn_refuses_the_whole_txn(kv: KVStore) -> None:
    put(kv, b"a")
    put(kv, b"a")
    kv.compact(3)
    before = backend_state(kv)
    with pytest.raises(errors.Compacted):
        txn(kv, success=[put_op(b"b"), get_op(b"a", revision=2)])
    assert backend_state(kv) == before


def test_a_txn_put_attaches_its_lease(kv: KVStore, lessor: RecordingLessor) -> None:
    txn(kv, success=[put_op(b"a", lease=7), put_op(b"b")])
    assert lessor.keys[7] == {b"a"}


# -- wire forms -----------------------------------------------------------------------------


def test_txn_requests_and_responses_survive_their_wire_form(kv: KVStore) -> None:
    request = TxnRequest(
        [cmp(b"k", CompareTarget.VALUE, NOT_EQUAL, value=b"x", range_end=b"l")],
        [put_op(b"k", prev_kv=True), get_op(b"a", b"z", limit=3), txn_op(success=[del_op(b"q")])],
        [get_op(b"k", count_only=True)],
    )
    assert TxnRequest.from_wire(request.to_wire()) == request
    assert RequestOp.from_wire(RequestOp().to_wire()) == RequestOp()
    put(kv, b"k", b"old")
    response = served_txn(kv, request)
    assert TxnResponse.from_wire(response.to_wire()) == response
