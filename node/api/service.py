"""The service layer both front doors share: every client method, by name, over EtcdServer.

A door hands over a method name (`KV.Range`, `Watch.Watch`, ...) and wire bodies (maps with
the proto field names of etcd's v3 messages) and gets wire bodies back, or an EtcdError with
etcd's code and text. In between, the layer does what etcd's v3rpc package does around its
server: checks requests before anything is written (empty keys, txn shape, member URLs),
converts bodies to the server's dataclasses and back, fills response headers, and runs the
streams (watch, lease keep-alive, snapshot, the member event stream) as loops over the
server's API. A door only moves bodies between its wire and this class.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

import trio

from node.api.concurrency_service import ConcurrencyService
from node.api.convert import InvalidBody, from_wire, to_wire
from node.messages import errors
from node.messages.auth import (
    AuthDisableRequest,
    AuthEnableRequest,
    AuthenticateRequest,
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
)
from node.messages.cluster import (
    MemberAddRequest,
    MemberListRequest,
    MemberPromoteRequest,
    MemberRemoveRequest,
    MemberUpdateRequest,
)
from node.messages.concurrency import (
    CampaignRequest,
    LeaderRequest,
    LockRequest,
    ProclaimRequest,
    ResignRequest,
    UnlockRequest,
)
from node.messages.faults import FaultRequest
from node.messages.kv import (
    CompactionRequest,
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from node.messages.lease import (
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
)
from node.messages.maintenance import (
    AlarmRequest,
    DefragmentRequest,
    HashKVRequest,
    HashRequest,
    MoveLeaderRequest,
    SnapshotRequest,
    StatusRequest,
)
from node.messages.member_events import TRACE_KINDS, UnknownEventKind
from node.messages.raft_status import RaftStatusRequest
from node.messages.step_mode import StepRequest
from node.messages.watch import WatchCreateRequest, WatchRequest
from node.mvcc.watcher import AUTO_WATCH_ID, WatchResponse
from node.server.flag_values import FlagValueError, parse_url

if TYPE_CHECKING:
    from node.server.auth_tokens import AuthInfo
    from node.server.etcdserver import EtcdServer

Body = dict[str, Any]
Send = Callable[[Body], Awaitable[None]]


class MethodKind(Enum):
    """How a method talks: one request and one reply, or a stream."""

    UNARY = "unary"
    SERVER_STREAM = "server stream"
    BIDI_STREAM = "bidirectional stream"


class UnknownMethod(errors.EtcdError):
    """A method name no service has (gRPC's UNIMPLEMENTED)."""

    code = "UNIMPLEMENTED"
    message = "unknown method"


_SERVER_METHODS: dict[str, tuple[type, str]] = {
    "KV.Range": (RangeRequest, "range"),
    "KV.Put": (PutRequest, "put"),
    "KV.DeleteRange": (DeleteRangeRequest, "delete_range"),
    "KV.Txn": (TxnRequest, "txn"),
    "KV.Compact": (CompactionRequest, "compact"),
    "Lease.LeaseGrant": (LeaseGrantRequest, "lease_grant"),
    "Lease.LeaseRevoke": (LeaseRevokeRequest, "lease_revoke"),
    "Lease.LeaseTimeToLive": (LeaseTimeToLiveRequest, "lease_time_to_live"),
    "Lease.LeaseLeases": (LeaseLeasesRequest, "lease_leases"),
    "Cluster.MemberAdd": (MemberAddRequest, "member_add"),
    "Cluster.MemberRemove": (MemberRemoveRequest, "member_remove"),
    "Cluster.MemberUpdate": (MemberUpdateRequest, "member_update"),
    "Cluster.MemberList": (MemberListRequest, "member_list"),
    "Cluster.MemberPromote": (MemberPromoteRequest, "member_promote"),
    "Maintenance.Alarm": (AlarmRequest, "alarm"),
    "Maintenance.Status": (StatusRequest, "status"),
    "Maintenance.Defragment": (DefragmentRequest, "defragment"),
    "Maintenance.Hash": (HashRequest, "hash"),
    "Maintenance.HashKV": (HashKVRequest, "hash_kv"),
    "Maintenance.MoveLeader": (MoveLeaderRequest, "move_leader"),
    "Auth.AuthEnable": (AuthEnableRequest, "auth_enable"),
    "Auth.AuthDisable": (AuthDisableRequest, "auth_disable"),
    "Auth.Authenticate": (AuthenticateRequest, "authenticate"),
    "Auth.UserAdd": (AuthUserAddRequest, "user_add"),
    "Auth.UserGet": (AuthUserGetRequest, "user_get"),
    "Auth.UserList": (AuthUserListRequest, "user_list"),
    "Auth.UserDelete": (AuthUserDeleteRequest, "user_delete"),
    "Auth.UserChangePassword": (AuthUserChangePasswordRequest, "user_change_password"),
    "Auth.UserGrantRole": (AuthUserGrantRoleRequest, "user_grant_role"),
    "Auth.UserRevokeRole": (AuthUserRevokeRoleRequest, "user_revoke_role"),
    "Auth.RoleAdd": (AuthRoleAddRequest, "role_add"),
    "Auth.RoleGet": (AuthRoleGetRequest, "role_get"),
    "Auth.RoleList": (AuthRoleListRequest, "role_list"),
    "Auth.RoleDelete": (AuthRoleDeleteRequest, "role_delete"),
    "Auth.RoleGrantPermission": (AuthRoleGrantPermissionRequest, "role_grant_permission"),
    "Auth.RoleRevokePermission": (AuthRoleRevokePermissionRequest, "role_revoke_permission"),
    "Admin.Fault": (FaultRequest, "inject_fault"),
    "Admin.RaftStatus": (RaftStatusRequest, "raft_status"),
    "Admin.Step": (StepRequest, "step"),
}
"""Unary methods the EtcdServer answers itself: request type and the server's method name."""

_CONCURRENCY_METHODS: dict[str, tuple[type, str]] = {
    "Lock.Lock": (LockRequest, "lock"),
    "Lock.Unlock": (UnlockRequest, "unlock"),
    "Election.Campaign": (CampaignRequest, "campaign"),
    "Election.Proclaim": (ProclaimRequest, "proclaim"),
    "Election.Leader": (LeaderRequest, "leader"),
    "Election.Resign": (ResignRequest, "resign"),
}
"""Unary methods of the Lock and Election services (recipes over the server's API)."""

_STREAM_METHODS = {
    "Watch.Watch": MethodKind.BIDI_STREAM,
    "Lease.LeaseKeepAlive": MethodKind.BIDI_STREAM,
    "Maintenance.Snapshot": MethodKind.SERVER_STREAM,
    "Admin.Events": MethodKind.SERVER_STREAM,
    "Election.Observe": MethodKind.SERVER_STREAM,
}

METHODS = {
    **dict.fromkeys(_SERVER_METHODS, MethodKind.UNARY),
    **dict.fromkeys(_CONCURRENCY_METHODS, MethodKind.UNARY),
    **_STREAM_METHODS,
}
"""Every method the doors serve, by its native name (`Service.Method` as in etcd's protos)."""

_WATCH_DENIED = (
    f"rpc error: code = PermissionDenied desc = {errors.PermissionDenied.message}"
)
_KV_RESPONSES = (RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse)
_RESPONSE_OP_FIELDS = {
    RangeResponse: "response_range",
    PutResponse: "response_put",
    DeleteRangeResponse: "response_delete_range",
    TxnResponse: "response_txn",
}


def _unknown_method(name: str) -> UnknownMethod:
    service, _, method = name.rpartition(".")
    if service and any(known.startswith(service + ".") for known in METHODS):
        return UnknownMethod(f"unknown method {method} for service {service}")
    return UnknownMethod(f"unknown service {service or name}")


class Service:
    """Every client method of one member, taking and returning wire bodies."""

    def __init__(self, server: EtcdServer):
        self.server = server
        self.concurrency = ConcurrencyService(server)
        self._unary: dict[str, tuple[type, Callable[[Any, Any], Awaitable[Any]]]] = {
            name: (request_type, getattr(server, handler))
            for name, (request_type, handler) in _SERVER_METHODS.items()
        }
        self._unary.update(
            (name, (request_type, getattr(self.concurrency, handler)))
            for name, (request_type, handler) in _CONCURRENCY_METHODS.items()
        )
        self._streams = {
            "Watch.Watch": self._watch,
            "Lease.LeaseKeepAlive": self._lease_keep_alive,
            "Maintenance.Snapshot": self._snapshot,
            "Admin.Events": self._events,
            "Election.Observe": self._observe,
        }

    def kind(self, method: str) -> MethodKind:
        """How `method` talks; UnknownMethod if there is no such method."""
        kind = METHODS.get(method)
        if kind is None:
            raise _unknown_method(method)
        return kind

    async def call(
        self, method: str, body: Body, token: str | None = None, common_name: str | None = None
    ) -> Body:
        """Answer one unary call made with `token` (etcd's auth token; None: without one) by
        a client whose verified TLS certificate has `common_name` (None: no such certificate,
        or a door that must not take it for the user, as the JSON gateway)."""
        spec = self._unary.get(method)
        if spec is None:
            raise _unknown_method(method)
        request_type, handler = spec
        request: Any = from_wire(request_type, body)
        self._check(request)
        auth = self.server.auth_info(token, common_name)
        reply = self.reply_to_wire(await handler(request, auth))
        if method.startswith("Cluster."):
            # etcd 3.4's ClusterServer builds its own header: cluster, member and term only.
            reply["header"]["revision"] = 0
        elif method == "Maintenance.Alarm":
            # etcd 3.4 answers Alarm with the applier's bare response: no header at all.
            del reply["header"]
        return reply

    async def stream(
        self,
        method: str,
        first: Body,
        inbound: AsyncIterable[Body] | None,
        send: Send,
        token: str | None = None,
        common_name: str | None = None,
    ) -> None:
        """Run one stream made with `token` by the client `common_name` names (as `call`):
        `first` is its opening message, `inbound` the client's later ones (None for a
        member-to-client stream); returns when it is over."""
        run = self._streams.get(method)
        if run is None:
            raise _unknown_method(method)
        await run(first, inbound, send, self.server.auth_info(token, common_name))

    # -- what etcd's v3rpc layer checks before the server sees a request -----------------------
    # (the key-space requests' shape checks are the server's: EtcdServer runs them once,
    # before proposing)

    def _check(self, request: Any) -> None:
        if isinstance(request, MemberAddRequest | MemberUpdateRequest):
            _check_peer_urls(request.peer_urls)

    # -- replies -------------------------------------------------------------------------------

    def reply_to_wire(self, reply: Any) -> Body:
        """A server reply as a wire body, its header filled as etcd's v3rpc header.fill does."""
        if isinstance(reply, _KV_RESPONSES):
            return self._kv_reply(reply, to_wire(self.server.header(reply.revision)))
        body = to_wire(reply) if reply is not None else {}
        if body.get("header") is None:
            body["header"] = to_wire(self.server.header())
        return body

    def _kv_reply(self, reply: Any, header: Body) -> Body:
        body = to_wire(reply)
        del body["revision"]
        body["header"] = header
        if isinstance(reply, TxnResponse):
            body["responses"] = [
                {_RESPONSE_OP_FIELDS[type(op)]: self._kv_reply(op, {"revision": op.revision})}
                for op in reply.responses
            ]
        return body

    def watch_response_to_wire(self, response: WatchResponse) -> Body:
        """A watch stream's response as a WatchResponse body."""
        return {
            "header": to_wire(self.server.header(response.revision)),
            "watch_id": response.watch_id,
            "created": response.created,
            "canceled": response.canceled,
            "compact_revision": response.compact_revision,
            "cancel_reason": response.cancel_reason,
            "fragment": response.fragment,
            "events": to_wire(response.events),
        }

    # -- streams -------------------------------------------------------------------------------

    async def _watch(
        self, first: Body, inbound: AsyncIterable[Body] | None, send: Send, auth: AuthInfo | None
    ) -> None:
        """etcd's watch server: create/cancel/progress requests in, responses out, in order."""
        stream = self.server.new_watch_stream()
        refused: errors.EtcdError | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_watch_responses, stream, send)
                try:
                    await self._watch_request(stream, first, send, auth)
                    if inbound is not None:
                        async for body in inbound:
                            await self._watch_request(stream, body, send, auth)
                except errors.EtcdError as exc:
                    # raised out here, the door answers it with its code and text; raised in
                    # the nursery, it would leave as an exception group the door cannot read
                    refused = exc
                    nursery.cancel_scope.cancel()
        finally:
            stream.close()
        if refused is not None:
            raise refused

    async def _watch_request(
        self, stream: Any, body: Body, send: Send, auth: AuthInfo | None
    ) -> None:
        request = from_wire(WatchRequest, body)
        if request.create_request is not None:
            create: WatchCreateRequest = request.create_request
            if not self.server.watch_permitted(auth, create.key, create.range_end):
                # etcd's watch server: created and canceled at once, the reason being the
                # text of the gRPC error it would have returned
                await send({
                    "header": to_wire(self.server.header()),
                    "watch_id": create.watch_id,
                    "created": True,
                    "canceled": True,
                    "cancel_reason": _WATCH_DENIED,
                })
                return
            stream.watch(
                create.key,
                create.range_end,
                start_revision=create.start_revision,
                filters=create.filters,
                prev_kv=create.prev_kv,
                watch_id=create.watch_id or AUTO_WATCH_ID,
                progress_notify=create.progress_notify,
                fragment=create.fragment,
            )
        elif request.cancel_request is not None:
            stream.cancel(request.cancel_request.watch_id)
        elif request.progress_request is not None:
            stream.request_progress()
        # else: none of the three; etcd's watch server skips it and the stream goes on

    async def _send_watch_responses(self, stream: Any, send: Send) -> None:
        while responses := await stream.receive():
            for response in responses:
                await send(self.watch_response_to_wire(response))

    async def _lease_keep_alive(
        self, first: Body, inbound: AsyncIterable[Body] | None, send: Send, auth: AuthInfo | None
    ) -> None:
        """etcd's keep-alive stream: each request renews once; a lease that is gone gets TTL 0."""
        await send(await self._renew(first))
        if inbound is not None:
            async for body in inbound:
                await send(await self._renew(body))

    async def _renew(self, body: Body) -> Body:
        request = from_wire(LeaseKeepAliveRequest, body)
        try:
            reply = await self.server.lease_renew(request)
        except errors.LeaseNotFound:
            reply = LeaseKeepAliveResponse(self.server.header(), request.id, 0)
        return self.reply_to_wire(reply)

    async def _snapshot(
        self, first: Body, inbound: AsyncIterable[Body] | None, send: Send, auth: AuthInfo | None
    ) -> None:
        request = from_wire(SnapshotRequest, first)
        async for chunk in self.server.snapshot(request, auth):
            await send(self.reply_to_wire(chunk))

    async def _observe(
        self, first: Body, inbound: AsyncIterable[Body] | None, send: Send, auth: AuthInfo | None
    ) -> None:
        request = from_wire(LeaderRequest, first)

        async def send_leader(reply: Any) -> None:
            await send(self.reply_to_wire(reply))

        await self.concurrency.observe(request, send_leader, auth)

    async def _events(
        self, first: Body, inbound: AsyncIterable[Body] | None, send: Send, auth: AuthInfo | None
    ) -> None:
        """The member's event stream, for the console: each MemberEvent of the kinds the body
        names (`kinds`, default the state kinds) as {kind, time, monotonic, fields, dropped}."""
        unknown = set(first) - {"kinds"}
        kinds = first.get("kinds")
        if unknown or not (
            kinds is None
            or (isinstance(kinds, list) and all(isinstance(kind, str) for kind in kinds))
        ):
            raise InvalidBody("native: Admin.Events takes {kinds: [kind, ...]} or an empty body")
        try:
            subscription = self.server.subscribe_events(kinds=kinds)
        except UnknownEventKind as exc:
            raise InvalidBody(f"native: Admin.Events: {exc}") from None
        try:
            async for event in subscription:
                fields = event.fields
                if event.kind not in TRACE_KINDS:  # trace events hold plain values already
                    fields = _plain(fields)
                await send(
                    {
                        "kind": event.kind,
                        "time": event.time,
                        "monotonic": event.monotonic,
                        "fields": fields,
                        "dropped": subscription.dropped,
                    }
                )
        finally:
            subscription.close()


def _check_peer_urls(urls: list[str]) -> None:
    """etcd's v3rpc: peer URLs that types.NewURLs refuses are MemberBadURLs."""
    try:
        if not urls:
            raise FlagValueError("no valid URLs given")
        for url in urls:
            parse_url(url)
    except FlagValueError:
        raise errors.MemberBadURLs() from None


def _plain(fields: dict[str, Any]) -> Body:
    """An event's fields for the wire; a value cbor cannot carry is sent as its text."""
    plain = {}
    for name, value in fields.items():
        try:
            plain[name] = to_wire(value)
        except TypeError:
            plain[name] = str(value)
    return plain
