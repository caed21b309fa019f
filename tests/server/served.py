"""Key-space requests as a member serves them, without raft: the shape checks EtcdServer
makes once before proposing, then the txn layer applying them to a store."""

from __future__ import annotations

from node.messages.kv import (
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from node.mvcc.kvstore import KVStore
from node.server import txn, validation
from node.server.config import DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_TXN_OPS
from node.server.raft_request import RaftRequest


def _check_proposal(req: PutRequest | DeleteRangeRequest | TxnRequest, max_bytes: int) -> None:
    validation.check_proposal_size(RaftRequest(1, req).encode(), max_bytes)


def served_range(kv: KVStore, req: RangeRequest) -> RangeResponse:
    validation.check_range(req)
    return txn.range(kv, req)


def served_put(
    kv: KVStore, req: PutRequest, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> PutResponse:
    validation.check_put(req)
    _check_proposal(req, max_request_bytes)
    return txn.put(kv, req)


def served_delete_range(
    kv: KVStore, req: DeleteRangeRequest, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
) -> DeleteRangeResponse:
    validation.check_delete_range(req)
    _check_proposal(req, max_request_bytes)
    return txn.delete_range(kv, req)


def served_txn(
    kv: KVStore,
    req: TxnRequest,
    *,
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> TxnResponse:
    validation.check_txn(req, max_txn_ops)
    if not txn.is_read_only(req):
        _check_proposal(req, max_request_bytes)
    return txn.txn(kv, req)
