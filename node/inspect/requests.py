"""A NORMAL entry's request (etcd's InternalRaftRequest) as one line of text, in the words of
etcdctl's commands: `put "k" "v" lease=..`, `del "a" "b"`, `txn if ... then ... else ...`."""

from __future__ import annotations

import dataclasses
import re

from node.messages.auth import Permission
from node.messages.kv import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)
from node.messages.lease import LeaseCheckpointRequest, LeaseGrantRequest, LeaseRevokeRequest
from node.messages.maintenance import AlarmRequest
from node.raft.describe import quote
from node.server.raft_request import (
    AuthChangeRequest,
    InternalAuthenticateRequest,
    RaftBody,
    RequestKind,
    kind_of,
)

_COMPARE_TARGETS = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create",
    CompareTarget.MOD: "mod",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}
_COMPARE_RESULTS = {
    CompareResult.EQUAL: "=",
    CompareResult.GREATER: ">",
    CompareResult.LESS: "<",
    CompareResult.NOT_EQUAL: "!=",
}

REQUEST_KIND_NAMES = {
    RequestKind.PUT: "put",
    RequestKind.DELETE_RANGE: "delete-range",
    RequestKind.TXN: "txn",
    RequestKind.COMPACTION: "compaction",
    RequestKind.LEASE_GRANT: "lease-grant",
    RequestKind.LEASE_REVOKE: "lease-revoke",
    RequestKind.LEASE_CHECKPOINT: "lease-checkpoint",
    RequestKind.ALARM: "alarm",
    RequestKind.MEMBER_ATTR_SET: "member-attr-set",
    RequestKind.AUTHENTICATE: "authenticate",
    RequestKind.AUTH_CHANGE: "auth",
}
"""The names `--types` takes for each kind of request."""


def request_kind_name(body: RaftBody) -> str:
    """The `--types` name of a request: put, txn, lease-grant, ..."""
    return REQUEST_KIND_NAMES[kind_of(body)]


def describe_request(body: RaftBody) -> str:
    """One line saying what the request does."""
    if isinstance(body, PutRequest):
        return _put(body)
    if isinstance(body, DeleteRangeRequest):
        return _delete(body)
    if isinstance(body, TxnRequest):
        return _txn(body)
    if isinstance(body, CompactionRequest):
        return f"compaction revision={body.revision}" + (" physical" if body.physical else "")
    if isinstance(body, LeaseGrantRequest):
        return f"lease grant id={body.id:x} ttl={body.ttl}"
    if isinstance(body, LeaseRevokeRequest):
        return f"lease revoke id={body.id:x}"
    if isinstance(body, LeaseCheckpointRequest):
        points = " ".join(f"id={c.id:x} remaining_ttl={c.remaining_ttl}" for c in body.checkpoints)
        return f"lease checkpoint {points}"
    if isinstance(body, AlarmRequest):
        return f"alarm {body.action.name} {body.alarm.name} member={body.member_id:x}"
    if isinstance(body, InternalAuthenticateRequest):
        return f"authenticate name={body.name}"  # the token stays out of the listing
    if isinstance(body, AuthChangeRequest):
        return _auth_change(body)
    urls = ",".join(body.client_urls)
    return f"publish member={body.member_id:x} name={body.name} client_urls={urls}"


def _auth_change(change: AuthChangeRequest) -> str:
    """`auth user-add name=alice`: the Auth call and its fields, never a password or its hash."""
    request = change.request
    words = re.findall("[A-Z][a-z]*", type(request).__name__.removeprefix("Auth"))
    verb = "-".join(word.lower() for word in words if word != "Request")
    fields = [
        f"{field.name}={_field_text(value)}"
        for field in dataclasses.fields(request)
        if "password" not in field.name
        and (value := getattr(request, field.name)) not in (None, "", b"")
    ]
    return " ".join(["auth", verb, *fields])


def _field_text(value: object) -> str:
    if isinstance(value, bytes):
        return quote(value)
    if isinstance(value, Permission):
        end = f" range_end={quote(value.range_end)}" if value.range_end else ""
        return f"{value.perm_type.name} key={quote(value.key)}{end}"
    return str(value)


def _put(put: PutRequest) -> str:
    text = f"put {quote(put.key)} {quote(put.value)}"
    if put.lease:
        text += f" lease={put.lease:x}"
    for flag in ("prev_kv", "ignore_value", "ignore_lease"):
        if getattr(put, flag):
            text += f" {flag}"
    return text


def _delete(delete: DeleteRangeRequest) -> str:
    text = f"del {quote(delete.key)}"
    if delete.range_end:
        text += f" {quote(delete.range_end)}"
    return text + (" prev_kv" if delete.prev_kv else "")


def _range(get: RangeRequest) -> str:
    text = f"get {quote(get.key)}"
    if get.range_end:
        text += f" {quote(get.range_end)}"
    return text


def _compare(cmp: Compare) -> str:
    target = _COMPARE_TARGETS[cmp.target]
    key = quote(cmp.key) + (f" {quote(cmp.range_end)}" if cmp.range_end else "")
    operand = {
        CompareTarget.VERSION: str(cmp.version),
        CompareTarget.CREATE: str(cmp.create_revision),
        CompareTarget.MOD: str(cmp.mod_revision),
        CompareTarget.VALUE: quote(cmp.value),
        CompareTarget.LEASE: f"{cmp.lease:x}",
    }[cmp.target]
    return f"{target}({key}) {_COMPARE_RESULTS[cmp.result]} {operand}"


def _op(op: RequestOp) -> str:
    request = op.request()
    if isinstance(request, PutRequest):
        return _put(request)
    if isinstance(request, DeleteRangeRequest):
        return _delete(request)
    if isinstance(request, RangeRequest):
        return _range(request)
    if isinstance(request, TxnRequest):
        return f"({_txn(request)})"
    return "(empty op)"


def _txn(txn: TxnRequest) -> str:
    compares = " && ".join(_compare(cmp) for cmp in txn.compare) or "true"
    success = "; ".join(_op(op) for op in txn.success)
    failure = "; ".join(_op(op) for op in txn.failure)
    return f"txn if {compares} then [{success}] else [{failure}]"
