"""The two front doors a chaos client goes through: the native protocol and etcd's gRPC API.

A door is an async context manager connected to the members it was given (the first one
preferred); `execute` turns one history Request into the RPC it stands for and the reply into
a history Response, so the workload and the recorder never see either wire format.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Protocol, Self

import anyio
import grpc

from checker.model.history import KeyValue, OpKind, Request, Response
from node.client import (
    Client,
    ClientTls,
    compare_mod_revision,
    compare_value,
    connect_client,
    op_put,
)
from node.client.grpc_client import GrpcClient, Stubs, grpc_call
from node.messages.errors import EtcdError
from node.messages.gen.etcdserverpb import rpc_pb2

DOORS = ("native", "grpc")
"""The front doors, by the names the history and the display use."""
DOOR_FAILURES = (OSError, TimeoutError, grpc.aio.AioRpcError, EtcdError)
"""What connecting through a door, or a stream on it, can fail with: the member is down,
cut off, or refused."""


class Door(Protocol):
    """What a chaos client needs of a front door."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...

    async def execute(self, request: Request) -> Response:
        """Run `request`; raises whatever the call raised."""
        ...


def _kv(key: bytes, value: bytes, create: int, mod: int, version: int, lease: int) -> KeyValue:
    return KeyValue(key.decode(), value.decode(), create, mod, version, lease)


class NativeDoor(anyio.AsyncContextManagerMixin):
    """The native protocol through node.client, to `endpoints` (the first one preferred),
    dialing with `tls` when the members serve TLS."""

    def __init__(self, endpoints: list[str], timeout: float, tls: ClientTls | None = None) -> None:
        self._endpoints = endpoints
        self._timeout = timeout
        self._tls = tls
        self._client: Client | None = None

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        async with connect_client(self._endpoints, timeout=self._timeout, tls=self._tls) as client:
            self._client = client
            try:
                yield self
            finally:
                self._client = None

    async def execute(self, request: Request) -> Response:
        """Run `request` as the native RPC it stands for."""
        client = self._client
        assert client is not None
        key, value = request.key, request.value
        match request.kind:
            case OpKind.PUT | OpKind.PUT_WITH_LEASE:
                reply = await client.put(key, value, lease=request.lease_id)
                return Response(reply.header.revision)
            case OpKind.GET:
                reply = await client.get(key)
                found = [_native_kv(kv) for kv in reply.kvs]
                return Response(reply.header.revision, kv=found[0] if found else None)
            case OpKind.CAS:
                if request.compare_value is not None:
                    compare = compare_value(key, "=", request.compare_value)
                else:
                    compare = compare_mod_revision(key, "=", request.compare_mod_revision)
                reply = await client.txn([compare], [op_put(key, value)], [])
                return Response(reply.header.revision, succeeded=reply.succeeded)
            case OpKind.DELETE:
                reply = await client.delete(key)
                return Response(reply.header.revision, deleted=reply.deleted)
            case OpKind.LEASE_GRANT:
                reply = await client.lease_grant(request.ttl)
                return Response(reply.header.revision, lease_id=reply.ID, ttl=reply.TTL)
            case OpKind.LEASE_REVOKE:
                reply = await client.lease_revoke(request.lease_id)
                return Response(reply.header.revision)
            case OpKind.LEASE_KEEPALIVE:
                reply = await client.keep_alive_once(request.lease_id)
                return Response(reply.header.revision, lease_id=reply.ID, ttl=reply.TTL)
            case OpKind.COMPACT:
                reply = await client.compact(request.revision)
                return Response(reply.header.revision)


def _native_kv(kv: Any) -> KeyValue:
    return _kv(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


class GrpcDoor(anyio.AsyncContextManagerMixin):
    """etcd's v3 gRPC API through node.client's GrpcClient, to one member's client URL; a
    call's failure is grpc.aio's own, as the history records it."""

    def __init__(self, target: str, tls: ClientTls | None = None) -> None:
        self._grpc = GrpcClient([target], tls)
        self._stubs: Stubs | None = None

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        async with self._grpc:
            self._stubs = self._grpc.stubs()
            try:
                yield self
            finally:
                self._stubs = None

    async def execute(self, request: Request) -> Response:
        """Run `request` as the gRPC call it stands for."""
        stubs = self._stubs
        assert stubs is not None, "use the door inside `async with`"
        key, value = request.key.encode(), request.value.encode()
        match request.kind:
            case OpKind.PUT | OpKind.PUT_WITH_LEASE:
                put = rpc_pb2.PutRequest(key=key, value=value, lease=request.lease_id)
                reply = await grpc_call(stubs.kv.Put(put))
                return Response(reply.header.revision)
            case OpKind.GET:
                reply = await grpc_call(stubs.kv.Range(rpc_pb2.RangeRequest(key=key)))
                found = [_grpc_kv(kv) for kv in reply.kvs]
                return Response(reply.header.revision, kv=found[0] if found else None)
            case OpKind.CAS:
                reply = await grpc_call(stubs.kv.Txn(_cas_txn(request)))
                return Response(reply.header.revision, succeeded=reply.succeeded)
            case OpKind.DELETE:
                reply = await grpc_call(stubs.kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key)))
                return Response(reply.header.revision, deleted=reply.deleted)
            case OpKind.LEASE_GRANT:
                reply = await grpc_call(
                    stubs.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=request.ttl))
                )
                if reply.error:
                    raise RuntimeError(reply.error)
                return Response(reply.header.revision, lease_id=reply.ID, ttl=reply.TTL)
            case OpKind.LEASE_REVOKE:
                revoke = rpc_pb2.LeaseRevokeRequest(ID=request.lease_id)
                reply = await grpc_call(stubs.lease.LeaseRevoke(revoke))
                return Response(reply.header.revision)
            case OpKind.LEASE_KEEPALIVE:
                return await _keep_alive_once(stubs, request.lease_id)
            case OpKind.COMPACT:
                compact = rpc_pb2.CompactionRequest(revision=request.revision)
                reply = await grpc_call(stubs.kv.Compact(compact))
                return Response(reply.header.revision)


async def _keep_alive_once(stubs: Stubs, lease_id: int) -> Response:
    call = stubs.lease.LeaseKeepAlive()
    try:
        await grpc_call(call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id)))
        reply = await grpc_call(call.read())
    finally:
        call.cancel()
    if reply is grpc.aio.EOF:
        raise ConnectionError("keep-alive stream ended without a reply")
    if reply.TTL <= 0:
        raise LookupError("etcdserver: requested lease not found")
    return Response(reply.header.revision, lease_id=reply.ID, ttl=reply.TTL)


def _grpc_kv(kv: Any) -> KeyValue:
    return _kv(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _cas_txn(request: Request) -> rpc_pb2.TxnRequest:
    key = request.key.encode()
    if request.compare_value is not None:
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.VALUE,
            key=key,
            value=request.compare_value.encode(),
        )
    else:
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.MOD,
            key=key,
            mod_revision=request.compare_mod_revision,
        )
    put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=request.value.encode()))
    return rpc_pb2.TxnRequest(compare=[compare], success=[put])
