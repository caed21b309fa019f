"""The client port, shared by gRPC and HTTP as etcd shares it (cmux): each accepted connection
is told apart by its first bytes.

grpcio cannot be handed accepted sockets, so the gRPC door listens on a loopback port of its
own and this listener owns the client URLs: a connection that opens with HTTP/2's preface (a
gRPC client) is spliced byte for byte to the gRPC door; anything else is HTTP/1.1 and goes to
the HTTP door (health, metrics, the JSON gateway). A plaintext splice copies each direction in
a thread of its own (benchmarks/client_port_bench.py measures its cost; the member's
`--client-port-http=false` gives the client port to gRPC alone).

With https client URLs, TLS terminates here (node.transport.tls.accept_tls) and the preface is
read after the handshake: one handshake serves both protocols whatever ALPN the client offered
(http/1.1 is preferred, so curl reaches the HTTP door; gRPC clients offer and get h2), and
grpcio behind stays plaintext on loopback. A TLS splice copies through trio (the TLS stream
lives there). The CN of a verified client certificate goes to the gRPC door's VerifiedClients
(verified_clients.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

import trio

from node.api.grpc_door import BindError, GrpcDoor
from node.api.health_endpoints import HealthEndpoints
from node.api.http_door import HttpDoor
from node.api.json_gateway import JsonGateway
from node.api.service import Service
from node.api.verified_clients import VerifiedClients
from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer
from node.transport.tls import accept_tls, peer_common_name

log = logging.getLogger(__name__)

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""What every HTTP/2 client (so every gRPC client) sends first (RFC 9113, 3.4)."""
SPLICE_BYTES = 256 * 1024
INTERNAL_HOST = "127.0.0.1"
"""Where the gRPC door listens behind the shared port."""


@dataclass(slots=True)
class ClientPort:
    """The shared client port's listener: `ports` once serving, `grpc_door` behind it."""

    http: HttpDoor
    grpc_door: GrpcDoor
    tls: ssl.SSLContext | None = None
    grpc_port: int = 0
    ports: list[int] = field(default_factory=list)

    async def serve(
        self,
        host_ports: Iterable[tuple[str, int]],
        *,
        task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on every (host, port) until cancelled; BindError when one is taken."""
        listeners: list[trio.SocketListener] = []
        for host, port in host_ports:
            try:
                listeners.extend(await trio.open_tcp_listeners(port, host=host))
            except OSError as error:
                shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                reason = (error.strerror or str(error)).lower()
                raise BindError(f"listen tcp {shown}: bind: {reason}") from None
        self.ports = [listener.socket.getsockname()[1] for listener in listeners]
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(trio.serve_listeners, self._handle, [listener])
            task_status.started(self.ports)

    async def _handle(self, socket_stream: trio.SocketStream) -> None:
        stream: trio.abc.Stream = socket_stream
        common_name = None
        if self.tls is not None:
            accepted = await accept_tls(socket_stream, self.tls, https_compatible=True)
            if accepted is None:
                return
            stream, common_name = accepted, peer_common_name(accepted)
        first = b""
        try:
            while len(first) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(first):
                data = await stream.receive_some(SPLICE_BYTES)
                if not data:
                    await stream.aclose()
                    return
                first += data
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(stream)
            return
        if first.startswith(HTTP2_PREFACE):
            await self._splice(stream, first, common_name)
        else:
            await self.http.serve_connection(stream, first, common_name)

    async def _splice(
        self, client: trio.abc.Stream, first: bytes, common_name: str | None = None
    ) -> None:
        """Copy bytes both ways between the client and the gRPC door until either closes."""
        try:
            upstream = await trio.open_tcp_stream(INTERNAL_HOST, self.grpc_port)
        except OSError:
            await trio.aclose_forcefully(client)
            return
        with self._verified_as(upstream, common_name):
            await self._copy_both_ways(client, upstream, first)

    @contextlib.contextmanager
    def _verified_as(self, upstream: trio.SocketStream, common_name: str | None) -> Iterator[None]:
        """While the splice lives, the gRPC door finds the client's CN under its address."""
        if common_name is None:
            yield
            return
        host, port = upstream.socket.getsockname()[:2]
        grpc_peer = VerifiedClients.grpc_peer(host, port)
        self.grpc_door.verified_clients.add(grpc_peer, common_name)
        try:
            yield
        finally:
            self.grpc_door.verified_clients.remove(grpc_peer)

    async def _copy_both_ways(
        self, client: trio.abc.Stream, upstream: trio.SocketStream, first: bytes
    ) -> None:
        if isinstance(client, trio.SocketStream):
            await _copy_in_threads(client, upstream, first)
            return
        async with client, upstream:
            try:
                await upstream.send_all(first)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, client, upstream, nursery.cancel_scope)
                nursery.start_soon(_pump, upstream, client, nursery.cancel_scope)


async def _pump(source: trio.abc.Stream, sink: trio.abc.Stream, both: trio.CancelScope) -> None:
    """Copy `source` into `sink`; when either end goes, the whole splice ends."""
    try:
        while data := await source.receive_some(SPLICE_BYTES):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        both.cancel()


async def _copy_in_threads(
    client: trio.SocketStream, upstream: trio.SocketStream, first: bytes
) -> None:
    """Copy a plaintext splice both ways, each direction a blocking loop in a thread of its
    own, off the member's trio loop: the GIL is released in every recv and send, and raft's
    loop pays nothing per byte (a copy through trio cost it about 220 us of CPU per call)."""
    near, far = _blocking(client), _blocking(upstream)
    try:
        async with trio.open_nursery() as nursery:
            for source, sink, head in ((near, far, first), (far, near, b"")):
                nursery.start_soon(
                    partial(
                        trio.to_thread.run_sync,
                        _copy, source, sink, head,
                        limiter=SPLICE_THREADS, abandon_on_cancel=True,
                    )
                )  # fmt: skip
    finally:
        # Wakes a copy still blocked (the member stopping); each socket is closed by the last
        # of its users.
        _shut(near, far)


SPLICE_THREADS = trio.CapacityLimiter(math.inf)
"""Copy threads are not pooled work: one pair lives as long as its gRPC connection."""


def _blocking(stream: trio.SocketStream) -> socket.socket:
    """The stream's socket as a blocking stdlib socket (the trio stream gives it up)."""
    plain = socket.socket(fileno=stream.socket.detach())
    plain.setblocking(True)
    return plain


def _copy(source: socket.socket, sink: socket.socket, head: bytes) -> None:
    """(thread) Send `head`, then copy `source` into `sink` until either end goes."""
    buffer = bytearray(SPLICE_BYTES)
    view = memoryview(buffer)
    try:
        sink.sendall(head)
        while size := source.recv_into(buffer):
            sink.sendall(view[:size])
    except OSError:
        pass
    finally:
        _shut(source, sink)


def _shut(*sockets: socket.socket) -> None:
    for each in sockets:
        with contextlib.suppress(OSError):
            each.shutdown(socket.SHUT_RDWR)


def http_door_of(server: EtcdServer, config: ServerConfig) -> HttpDoor:
    """The client port's HTTP door: health, version, metrics and the JSON gateway."""
    service = Service(server)
    return HttpDoor([HealthEndpoints(service), JsonGateway(service, config.max_request_bytes)])


async def serve_client_port(
    server: EtcdServer,
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[ClientPort] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve gRPC and HTTP on every --listen-client-urls address until cancelled; task_status
    gets the ClientPort (its `ports` are the bound ones, `grpc_door.stop()` drains gRPC)."""
    grpc_door = GrpcDoor(Service(server), max_request_bytes=config.max_request_bytes)
    client_tls = config.client_tls()
    tls = None if client_tls is None else client_tls.server_context()
    client_port = ClientPort(http_door_of(server, config), grpc_door, tls)
    async with trio.open_nursery() as nursery:
        grpc_ports = await nursery.start(grpc_door.serve, [(INTERNAL_HOST, 0)])
        client_port.grpc_port = grpc_ports[0]
        await nursery.start(client_port.serve, config.client_host_ports)
        log.info("client port serving gRPC and HTTP", extra={"ports": client_port.ports})
        task_status.started(client_port)
