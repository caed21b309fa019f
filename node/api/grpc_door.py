"""The gRPC front door: etcd's v3 API (KV, Watch, Lease, Cluster, Maintenance, Auth, Lock,
Election) served by grpcio beside the trio member, so real etcd clients work unchanged.

grpcio's asyncio server runs in a thread of its own; each call crosses to trio through the
TrioBridge (node/api/grpc_bridge.py). This module holds the servicers: the method handlers
(each counted in etcd's grpc_server_handled_total), their codecs and size limit, binding, and the
door's lifecycle (when the door stops, streams end and calls in flight get a grace period
before gRPC cancels them). A call's auth token is its `token` metadata, as etcd's; without
one, the common name of the client's verified certificate may name the user (etcd's
AuthInfoFromTLS). Calls and streams whose metadata requires a leader
(`hasleader: true`) are checked by a LeaderMonitor, as etcd's interceptors do. Method
meanings live in the service layer (node/api/service.py), shared with the native door.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import trio
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError

from node.api.grpc_bridge import TrioBridge, abort, auth_token
from node.api.leader_monitor import LeaderMonitor, requires_leader
from node.api.service import Service
from node.api.verified_clients import VerifiedClients
from node.messages import errors
from node.messages.grpc_convert import Body, body_to_message, message_to_body
from node.messages.grpc_methods import ETCD_SERVICES
from node.server.config import DEFAULT_MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from node.server.config import ServerConfig
    from node.server.etcdserver import EtcdServer
    from node.transport.tls import TlsInfo

log = logging.getLogger(__name__)

GRPC_OVERHEAD_BYTES = 512 * 1024
"""Room etcd allows above --max-request-bytes for gRPC's own framing."""
OVERSIZE_READ_BYTES = 64 * 1024 * 1024
"""grpcio reads messages up to this much above etcd's limit, so that the door refuses them in
grpc-go's words, as etcd does; a still larger one grpcio refuses in its own."""
MAX_SEND_BYTES = 2**31 - 1
"""etcd sends messages of any size (math.MaxInt32)."""
DEFAULT_GRACE_S = 5.0
"""How long calls in flight may take to be answered once the door stops."""

GRPC_CODE_LABELS: dict[str, str] = {
    code.name: "".join(part.title() for part in code.name.split("_")) for code in grpc.StatusCode
}
GRPC_CODE_LABELS.update(OK="OK", CANCELLED="Canceled")
"""An EtcdError's code as grpc-go spells it (codes.Code.String()), for grpc_server_handled_total."""


class MessageTooLarge(errors.EtcdError):
    """A request above --max-request-bytes plus gRPC's overhead, refused with the text etcd's
    gRPC server (grpc-go) sends."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"grpc: received message larger than max ({size} vs. {limit})")


class UnreadableRequest(errors.EtcdError):
    """Request bytes that are not a message of the method's type, refused as grpc-go refuses
    them for etcd (Internal, `grpc: error unmarshalling request: ...`)."""

    code = "INTERNAL"

    def __init__(self, reason: str) -> None:
        super().__init__(f"grpc: error unmarshalling request: {reason}")


class BindError(Exception):
    """A client address the door cannot listen on; the text is as etcd's (Go's net) error."""


# -- method handlers --------------------------------------------------------------------------


def _codec(method: MethodDescriptor, max_message_bytes: int) -> dict[str, Callable[[Any], Any]]:
    """grpcio (de)serializers that turn request bytes into bodies and reply bodies into bytes;
    a request over `max_message_bytes` or one that does not parse becomes the error its
    handler answers with."""
    request_class = message_factory.GetMessageClass(method.input_type)
    reply_class = message_factory.GetMessageClass(method.output_type)

    def deserialize(data: bytes) -> Body | errors.EtcdError:
        if len(data) > max_message_bytes:
            return MessageTooLarge(len(data), max_message_bytes)
        try:
            return message_to_body(request_class.FromString(data))
        except DecodeError as exc:
            return UnreadableRequest(str(exc))

    return {
        "request_deserializer": deserialize,
        "response_serializer": lambda body: body_to_message(reply_class, body).SerializeToString(),
    }


GATEWAY_METADATA = "grpcgateway-accept"
"""Metadata etcd's gRPC gateway adds to the calls it proxies: their certificate is the
gateway's own, whose common name etcd never takes for the user."""


class _Handlers:
    """grpcio method handlers for every served method, each crossing to trio via the bridge."""

    def __init__(
        self,
        service: Service,
        bridge: TrioBridge,
        max_message_bytes: int,
        common_name: Callable[[grpc.aio.ServicerContext], str | None],
    ) -> None:
        self._service = service
        self._bridge = bridge
        self._max_message_bytes = max_message_bytes
        self._common_name = common_name

    def generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        return [self._service_handler(s, self._served) for s in ETCD_SERVICES]

    def _service_handler(
        self,
        service: ServiceDescriptor,
        unary: Callable[[str], Callable[..., Awaitable[Body]]],
    ) -> grpc.GenericRpcHandler:
        methods = {}
        for method in service.methods:
            name = f"{service.name}.{method.name}"
            codec = _codec(method, self._max_message_bytes)
            if method.client_streaming:
                methods[method.name] = grpc.stream_stream_rpc_method_handler(
                    self._counted(self._bidirectional(name), "bidi_stream", service, method),
                    **codec,
                )
            elif method.server_streaming:
                methods[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._counted(self._server_stream(name), "server_stream", service, method),
                    **codec,
                )
            else:
                methods[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._counted(unary(name), "unary", service, method), **codec
                )
        return grpc.method_handlers_generic_handler(service.full_name, methods)

    def _counted(
        self,
        handler: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]],
        grpc_type: str,
        service: ServiceDescriptor,
        method: MethodDescriptor,
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        """The handler, counting each call it ends in etcd's grpc_server_handled_total."""
        handled = self._service.server.metrics.grpc_handled
        labels = (grpc_type, service.full_name, method.name)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await handler(request, context)
            finally:
                code = context.code()
                label = GRPC_CODE_LABELS[code.name] if code is not None else "OK"
                handled.labels(*labels, label).inc()

        return handle

    def _served(self, name: str) -> Callable[..., Awaitable[Body]]:
        async def handle(body: Body | errors.EtcdError, context: grpc.aio.ServicerContext) -> Body:
            if isinstance(body, errors.EtcdError):
                await abort(context, body)
            metadata = context.invocation_metadata()
            try:
                return await self._bridge.call(
                    self._service.call,
                    name,
                    body,
                    auth_token(metadata),
                    self._common_name(context),
                    require_leader=requires_leader(metadata),
                )
            except errors.EtcdError as exc:
                await abort(context, exc)

        return handle

    def _server_stream(self, name: str) -> Callable[..., Awaitable[None]]:
        async def handle(body: Body | errors.EtcdError, context: grpc.aio.ServicerContext) -> None:
            if isinstance(body, errors.EtcdError):
                await abort(context, body)
            await self._bridge.stream(
                self._service, name, body, None, context, self._common_name(context)
            )

        return handle

    def _bidirectional(self, name: str) -> Callable[..., Awaitable[None]]:
        async def handle(requests: AsyncIterator[Body], context: grpc.aio.ServicerContext) -> None:
            await self._bridge.stream(
                self._service, name, None, requests, context, self._common_name(context)
            )

        return handle


# -- the door ---------------------------------------------------------------------------------


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_bindable(host: str, port: int) -> None:
    """Raise BindError (with Go's text, as etcd prints it) when host:port is taken or forbidden.

    grpcio's own bind failure says neither where nor why, so the door probes first.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise BindError(f"listen tcp {_grpc_address(host, port)}: {exc}") from None
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            # Only a taken or forbidden port is certain; an address family the host lacks
            # (no IPv6 for localhost's ::1) is grpcio's to skip, as it does.
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = os.strerror(exc.errno).lower()
                raise BindError(f"listen tcp {_grpc_address(host, port)}: bind: {reason}") from None


class GrpcDoor:
    """Serves etcd's v3 gRPC API for one member: `await nursery.start(door.serve, host_ports)`
    reports the bound ports; `await door.stop()` (or cancelling serve) shuts it down."""

    def __init__(
        self,
        service: Service,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        grace: float = DEFAULT_GRACE_S,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.service = service
        self.credentials = credentials
        """TLS of its own, when it owns the client port (behind the shared port: None)."""
        self.verified_clients = VerifiedClients()
        """CNs of TLS clients, filled by the shared client port (node/api/verified_clients.py);
        a door with credentials of its own finds them in context.auth_context()."""
        self.max_request_bytes = max_request_bytes
        self.grace = grace
        self.ports: list[int] = []
        self._bridge: TrioBridge | None = None
        self._thread: threading.Thread | None = None
        self._ready = trio.Event()
        self._finished = trio.Event()
        self._failure: BaseException | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stop_grace = 0.0

    def common_name(self, context: grpc.aio.ServicerContext) -> str | None:
        """(gRPC thread) The common name of the verified certificate of the client making a
        call ("" for one without a CN), None without one or for a call the gRPC gateway
        proxies (etcd's AuthInfoFromTLS)."""
        if any(key == GATEWAY_METADATA for key, _ in context.invocation_metadata() or ()):
            return None
        if self.credentials is None:
            return self.verified_clients.common_name(context.peer())
        peer = context.auth_context()
        if "x509_pem_cert" not in peer:
            return None
        names = peer.get("x509_common_name")
        return names[0].decode() if names else ""

    @property
    def max_message_bytes(self) -> int:
        """The largest request etcd's gRPC server takes: --max-request-bytes plus overhead."""
        return self.max_request_bytes + GRPC_OVERHEAD_BYTES

    def server_options(self) -> list[tuple[str, Any]]:
        """grpcio options as etcd's server: message sizes, client pings, one owner per port."""
        return [
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", self.max_message_bytes + OVERSIZE_READ_BYTES),
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
            # etcdctl pings every 2 s (--keepalive-time); grpcio would answer GOAWAY.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
            ("grpc.http2.max_ping_strikes", 0),
        ]

    async def serve(
        self,
        host_ports: Iterable[tuple[str, int]],
        *,
        task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on every (host, port) (port 0: the OS picks) until stopped or cancelled.

        Raises BindError, before reporting started, when an address cannot be bound.
        """
        host_ports = list(host_ports)
        leader = LeaderMonitor(self.service.server)
        async with trio.open_nursery() as monitor:
            monitor.start_soon(leader.run)
            async with trio.open_nursery() as calls:
                self._bridge = TrioBridge(trio.lowlevel.current_trio_token(), calls, leader)
                self._thread = threading.Thread(
                    target=self._grpc_thread, args=(host_ports,), name="grpc-door", daemon=True
                )
                self._thread.start()
                try:
                    await self._ready.wait()
                    if self._failure is None:
                        log.info("gRPC client door listening", extra={"ports": self.ports})
                        task_status.started(self.ports)
                        await self._finished.wait()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._shut_down(0.0)
                    calls.cancel_scope.cancel()
            monitor.cancel_scope.cancel()
        if self._failure is not None:
            raise self._failure

    @property
    def calls_in_flight(self) -> int:
        """Calls and streams being served right now (read on the trio thread)."""
        return self._bridge.tasks if self._bridge is not None else 0

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls; calls in flight have `grace` seconds (default: the door's) to be
        answered, then are cancelled; open streams end now with `etcdserver: server stopped`."""
        await self._shut_down(self.grace if grace is None else grace)

    async def _shut_down(self, grace: float) -> None:
        if self._thread is None:
            return
        await self._ready.wait()
        bridge = self._bridge
        if bridge is not None:
            bridge.end_streams()
            if bridge.to_grpc is not None and self._stop_requested is not None:
                bridge.to_grpc.post(self._request_stop, grace)
        await self._finished.wait()
        await trio.to_thread.run_sync(self._thread.join)

    def _request_stop(self, grace: float) -> None:
        assert self._stop_requested is not None
        if not self._stop_requested.is_set():
            self._stop_grace = grace
            self._stop_requested.set()

    # -- the gRPC thread ------------------------------------------------------------------

    def _grpc_thread(self, host_ports: list[tuple[str, int]]) -> None:
        assert self._bridge is not None
        token = self._bridge.token
        try:
            asyncio.run(self._serve_grpc(host_ports))
        except BaseException as exc:
            self._failure = self._failure or exc
            log.exception("gRPC door thread failed")
        finally:
            token.run_sync_soon(self._ready.set)
            token.run_sync_soon(self._finished.set)

    async def _serve_grpc(self, host_ports: list[tuple[str, int]]) -> None:
        assert self._bridge is not None
        bridge = self._bridge
        bridge.attach(asyncio.get_running_loop())
        self._stop_requested = asyncio.Event()
        server = grpc.aio.server(options=self.server_options())
        handlers = _Handlers(self.service, bridge, self.max_message_bytes, self.common_name)
        server.add_generic_rpc_handlers(handlers.generic_handlers())
        try:
            self.ports = [self._bind(server, host, port) for host, port in host_ports]
        except BindError as exc:
            self._failure = exc
            await server.stop(None)
            return
        await server.start()
        bridge.token.run_sync_soon(self._ready.set)
        await self._stop_requested.wait()
        await server.stop(self._stop_grace)

    def _bind(self, server: grpc.aio.Server, host: str, port: int) -> int:
        check_bindable(host, port)
        address = _grpc_address(host, port)
        try:
            if self.credentials is not None:
                return server.add_secure_port(address, self.credentials)
            return server.add_insecure_port(address)
        except RuntimeError:
            raise BindError(f"listen tcp {address}: bind: address already in use") from None


def server_credentials(tls: TlsInfo) -> grpc.ServerCredentials:
    """grpcio's TLS for a door that owns the client port (--client-port-http=false)."""
    with open(tls.key_file, "rb") as key, open(tls.cert_file, "rb") as cert:
        pair = (key.read(), cert.read())
    root = None
    if tls.trusted_ca_file:
        with open(tls.trusted_ca_file, "rb") as ca:
            root = ca.read()
    return grpc.ssl_server_credentials(
        [pair], root_certificates=root, require_client_auth=tls.requires_client_cert
    )


async def serve_grpc(
    server: EtcdServer,
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[GrpcDoor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the gRPC door of `server` on every --listen-client-urls address until cancelled;
    task_status gets the door (its `ports` are the bound ones, `stop()` drains it)."""
    client_tls = config.client_tls()
    door = GrpcDoor(
        Service(server),
        max_request_bytes=config.max_request_bytes,
        credentials=None if client_tls is None else server_credentials(client_tls),
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(door.serve, config.client_host_ports)
        task_status.started(door)
