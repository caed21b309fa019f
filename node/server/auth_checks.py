"""Which permission each request needs (etcd's apply_auth.go and the checks of v3_server.go):
READ for ranges and txn compares, WRITE for puts and deletes, WRITE on every key of a lease
to attach to or revoke it, root for the Auth service's changes. Run before proposing where
etcd does (ranges, read-only txns) and always again when the entry is applied, against the
auth revision the token was checked at.
"""

from __future__ import annotations

from typing import Any

from node.lease import Lessor
from node.messages.auth import AuthRoleGetRequest, AuthUserGetRequest
from node.messages.kv import DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest
from node.messages.lease import LeaseRevokeRequest
from node.server.auth_store import AuthStore
from node.server.auth_tokens import AuthInfo
from node.server.raft_request import AuthChangeRequest


def check_txn(store: AuthStore, auth: AuthInfo | None, req: TxnRequest) -> None:
    """READ on every compare's keys, and what each op of both branches needs."""
    for compare in req.compare:
        store.check_range(auth, compare.key, compare.range_end)
    for op in (*req.success, *req.failure):
        _check_op(store, auth, op)


def _check_op(store: AuthStore, auth: AuthInfo | None, op: RequestOp) -> None:
    if op.request_range is not None:
        store.check_range(auth, op.request_range.key, op.request_range.range_end)
    elif op.request_put is not None:
        store.check_put(auth, op.request_put.key)
        if op.request_put.prev_kv:
            store.check_range(auth, op.request_put.key, b"")
    elif op.request_delete_range is not None:
        _check_delete(store, auth, op.request_delete_range)
    elif op.request_txn is not None:
        check_txn(store, auth, op.request_txn)


def _check_delete(store: AuthStore, auth: AuthInfo | None, req: DeleteRangeRequest) -> None:
    if req.prev_kv:
        store.check_range(auth, req.key, req.range_end)
    store.check_delete_range(auth, req.key, req.range_end)


def _check_lease_keys(
    store: AuthStore, auth: AuthInfo | None, lessor: Lessor, lease_id: int
) -> None:
    """WRITE on every key the lease holds: who may not revoke them may not attach to it."""
    lease = lessor.lookup(lease_id) if lease_id else None
    for key in sorted(lease.keys) if lease is not None else ():
        store.check_put(auth, key)


def check_applied(store: AuthStore, auth: AuthInfo | None, lessor: Lessor, body: Any) -> None:
    """What the apply step checks of a raft entry's request while auth is on."""
    if isinstance(body, PutRequest):
        store.check_put(auth, body.key)
        _check_lease_keys(store, auth, lessor, body.lease)
        if body.prev_kv:
            store.check_range(auth, body.key, b"")
    elif isinstance(body, DeleteRangeRequest):
        _check_delete(store, auth, body)
    elif isinstance(body, TxnRequest):
        check_txn(store, auth, body)
    elif isinstance(body, RangeRequest):
        store.check_range(auth, body.key, body.range_end)
    elif isinstance(body, LeaseRevokeRequest):
        _check_lease_keys(store, auth, lessor, body.id)
    elif isinstance(body, AuthChangeRequest):
        check_auth_change(store, auth, body)


def check_auth_change(store: AuthStore, auth: AuthInfo | None, body: AuthChangeRequest) -> None:
    """Root for every Auth change and list; a user may read itself and its own roles."""
    request = body.request
    if auth is not None and (
        (isinstance(request, AuthUserGetRequest) and request.name == auth.username)
        or (isinstance(request, AuthRoleGetRequest) and store.has_role(auth.username, request.role))
    ):
        return
    store.check_admin(auth)
