"""The KV service's requests and responses, named as etcd's etcdserverpb messages (snake_case).

Both client front doors build these, and the server carries them through raft entries, so
each has `to_wire()` (a list of plain cbor2-able values, fields in declaration order) and
`from_wire()`. Enum numbering is etcd's, so a value means the same on every wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from node.messages.header import ResponseHeader
from node.messages.key_value import KeyValue


class SortOrder(IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


def _kv_or_none(obj: Any) -> KeyValue | None:
    return None if obj is None else KeyValue.from_wire(obj)


@dataclass(slots=True)
class RangeRequest:
    """Read the keys in [key, range_end): an empty range_end reads the one key, b"\\0" every
    key from `key` on."""

    key: bytes = b""
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0

    def to_wire(self) -> list:
        return [
            self.key,
            self.range_end,
            self.limit,
            self.revision,
            int(self.sort_order),
            int(self.sort_target),
            self.serializable,
            self.keys_only,
            self.count_only,
            self.min_mod_revision,
            self.max_mod_revision,
            self.min_create_revision,
            self.max_create_revision,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> RangeRequest:
        req = cls(*obj)
        req.sort_order = SortOrder(req.sort_order)
        req.sort_target = SortTarget(req.sort_target)
        return req


@dataclass(slots=True)
class RangeResponse:
    """kvs found; more: limit cut the list; count: keys in range; revision: header revision."""

    kvs: list[KeyValue] = field(default_factory=list)
    more: bool = False
    count: int = 0
    revision: int = 0

    def to_wire(self) -> list:
        return [[kv.to_wire() for kv in self.kvs], self.more, self.count, self.revision]

    @classmethod
    def from_wire(cls, obj: Any) -> RangeResponse:
        kvs, more, count, revision = obj
        return cls([KeyValue.from_wire(kv) for kv in kvs], more, count, revision)


@dataclass(slots=True)
class PutRequest:
    """Set key to value (attached to `lease` unless 0)."""

    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False

    def to_wire(self) -> list:
        return [
            self.key,
            self.value,
            self.lease,
            self.prev_kv,
            self.ignore_value,
            self.ignore_lease,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> PutRequest:
        return cls(*obj)


@dataclass(slots=True)
class PutResponse:
    prev_kv: KeyValue | None = None
    revision: int = 0

    def to_wire(self) -> list:
        return [None if self.prev_kv is None else self.prev_kv.to_wire(), self.revision]

    @classmethod
    def from_wire(cls, obj: Any) -> PutResponse:
        prev_kv, revision = obj
        return cls(_kv_or_none(prev_kv), revision)


@dataclass(slots=True)
class DeleteRangeRequest:
    """Delete the keys in [key, range_end) (range_end conventions as RangeRequest)."""

    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False

    def to_wire(self) -> list:
        return [self.key, self.range_end, self.prev_kv]

    @classmethod
    def from_wire(cls, obj: Any) -> DeleteRangeRequest:
        return cls(*obj)


@dataclass(slots=True)
class DeleteRangeResponse:
    deleted: int = 0
    prev_kvs: list[KeyValue] = field(default_factory=list)
    revision: int = 0

    def to_wire(self) -> list:
        return [self.deleted, [kv.to_wire() for kv in self.prev_kvs], self.revision]

    @classmethod
    def from_wire(cls, obj: Any) -> DeleteRangeResponse:
        deleted, prev_kvs, revision = obj
        return cls(deleted, [KeyValue.from_wire(kv) for kv in prev_kvs], revision)


@dataclass(slots=True)
class Compare:
    """One txn guard: `target` of every key in [key, range_end) compared (`result`) with the
    field of the same name (value, version, create_revision, mod_revision or lease)."""

    result: CompareResult = CompareResult.EQUAL
    target: CompareTarget = CompareTarget.VERSION
    key: bytes = b""
    range_end: bytes = b""
    value: bytes = b""
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    lease: int = 0

    def to_wire(self) -> list:
        return [
            int(self.result),
            int(self.target),
            self.key,
            self.range_end,
            self.value,
            self.version,
            self.create_revision,
            self.mod_revision,
            self.lease,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> Compare:
        cmp = cls(*obj)
        cmp.result = CompareResult(cmp.result)
        cmp.target = CompareTarget(cmp.target)
        return cmp


@dataclass(slots=True)
class RequestOp:
    """One operation of a txn branch: exactly one of the fields is set."""

    request_range: RangeRequest | None = None
    request_put: PutRequest | None = None
    request_delete_range: DeleteRangeRequest | None = None
    request_txn: TxnRequest | None = None

    def request(self) -> RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | None:
        """The request this op carries (None for an empty op)."""
        return (
            self.request_range or self.request_put or self.request_delete_range or self.request_txn
        )

    def to_wire(self) -> list:
        req = self.request()
        if req is None:
            return []
        return [_REQUEST_TAGS[type(req)], req.to_wire()]

    @classmethod
    def from_wire(cls, obj: Any) -> RequestOp:
        if not obj:
            return cls()
        tag, body = obj
        req_type = _REQUEST_TYPES[tag]
        op = cls()
        setattr(op, _REQUEST_FIELDS[req_type], req_type.from_wire(body))
        return op


@dataclass(slots=True)
class TxnRequest:
    """If every compare holds, run `success`, else `failure`; all in one revision."""

    compare: list[Compare] = field(default_factory=list)
    success: list[RequestOp] = field(default_factory=list)
    failure: list[RequestOp] = field(default_factory=list)

    def to_wire(self) -> list:
        return [
            [c.to_wire() for c in self.compare],
            [op.to_wire() for op in self.success],
            [op.to_wire() for op in self.failure],
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> TxnRequest:
        compare, success, failure = obj
        return cls(
            [Compare.from_wire(c) for c in compare],
            [RequestOp.from_wire(op) for op in success],
            [RequestOp.from_wire(op) for op in failure],
        )


@dataclass(slots=True)
class TxnResponse:
    """succeeded: the compares held; responses: one per op of the branch that ran."""

    succeeded: bool = False
    responses: list[RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse] = field(
        default_factory=list
    )
    revision: int = 0

    def to_wire(self) -> list:
        return [
            self.succeeded,
            [[_RESPONSE_TAGS[type(r)], r.to_wire()] for r in self.responses],
            self.revision,
        ]

    @classmethod
    def from_wire(cls, obj: Any) -> TxnResponse:
        succeeded, responses, revision = obj
        return cls(
            succeeded,
            [_RESPONSE_TYPES[tag].from_wire(body) for tag, body in responses],
            revision,
        )


@dataclass(slots=True)
class CompactionRequest:
    """etcdserverpb.CompactionRequest (rpc.proto)."""

    revision: int = 0
    physical: bool = False


@dataclass(slots=True)
class CompactionResponse:
    """etcdserverpb.CompactionResponse (rpc.proto)."""

    header: ResponseHeader | None = None


_REQUEST_TYPES = (RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest)
_REQUEST_TAGS = {t: tag for tag, t in enumerate(_REQUEST_TYPES)}
_REQUEST_FIELDS = {
    RangeRequest: "request_range",
    PutRequest: "request_put",
    DeleteRangeRequest: "request_delete_range",
    TxnRequest: "request_txn",
}
_RESPONSE_TYPES = (RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse)
_RESPONSE_TAGS = {t: tag for tag, t in enumerate(_RESPONSE_TYPES)}
