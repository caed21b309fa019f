"""The key space's request rules over mvcc's read and write views, as etcd's etcdserver/txn.go.

mvcc only reads and writes keys at revisions; the rules of etcd's requests live here: Range's
limit, count, sort and filter rules; Put's prev_kv and ignore_value/ignore_lease; DeleteRange's
prev_kv; Txn's compares, the state checks of the branch that will run, and its ops applied in
one write transaction. `range`, `put`, `delete_range` and `txn` open the view a request needs;
the `execute_*` functions take a ReadTxn or WriteTxn so the same code serves standalone
requests and the ops inside a txn.

A request reaching these functions has passed its shape checks (node/server/validation.py)
before it was proposed; what is checked here is what needs the store's state (leases, keys,
revisions), before anything is written, as etcd checks it at apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from node.messages import errors
from node.messages.key_value import KeyValue
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
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from node.mvcc.kvstore import KVStore, ReadTxn, WriteTxn

_Operand = TypeVar("_Operand", bytes, int)

_SORT_KEYS: dict[SortTarget, Callable[[KeyValue], Any]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def execute_range(view: ReadTxn, req: RangeRequest) -> RangeResponse:
    """Range as etcd applies it: count is every key in range at the revision (before the
    min/max filters); filters, then sort, then the limit, which sets `more`."""
    filtered = bool(
        req.min_mod_revision
        or req.max_mod_revision
        or req.min_create_revision
        or req.max_create_revision
    )
    limit = req.limit
    if req.sort_order != SortOrder.NONE or filtered:
        limit = 0  # fetch everything; sort and cut afterwards
    if limit > 0:
        limit += 1  # one extra tells whether there is more
    found = view.range(
        req.key, req.range_end, revision=req.revision, limit=limit, count_only=req.count_only
    )
    kvs = found.kvs
    if filtered:
        kvs = [kv for kv in kvs if _within_filters(req, kv)]

    order = req.sort_order
    if order == SortOrder.NONE and req.sort_target != SortTarget.KEY:
        order = SortOrder.ASCEND  # results come key-sorted; other targets sort ascending
    if order != SortOrder.NONE:
        kvs.sort(key=_SORT_KEYS[req.sort_target], reverse=order == SortOrder.DESCEND)

    more = False
    if req.limit > 0 and len(kvs) > req.limit:
        kvs = kvs[: req.limit]
        more = True
    if req.keys_only:
        for kv in kvs:
            kv.value = b""
    return RangeResponse(kvs, more, found.count, found.revision)


def _within_filters(req: RangeRequest, kv: KeyValue) -> bool:
    return not (
        (req.max_mod_revision and kv.mod_revision > req.max_mod_revision)
        or (req.min_mod_revision and kv.mod_revision < req.min_mod_revision)
        or (req.max_create_revision and kv.create_revision > req.max_create_revision)
        or (req.min_create_revision and kv.create_revision < req.min_create_revision)
    )


def execute_put(view: WriteTxn, req: PutRequest) -> PutResponse:
    """Put with etcd's flags; raises KeyNotFound (before writing) when ignore_value or
    ignore_lease finds no key to take the value or lease from."""
    prev = None
    if req.ignore_value or req.ignore_lease or req.prev_kv:
        kvs = view.range(req.key).kvs
        prev = kvs[0] if kvs else None
    value, lease = req.value, req.lease
    if req.ignore_value or req.ignore_lease:
        if prev is None:
            raise errors.KeyNotFound()
        if req.ignore_value:
            value = prev.value
        if req.ignore_lease:
            lease = prev.lease
    revision = view.put(req.key, value, lease)
    return PutResponse(prev if req.prev_kv else None, revision)


def execute_delete_range(view: WriteTxn, req: DeleteRangeRequest) -> DeleteRangeResponse:
    prev_kvs = view.range(req.key, req.range_end).kvs if req.prev_kv else []
    deleted = view.delete_range(req.key, req.range_end)
    return DeleteRangeResponse(deleted, prev_kvs, view.revision)


# -- txn ----------------------------------------------------------------------------------


def is_read_only(req: TxnRequest) -> bool:
    """True when both branches only read (a nested txn counts as a write, as in etcd)."""
    return all(op.request_range is not None for op in (*req.success, *req.failure))


def compare_to_path(view: ReadTxn, req: TxnRequest) -> list[bool]:
    """Evaluate every compare up front, before any write: the outcome of this txn, then of
    each nested txn on the chosen branch, depth first (etcd's compareToPath)."""
    succeeded = all(_compare_holds(view, cmp) for cmp in req.compare)
    path = [succeeded]
    for op in req.success if succeeded else req.failure:
        if op.request_txn is not None:
            path.extend(compare_to_path(view, op.request_txn))
    return path


def _compare_holds(view: ReadTxn, cmp: Compare) -> bool:
    try:
        kvs = view.range(cmp.key, cmp.range_end).kvs
    except errors.EtcdError:
        return False
    if not kvs:
        # a missing key compares as an empty KeyValue, except that a value compare fails
        return cmp.target != CompareTarget.VALUE and _compare_kv(cmp, KeyValue(cmp.key))
    return all(_compare_kv(cmp, kv) for kv in kvs)


def _compare_kv(cmp: Compare, kv: KeyValue) -> bool:
    target = cmp.target
    if target == CompareTarget.VALUE:
        return _compared(cmp.result, kv.value, cmp.value)
    if target == CompareTarget.CREATE:
        return _compared(cmp.result, kv.create_revision, cmp.create_revision)
    if target == CompareTarget.MOD:
        return _compared(cmp.result, kv.mod_revision, cmp.mod_revision)
    if target == CompareTarget.VERSION:
        return _compared(cmp.result, kv.version, cmp.version)
    return _compared(cmp.result, kv.lease, cmp.lease)


def _compared(result: CompareResult, ours: _Operand, theirs: _Operand) -> bool:
    if result == CompareResult.EQUAL:
        return ours == theirs
    if result == CompareResult.NOT_EQUAL:
        return ours != theirs
    if result == CompareResult.GREATER:
        return ours > theirs
    return ours < theirs


def check_txn_against(view: ReadTxn, req: TxnRequest, path: list[bool]) -> None:
    """Before any write, check the ops of the branches that will run against the current
    state: leases exist, ignore_value/ignore_lease keys exist, read revisions are servable."""
    ops = list(_chosen_ops(req, iter(path)))
    if not is_read_only(req):
        for op in ops:
            if op.request_put is not None:
                _check_put_state(view, op.request_put)
    for op in ops:
        if op.request_range is not None:
            _check_range_revision(view, op.request_range)


def _chosen_ops(req: TxnRequest, path: Iterator[bool]) -> Iterator[RequestOp]:
    for op in req.success if next(path) else req.failure:
        if op.request_txn is not None:
            yield from _chosen_ops(op.request_txn, path)
        else:
            yield op


def _check_range_revision(view: ReadTxn, req: RangeRequest) -> None:
    if req.revision == 0:
        return
    if req.revision > view.revision:
        raise errors.FutureRevision()
    if req.revision < view.compact_revision:
        raise errors.Compacted()


def _check_put_state(view: ReadTxn, req: PutRequest) -> None:
    if (req.ignore_value or req.ignore_lease) and not view.range(req.key).kvs:
        raise errors.KeyNotFound()
    if req.lease and not view.lease_exists(req.lease):
        raise errors.LeaseNotFound()


def execute_txn(view: ReadTxn | WriteTxn, req: TxnRequest, path: Iterator[bool]) -> TxnResponse:
    """Run the branch `path` chose; one response per op. Revisions of nested txn responses
    stay 0, as etcd leaves their headers; the caller sets the outer one."""
    succeeded = next(path)
    responses: list[RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse] = []
    for op in req.success if succeeded else req.failure:
        if op.request_range is not None:
            responses.append(execute_range(view, op.request_range))
        elif op.request_put is not None:
            assert isinstance(view, WriteTxn), "only a read-only txn runs in a read view"
            responses.append(execute_put(view, op.request_put))
        elif op.request_delete_range is not None:
            assert isinstance(view, WriteTxn), "only a read-only txn runs in a read view"
            responses.append(execute_delete_range(view, op.request_delete_range))
        elif op.request_txn is not None:
            responses.append(execute_txn(view, op.request_txn, path))
    return TxnResponse(succeeded, responses)


# -- requests on the store ------------------------------------------------------------------


def range(kv: KVStore, req: RangeRequest) -> RangeResponse:
    """etcd's Range over a read view at the current revision."""
    with kv.read() as view:
        return execute_range(view, req)


def put(kv: KVStore, req: PutRequest) -> PutResponse:
    """etcd's Put: refused before writing when its lease is unknown or (ignore_value,
    ignore_lease) there is no key to take the value or lease from."""
    with kv.write() as view:
        if req.lease and not view.lease_exists(req.lease):
            raise errors.LeaseNotFound()
        return execute_put(view, req)


def delete_range(kv: KVStore, req: DeleteRangeRequest) -> DeleteRangeResponse:
    """etcd's DeleteRange; deleting nothing leaves the revision where it is."""
    with kv.write() as view:
        return execute_delete_range(view, req)


def txn(kv: KVStore, req: TxnRequest) -> TxnResponse:
    """etcd's Txn: compares, then one branch (nested txns included) in one revision; a
    read-only txn only reads."""
    with kv.read() as view:
        path = compare_to_path(view, req)
        check_txn_against(view, req, path)
        if is_read_only(req):
            resp = execute_txn(view, req, iter(path))
            resp.revision = view.revision
            return resp
    with kv.write() as writer:
        resp = execute_txn(writer, req, iter(path))
    resp.revision = writer.revision
    return resp
