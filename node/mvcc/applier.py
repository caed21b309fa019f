"""etcd's request semantics over a store transaction (etcdserver/apply.go's applierV3backend).

Range's limit, count, sort and filter rules; Put's prev_kv and ignore_value/ignore_lease;
DeleteRange's prev_kv; Txn's compares, the pre-checks of the branch that will run, and its
ops applied in one write transaction. The functions take a ReadTxn or WriteTxn so the same
code serves standalone requests and the ops inside a txn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from node.mvcc.kvstore import ReadTxn, WriteTxn

_SORT_KEYS: dict[SortTarget, Callable[[KeyValue], object]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def apply_range(txn: ReadTxn, req: RangeRequest) -> RangeResponse:
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
    found = txn.range(
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


def apply_put(txn: WriteTxn, req: PutRequest) -> PutResponse:
    """Put with etcd's flags; raises KeyNotFound (before writing) when ignore_value or
    ignore_lease finds no key to take the value or lease from."""
    prev = None
    if req.ignore_value or req.ignore_lease or req.prev_kv:
        kvs = txn.range(req.key).kvs
        prev = kvs[0] if kvs else None
    if (req.ignore_value or req.ignore_lease) and prev is None:
        raise errors.KeyNotFound()
    value = prev.value if req.ignore_value else req.value
    lease = prev.lease if req.ignore_lease else req.lease
    revision = txn.put(req.key, value, lease)
    return PutResponse(prev if req.prev_kv else None, revision)


def apply_delete_range(txn: WriteTxn, req: DeleteRangeRequest) -> DeleteRangeResponse:
    prev_kvs = txn.range(req.key, req.range_end).kvs if req.prev_kv else []
    deleted = txn.delete_range(req.key, req.range_end)
    return DeleteRangeResponse(deleted, prev_kvs, txn.revision)


# -- txn ----------------------------------------------------------------------------------


def is_read_only(req: TxnRequest) -> bool:
    """True when both branches only read (a nested txn counts as a write, as in etcd)."""
    return all(op.request_range is not None for op in (*req.success, *req.failure))


def compare_to_path(txn: ReadTxn, req: TxnRequest) -> list[bool]:
    """Evaluate every compare up front, before any write: the outcome of this txn, then of
    each nested txn on the chosen branch, depth first (etcd's compareToPath)."""
    succeeded = all(_compare_holds(txn, cmp) for cmp in req.compare)
    path = [succeeded]
    for op in req.success if succeeded else req.failure:
        if op.request_txn is not None:
            path.extend(compare_to_path(txn, op.request_txn))
    return path


def _compare_holds(txn: ReadTxn, cmp: Compare) -> bool:
    try:
        kvs = txn.range(cmp.key, cmp.range_end).kvs
    except errors.EtcdError:
        return False
    if not kvs:
        # a missing key compares as an empty KeyValue, except that a value compare fails
        return cmp.target != CompareTarget.VALUE and _compare_kv(cmp, KeyValue(cmp.key))
    return all(_compare_kv(cmp, kv) for kv in kvs)


def _compare_kv(cmp: Compare, kv: KeyValue) -> bool:
    target = cmp.target
    if target == CompareTarget.VALUE:
        ours, theirs = kv.value, cmp.value
    elif target == CompareTarget.CREATE:
        ours, theirs = kv.create_revision, cmp.create_revision
    elif target == CompareTarget.MOD:
        ours, theirs = kv.mod_revision, cmp.mod_revision
    elif target == CompareTarget.VERSION:
        ours, theirs = kv.version, cmp.version
    else:
        ours, theirs = kv.lease, cmp.lease
    result = cmp.result
    if result == CompareResult.EQUAL:
        return ours == theirs
    if result == CompareResult.NOT_EQUAL:
        return ours != theirs
    if result == CompareResult.GREATER:
        return ours > theirs
    return ours < theirs


def check_txn_against(txn: ReadTxn, req: TxnRequest, path: list[bool]) -> None:
    """Before any write, check the ops of the branches that will run against the current
    state: leases exist, ignore_value/ignore_lease keys exist, read revisions are servable."""
    ops = list(_chosen_ops(req, iter(path)))
    if not is_read_only(req):
        for op in ops:
            if op.request_put is not None:
                _check_put_state(txn, op.request_put)
    for op in ops:
        if op.request_range is not None:
            _check_range_revision(txn, op.request_range)


def _chosen_ops(req: TxnRequest, path: Iterator[bool]) -> Iterator[RequestOp]:
    for op in req.success if next(path) else req.failure:
        if op.request_txn is not None:
            yield from _chosen_ops(op.request_txn, path)
        else:
            yield op


def _check_range_revision(txn: ReadTxn, req: RangeRequest) -> None:
    if req.revision == 0:
        return
    if req.revision > txn.revision:
        raise errors.FutureRevision()
    if req.revision < txn.compact_revision:
        raise errors.Compacted()


def _check_put_state(txn: ReadTxn, req: PutRequest) -> None:
    if (req.ignore_value or req.ignore_lease) and not txn.range(req.key).kvs:
        raise errors.KeyNotFound()
    if req.lease and not txn.lease_exists(req.lease):
        raise errors.LeaseNotFound()


def apply_txn(txn: ReadTxn | WriteTxn, req: TxnRequest, path: Iterator[bool]) -> TxnResponse:
    """Run the branch `path` chose; one response per op. Revisions of nested txn responses
    stay 0, as etcd leaves their headers; the caller sets the outer one."""
    succeeded = next(path)
    responses: list[RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse] = []
    for op in req.success if succeeded else req.failure:
        if op.request_range is not None:
            responses.append(apply_range(txn, op.request_range))
        elif op.request_put is not None:
            responses.append(apply_put(txn, op.request_put))
        elif op.request_delete_range is not None:
            responses.append(apply_delete_range(txn, op.request_delete_range))
        elif op.request_txn is not None:
            responses.append(apply_txn(txn, op.request_txn, path))
    return TxnResponse(succeeded, responses)
