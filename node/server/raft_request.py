"""What travels in a NORMAL raft entry: etcd's InternalRaftRequest, as cbor2 [id, kind, body]
or [id, kind, body, user, auth revision].

An entry made for an authenticated request also carries its user and the auth revision its
token was checked at (etcd's RequestHeader), so the apply step checks permissions again.
The id is unique per member (etcd's idutil.Generator: member id prefix, millisecond clock,
counter) so the member that proposed an entry can wake the request waiting for it; the body
is the request's wire form. Decoding raises MalformedRecord for anything not understood.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any

import cbor2

from node.messages.auth import (
    AuthDisableRequest,
    AuthEnableRequest,
    AuthRequest,
    AuthRoleAddRequest,
    AuthRoleDeleteRequest,
    AuthRoleGetRequest,
    AuthRoleGrantPermissionRequest,
    AuthRoleListRequest,
    AuthRoleRevokePermissionRequest,
    AuthUserAddRequest,
    AuthUserChangePasswordRequest,
    AuthUserDeleteRequest,
    AuthUserGetRequest,
    AuthUserGrantRoleRequest,
    AuthUserListRequest,
    AuthUserRevokeRoleRequest,
    Permission,
    PermissionType,
    UserAddOptions,
)
from node.messages.kv import CompactionRequest, DeleteRangeRequest, PutRequest, TxnRequest
from node.messages.lease import (
    LeaseCheckpoint,
    LeaseCheckpointRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
)
from node.messages.maintenance import AlarmAction, AlarmRequest, AlarmType
from node.raft import MalformedRecord
from node.server.auth_tokens import AuthInfo


class RequestKind(IntEnum):
    """What an entry's body is, numbered for the wire."""

    PUT = 0
    DELETE_RANGE = 1
    TXN = 2
    COMPACTION = 3
    LEASE_GRANT = 4
    LEASE_REVOKE = 5
    LEASE_CHECKPOINT = 6
    ALARM = 7
    MEMBER_ATTR_SET = 8
    AUTHENTICATE = 9
    AUTH_CHANGE = 10


@dataclass(slots=True)
class MemberAttrSetRequest:
    """A member publishes its name and client URLs once it runs (etcd's publish)."""

    member_id: int = 0
    name: str = ""
    client_urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InternalAuthenticateRequest:
    """etcd's InternalAuthenticateRequest: the password was checked by the proposing member;
    the token's random part is chosen there too, its index part is the entry's."""

    name: str = ""
    simple_token: str = ""


@dataclass(slots=True)
class AuthChangeRequest:
    """An Auth service request through raft; a password in it was replaced by its bcrypt
    hash before proposing (the log never holds a password)."""

    request: AuthRequest
    hashed_password: bytes = b""


_AUTH_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        AuthEnableRequest, AuthDisableRequest, AuthUserAddRequest, AuthUserGetRequest,
        AuthUserDeleteRequest, AuthUserChangePasswordRequest, AuthUserGrantRoleRequest,
        AuthUserRevokeRoleRequest, AuthRoleAddRequest, AuthRoleGetRequest, AuthUserListRequest,
        AuthRoleListRequest, AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest,
        AuthRoleRevokePermissionRequest,
    )
}  # fmt: skip


def _auth_field_to_wire(value: Any) -> Any:
    if isinstance(value, Permission):
        return [int(value.perm_type), value.key, value.range_end]
    if isinstance(value, UserAddOptions):
        return [value.no_password]
    return value


def _auth_request_to_wire(req: AuthRequest) -> list:
    return [type(req).__name__, [_auth_field_to_wire(getattr(req, f.name)) for f in fields(req)]]


def _auth_request_from_wire(obj: Any) -> AuthRequest:
    name, values = obj
    cls = _AUTH_TYPES[name]
    kwargs = dict(zip([f.name for f in fields(cls)], values, strict=True))
    if cls is AuthRoleGrantPermissionRequest and kwargs["perm"] is not None:
        perm_type, key, range_end = kwargs["perm"]
        kwargs["perm"] = Permission(PermissionType(perm_type), key, range_end)
    if cls is AuthUserAddRequest and kwargs["options"] is not None:
        kwargs["options"] = UserAddOptions(*kwargs["options"])
    return cls(**kwargs)


RaftBody = (
    PutRequest
    | DeleteRangeRequest
    | TxnRequest
    | CompactionRequest
    | LeaseGrantRequest
    | LeaseRevokeRequest
    | LeaseCheckpointRequest
    | AlarmRequest
    | MemberAttrSetRequest
    | InternalAuthenticateRequest
    | AuthChangeRequest
)

_KIND_OF: dict[type, RequestKind] = {
    PutRequest: RequestKind.PUT,
    DeleteRangeRequest: RequestKind.DELETE_RANGE,
    TxnRequest: RequestKind.TXN,
    CompactionRequest: RequestKind.COMPACTION,
    LeaseGrantRequest: RequestKind.LEASE_GRANT,
    LeaseRevokeRequest: RequestKind.LEASE_REVOKE,
    LeaseCheckpointRequest: RequestKind.LEASE_CHECKPOINT,
    AlarmRequest: RequestKind.ALARM,
    MemberAttrSetRequest: RequestKind.MEMBER_ATTR_SET,
    InternalAuthenticateRequest: RequestKind.AUTHENTICATE,
    AuthChangeRequest: RequestKind.AUTH_CHANGE,
}


def kind_of(body: RaftBody) -> RequestKind:
    """What `body` is, as its entry says on the wire."""
    return _KIND_OF[type(body)]


def _body_to_wire(body: RaftBody) -> Any:
    if isinstance(body, PutRequest | DeleteRangeRequest | TxnRequest):
        return body.to_wire()
    if isinstance(body, CompactionRequest):
        return [body.revision, body.physical]
    if isinstance(body, LeaseGrantRequest):
        return [body.ttl, body.id]
    if isinstance(body, LeaseRevokeRequest):
        return [body.id]
    if isinstance(body, LeaseCheckpointRequest):
        return [[c.id, c.remaining_ttl] for c in body.checkpoints]
    if isinstance(body, AlarmRequest):
        return [int(body.action), body.member_id, int(body.alarm)]
    if isinstance(body, InternalAuthenticateRequest):
        return [body.name, body.simple_token]
    if isinstance(body, AuthChangeRequest):
        return [_auth_request_to_wire(body.request), body.hashed_password]
    return [body.member_id, body.name, list(body.client_urls)]


def _body_from_wire(kind: RequestKind, obj: Any) -> RaftBody:
    if kind is RequestKind.PUT:
        return PutRequest.from_wire(obj)
    if kind is RequestKind.DELETE_RANGE:
        return DeleteRangeRequest.from_wire(obj)
    if kind is RequestKind.TXN:
        return TxnRequest.from_wire(obj)
    if kind is RequestKind.COMPACTION:
        return CompactionRequest(*obj)
    if kind is RequestKind.LEASE_GRANT:
        return LeaseGrantRequest(*obj)
    if kind is RequestKind.LEASE_REVOKE:
        return LeaseRevokeRequest(*obj)
    if kind is RequestKind.LEASE_CHECKPOINT:
        return LeaseCheckpointRequest([LeaseCheckpoint(i, ttl) for i, ttl in obj])
    if kind is RequestKind.ALARM:
        action, member_id, alarm = obj
        return AlarmRequest(AlarmAction(action), member_id, AlarmType(alarm))
    if kind is RequestKind.AUTHENTICATE:
        return InternalAuthenticateRequest(*obj)
    if kind is RequestKind.AUTH_CHANGE:
        request, hashed = obj
        return AuthChangeRequest(_auth_request_from_wire(request), hashed)
    member_id, name, client_urls = obj
    return MemberAttrSetRequest(member_id, name, list(client_urls))


@dataclass(slots=True)
class RaftRequest:
    """One proposal: who waits for it (id), what to apply (body) and, for a request made
    with a token, who asked at which auth revision (auth)."""

    id: int
    body: RaftBody
    auth: AuthInfo | None = None

    @property
    def kind(self) -> RequestKind:
        """What the body is."""
        return kind_of(self.body)

    def encode(self) -> bytes:
        """The entry data: cbor2 [id, kind, body] or [id, kind, body, user, auth revision]."""
        wire = [self.id, int(kind_of(self.body)), _body_to_wire(self.body)]
        if self.auth is not None:
            wire += [self.auth.username, self.auth.revision]
        return cbor2.dumps(wire)

    @classmethod
    def decode(cls, data: bytes) -> RaftRequest:
        """The request in an entry's data; MalformedRecord otherwise."""
        try:
            request_id, kind, body, *header = cbor2.loads(data)
            auth = AuthInfo(*header) if header else None
            return cls(request_id, _body_from_wire(RequestKind(kind), body), auth)
        except Exception as exc:
            raise MalformedRecord(f"undecodable raft request: {exc}") from exc


class RequestIdGenerator:
    """etcd's idutil.Generator: | member id low 16 bits | ms clock 40 bits | counter 8 bits |.

    The counter may carry into the clock part, as etcd's does; ids stay unique across
    restarts more than a millisecond apart.
    """

    __slots__ = ("_prefix", "_suffix")

    _SUFFIX_BITS = 48

    def __init__(self, member_id: int, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._prefix = (member_id & 0xFFFF) << self._SUFFIX_BITS
        self._suffix = (int(wall_clock() * 1000) & ((1 << 40) - 1)) << 8

    def next(self) -> int:
        """The next id."""
        self._suffix += 1
        return self._prefix | (self._suffix & ((1 << self._SUFFIX_BITS) - 1))
