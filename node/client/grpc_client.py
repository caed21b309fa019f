"""etcd's v3 gRPC API from the client side (grpc.aio, our generated stubs), under anyio.

The console reaches a real etcd, and the chaos workload reaches our gRPC door, through a
GrpcClient: one channel per endpoint (over TLS with a ClientTls), opened when first used and
closed when its `async with` ends, the generated stubs on it, fail-over to the next endpoint
while one is unreachable, and etcd's errors as the node.messages.errors classes node.client
raises. `grpc_call` keeps anyio's cancellation intact around a grpc.aio await. With `user` and
`password` it authenticates when entered and every call on its channels carries the token as
etcd's `token` metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import anyio
import anyio.lowlevel
import grpc

from node.client.client_tls import ClientTls
from node.client.failures import NoEndpointAvailable, error_from
from node.messages.errors import AuthNotEnabled, EtcdError
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
"""Status codes after which a call moves on to the next endpoint."""
_Reply = TypeVar("_Reply")


def grpc_target(endpoint: str) -> str:
    """The `host:port` grpc.aio dials for an endpoint written as a URL or as `host:port`."""
    return endpoint.split("://", 1)[-1].rstrip("/")


def etcd_error(error: grpc.aio.AioRpcError) -> EtcdError:
    """etcd's status code and text as the error node.client would raise for it."""
    return error_from(error.code().name, error.details() or error.code().name)


async def grpc_call(awaitable: Awaitable[_Reply]) -> _Reply:
    """Await one grpc.aio call, keeping anyio's cancellation intact.

    grpc.aio answers a cancellation with a CancelledError of its own, which anyio's cancel
    scopes do not recognise as theirs; a checkpoint turns it back into anyio's (when the
    scope was cancelled) or else into a ConnectionError, as is grpc.aio's complaint about
    a write to a stream that has ended.
    """
    try:
        return await awaitable
    except asyncio.CancelledError:
        await anyio.lowlevel.checkpoint()
        raise ConnectionError("the gRPC call was cancelled") from None
    except asyncio.InvalidStateError as finished:  # a write on a stream that has ended
        raise ConnectionError(str(finished)) from None


@dataclass(slots=True, frozen=True)
class Stubs:
    """etcd's gRPC services on one channel."""

    kv: rpc_pb2_grpc.KVStub
    watch: rpc_pb2_grpc.WatchStub
    lease: rpc_pb2_grpc.LeaseStub
    cluster: rpc_pb2_grpc.ClusterStub
    maintenance: rpc_pb2_grpc.MaintenanceStub
    auth: rpc_pb2_grpc.AuthStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        """The stubs of every service on `channel`."""
        return cls(
            rpc_pb2_grpc.KVStub(channel),
            rpc_pb2_grpc.WatchStub(channel),
            rpc_pb2_grpc.LeaseStub(channel),
            rpc_pb2_grpc.ClusterStub(channel),
            rpc_pb2_grpc.MaintenanceStub(channel),
            rpc_pb2_grpc.AuthStub(channel),
        )


class _TokenMetadata(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adds the client's auth token, once it has one, to every call's metadata."""

    def __init__(self, client: GrpcClient) -> None:
        self._client = client

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        token = self._client.token
        if token is None:
            return details
        metadata = grpc.aio.Metadata(*(details.metadata or ()), ("token", token))
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(
        self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_unary_stream(
        self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_stream_unary(
        self, continuation: Any, details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._with_token(details), requests)

    async def intercept_stream_stream(
        self, continuation: Any, details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._with_token(details), requests)


class GrpcClient(anyio.AsyncContextManagerMixin):
    """Channels to the members at `endpoints` (the first one preferred), closed on exit;
    as `user` when given (entering authenticates: AuthFailed for a wrong password; a cluster
    with auth off is used without a token, as clientv3 does)."""

    def __init__(
        self,
        endpoints: Iterable[str],
        tls: ClientTls | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.endpoints = [grpc_target(endpoint) for endpoint in endpoints]
        if not self.endpoints:
            raise ValueError("at least one endpoint is needed")
        self._credentials = None if tls is None else tls.grpc_credentials()
        self.user, self._password = user, password
        self.token: str | None = None
        self._stubs: dict[str, Stubs] = {}
        self._channels: list[grpc.aio.Channel] = []
        self._current = 0

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        try:
            if self.user and self._password:
                await self.authenticate(self.user, self._password)
            yield self
        finally:
            with anyio.CancelScope(shield=True):
                for channel in self._channels:
                    await channel.close()
                self._channels.clear()
                self._stubs.clear()

    @property
    def endpoint(self) -> str:
        """The endpoint `call` tries first: the last one that answered."""
        return self.endpoints[self._current]

    async def authenticate(self, user: str, password: str) -> None:
        """Auth.Authenticate: later calls carry the token (none while auth is off)."""
        request = rpc_pb2.AuthenticateRequest(name=user, password=password)
        try:
            reply = await self.call(lambda stubs: stubs.auth.Authenticate(request))
        except AuthNotEnabled:
            return
        self.user, self._password, self.token = user, password, reply.token

    def stubs(self, endpoint: str | None = None) -> Stubs:
        """The stubs on the channel to `endpoint` (default: the current one)."""
        target = self.endpoint if endpoint is None else grpc_target(endpoint)
        stubs = self._stubs.get(target)
        if stubs is None:
            interceptors = [_TokenMetadata(self)]
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(target, interceptors=interceptors)
            else:
                channel = grpc.aio.secure_channel(
                    target, self._credentials, interceptors=interceptors
                )
            self._channels.append(channel)
            stubs = self._stubs[target] = Stubs.on(channel)
        return stubs

    async def call(self, call: Callable[[Stubs], Awaitable[_Reply]]) -> _Reply:
        """Run `call` on the current endpoint, moving on to the next ones while unreachable;
        etcd's error as a node.messages.errors class, NoEndpointAvailable (caused by the last
        failure) when no endpoint answers."""
        last: grpc.aio.AioRpcError | None = None
        for step in range(len(self.endpoints)):
            index = (self._current + step) % len(self.endpoints)
            try:
                reply = await grpc_call(call(self.stubs(self.endpoints[index])))
            except grpc.aio.AioRpcError as error:
                if error.code() not in UNREACHABLE:
                    raise etcd_error(error) from None
                last = error
                continue
            self._current = index
            return reply
        raise NoEndpointAvailable() from last
