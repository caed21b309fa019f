"""The shape checks a key-space request passes once, before it is proposed, as etcd's
v3rpc/key.go and processInternalRaftRequest make them.

Empty keys, contradictory flags, too many txn ops, a txn writing one key twice, an oversize
proposal; checks that need the store's state (leases, revisions, missing keys) happen when
the entry is applied (node/server/txn.py), still before any write.
"""

from __future__ import annotations

from node.messages import errors
from node.messages.kv import DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest


def check_range(req: RangeRequest) -> None:
    """A range needs a key."""
    if not req.key:
        raise errors.EmptyKey()


def check_put(req: PutRequest) -> None:
    """A put needs a key, and no value (or lease) when told to keep the current one."""
    if not req.key:
        raise errors.EmptyKey()
    if req.ignore_value and req.value:
        raise errors.ValueProvided()
    if req.ignore_lease and req.lease:
        raise errors.LeaseProvided()


def check_delete_range(req: DeleteRangeRequest) -> None:
    """A delete needs a key."""
    if not req.key:
        raise errors.EmptyKey()


def check_txn(req: TxnRequest, max_txn_ops: int) -> None:
    """etcd's checkTxnRequest and checkIntervals: op budget, empty keys, no key written twice.

    The budget counts the longest of compare/success/failure; a nested txn gets what is left.
    """
    _check_txn_shape(req, max_txn_ops)
    check_intervals(req.success)
    check_intervals(req.failure)


def _check_txn_shape(req: TxnRequest, max_txn_ops: int) -> None:
    ops = max(len(req.compare), len(req.success), len(req.failure))
    if ops > max_txn_ops:
        raise errors.TooManyOps()
    for cmp in req.compare:
        if not cmp.key:
            raise errors.EmptyKey()
    for op in (*req.success, *req.failure):
        _check_request_op(op, max_txn_ops - ops)


def _check_request_op(op: RequestOp, max_txn_ops: int) -> None:
    if op.request_range is not None:
        check_range(op.request_range)
    elif op.request_put is not None:
        check_put(op.request_put)
    elif op.request_delete_range is not None:
        check_delete_range(op.request_delete_range)
    elif op.request_txn is not None:
        _check_txn_shape(op.request_txn, max_txn_ops)
    else:
        raise errors.KeyNotFound()  # an empty op, as etcd answers it


def check_intervals(ops: list[RequestOp]) -> tuple[set[bytes], list[tuple[bytes, bytes | None]]]:
    """Raise DuplicateKey when puts overlap puts or deletes in one branch list (nested
    txns included); return (puts, deletes) for the enclosing level, as etcd's checkIntervals.

    A delete is [key, range_end), or the point key when range_end is empty; like etcd, a
    range_end of b"\\0" is compared as written (so it overlaps no put).
    """
    dels: list[tuple[bytes, bytes | None]] = []
    for op in ops:
        delete = op.request_delete_range
        if delete is not None:
            dels.append((delete.key, delete.range_end or None))

    puts: set[bytes] = set()
    for op in ops:
        if op.request_txn is None:
            continue
        puts_then, dels_then = check_intervals(op.request_txn.success)
        puts_else, dels_else = check_intervals(op.request_txn.failure)
        for key in puts_then:
            if key in puts or _deleted(dels, key):
                raise errors.DuplicateKey()
            puts.add(key)
        for key in puts_else:
            # then and else never both run, so the same key in both is fine
            if (key in puts and key not in puts_then) or _deleted(dels, key):
                raise errors.DuplicateKey()
            puts.add(key)
        dels.extend(dels_then)
        dels.extend(dels_else)

    for op in ops:
        put = op.request_put
        if put is None:
            continue
        if put.key in puts or _deleted(dels, put.key):
            raise errors.DuplicateKey()
        puts.add(put.key)
    return puts, dels


def _deleted(dels: list[tuple[bytes, bytes | None]], key: bytes) -> bool:
    return any(key == begin if end is None else begin <= key < end for begin, end in dels)


def check_proposal_size(data: bytes, max_request_bytes: int) -> None:
    """RequestTooLarge when a proposal's entry data exceeds max_request_bytes (etcd's check
    of the marshalled request it would propose)."""
    if len(data) > max_request_bytes:
        raise errors.RequestTooLarge()
