"""The native front door: the cbor2-over-TCP client protocol served on trio.

Each connection has a reader (cuts frames, dispatches them) and a writer (sends queued reply
frames, many per write). Unary calls run concurrently, each in its own task; streams are
tasks fed by their inbound channel and ended by the client's end frame. A bounded number of
calls in flight and a bounded reply queue per connection make a fast client wait rather than
grow the member's memory. A bad frame, an unknown method or a bad body gets an error reply and
the connection goes on; nothing a client sends can take the member down. Everything about
what a method means lives in the service layer (node/api/service.py), shared with gRPC.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from node.api.service import MethodKind, Service
from node.messages import errors
from node.messages import native_protocol as protocol
from node.transport.tls import accept_tls, peer_common_name

if TYPE_CHECKING:
    from node.server.config import ServerConfig
    from node.server.etcdserver import EtcdServer

log = logging.getLogger(__name__)

_RECEIVE_BYTES = 256 * 1024
_WRITE_BATCH_BYTES = 1024 * 1024
INTERNAL_CODE = "UNKNOWN"


@dataclass(slots=True)
class NativeLimits:
    """How much one connection may ask of the member at once."""

    max_frame_bytes: int = protocol.DEFAULT_MAX_FRAME_BYTES
    max_calls_in_flight: int = 1024
    max_streams: int = 1024
    queued_replies: int = 1024
    stream_inbox: int = 64


@dataclass(slots=True)
class _OpenStream:
    scope: trio.CancelScope
    inbox: trio.MemorySendChannel[dict[str, Any]] | None


class NativeDoor:
    """Serves the native protocol for one member: `await nursery.start(door.serve, host, 0)`."""

    def __init__(
        self,
        service: Service,
        limits: NativeLimits | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.limits = limits or NativeLimits()
        self.tls = tls
        """The member's client TLS: every connection must complete a handshake first."""
        self.connections = 0

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on host:port (0: the OS picks) and report the bound port to task_status."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        log.info("native client door listening", extra={"host": host, "port": bound})
        task_status.started(bound)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, socket_stream: trio.SocketStream) -> None:
        stream: trio.abc.Stream = socket_stream
        common_name = None
        if self.tls is not None:
            accepted = await accept_tls(socket_stream, self.tls)
            if accepted is None:
                return
            stream, common_name = accepted, peer_common_name(accepted)
        self.connections += 1
        try:
            async with stream:
                await _Connection(self.service, self.limits, stream, common_name).run()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        except Exception:
            log.exception("native connection failed")
        finally:
            self.connections -= 1


async def serve_native(
    server: EtcdServer,
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the native door of `server` on every address of --listen-native-urls.

    The member's process main runs this beside the server; task_status gets the bound ports
    (a port of 0 in the flag means one the OS picks). Frames may hold a request of
    --max-request-bytes plus the envelope around it.
    """
    limits = NativeLimits(max_frame_bytes=config.max_request_bytes + protocol.ENVELOPE_ALLOWANCE)
    client_tls = config.client_tls()
    context = None if client_tls is None else client_tls.server_context()
    door = NativeDoor(Service(server), limits, context)
    async with trio.open_nursery() as nursery:
        ports = [
            await nursery.start(door.serve, host, port) for host, port in config.native_host_ports
        ]
        task_status.started(ports)


class _Connection:
    """One client connection: its calls, its streams and its reply queue."""

    def __init__(
        self,
        service: Service,
        limits: NativeLimits,
        stream: trio.abc.Stream,
        common_name: str | None = None,
    ) -> None:
        self._service = service
        self.common_name = common_name
        """The CN of the client's verified TLS certificate: its user when auth is on (etcd)."""
        self._limits = limits
        self._stream = stream
        self._replies_in, self._replies = trio.open_memory_channel[bytes](limits.queued_replies)
        self._calls = trio.CapacityLimiter(limits.max_calls_in_flight)
        self._streams: dict[int, _OpenStream] = {}

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_replies, nursery.cancel_scope)
            await self._read_requests(nursery)
            nursery.cancel_scope.cancel()

    async def _write_replies(self, connection: trio.CancelScope) -> None:
        """Send queued replies, many per write; a client gone (reset, closed) ends the
        connection here, since an error left to the nursery would reach _handle as a group."""
        try:
            async for data in self._replies:
                batch = [data]
                size = len(data)
                while size < _WRITE_BATCH_BYTES:
                    try:
                        more = self._replies.receive_nowait()
                    except trio.WouldBlock:
                        break
                    batch.append(more)
                    size += len(more)
                await self._stream.send_all(b"".join(batch))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            connection.cancel()

    async def _read_requests(self, nursery: trio.Nursery) -> None:
        decoder = protocol.FrameDecoder(self._limits.max_frame_bytes)
        while True:
            try:
                data = await self._stream.receive_some(_RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
            if not data:
                return
            for payload in decoder.feed(bytes(data)):
                await self._dispatch(payload, nursery)

    async def _dispatch(
        self, payload: bytes | protocol.OversizeFrame, nursery: trio.Nursery
    ) -> None:
        if isinstance(payload, protocol.OversizeFrame):
            too_large = errors.RequestTooLarge()
            await self._fail(payload.request_id, too_large.code, too_large.message)
            return
        try:
            envelope = protocol.decode_request(payload)
        except protocol.ProtocolError as exc:
            await self._fail(exc.request_id, protocol.PROTOCOL_ERROR_CODE, exc.message)
            return
        if isinstance(envelope, protocol.Call):
            await self._start(envelope, nursery)
        elif isinstance(envelope, protocol.Message):
            await self._forward(envelope)
        else:
            self._end(envelope.id)

    async def _start(self, call: protocol.Call, nursery: trio.Nursery) -> None:
        if call.id in self._streams:
            await self._fail(call.id, protocol.PROTOCOL_ERROR_CODE, "native: id is in use")
            return
        try:
            kind = self._service.kind(call.method)
        except errors.EtcdError as exc:
            await self._fail(call.id, exc.code, exc.message)
            return
        if kind is MethodKind.UNARY:
            borrower = object()
            await self._calls.acquire_on_behalf_of(borrower)
            nursery.start_soon(self._unary, call, borrower)
            return
        if len(self._streams) >= self._limits.max_streams:
            busy = errors.TooManyRequests()
            await self._fail(call.id, busy.code, busy.message)
            return
        inbox, inbound = None, None
        if kind is MethodKind.BIDI_STREAM:
            inbox, inbound = trio.open_memory_channel[dict[str, Any]](self._limits.stream_inbox)
        self._streams[call.id] = _OpenStream(trio.CancelScope(), inbox)
        nursery.start_soon(self._run_stream, call, inbound)

    async def _unary(self, call: protocol.Call, borrower: object) -> None:
        try:
            reply = await self._service.call(
                call.method, call.body, call.token, self.common_name
            )
            data = protocol.encode_message(call.id, reply)
        except errors.EtcdError as exc:
            data = protocol.encode_failure(call.id, exc.code, exc.message)
        except Exception as exc:
            log.exception("native call %s failed", call.method)
            data = protocol.encode_failure(call.id, INTERNAL_CODE, f"native: {exc}")
        finally:
            self._calls.release_on_behalf_of(borrower)
        await self._replies_in.send(data)

    async def _run_stream(
        self, call: protocol.Call, inbound: trio.MemoryReceiveChannel[dict[str, Any]] | None
    ) -> None:
        open_stream = self._streams[call.id]

        async def send(body: dict[str, Any]) -> None:
            await self._replies_in.send(protocol.encode_message(call.id, body))

        final: bytes | None = None
        with open_stream.scope:
            try:
                await self._service.stream(
                    call.method, call.body, inbound, send, call.token, self.common_name
                )
                final = protocol.encode_end(call.id)
            except errors.EtcdError as exc:
                final = protocol.encode_failure(call.id, exc.code, exc.message)
            except Exception as exc:
                log.exception("native stream %s failed", call.method)
                final = protocol.encode_failure(call.id, INTERNAL_CODE, f"native: {exc}")
        if self._streams.get(call.id) is open_stream:
            del self._streams[call.id]
            if open_stream.inbox is not None:
                open_stream.inbox.close()
        if final is not None and not open_stream.scope.cancelled_caught:
            await self._replies_in.send(final)

    async def _forward(self, message: protocol.Message) -> None:
        open_stream = self._streams.get(message.id)
        if open_stream is None:
            return  # the stream has ended; the client may not know yet
        if open_stream.inbox is None:
            await self._fail(
                message.id, protocol.PROTOCOL_ERROR_CODE, "native: stream takes no messages"
            )
            return
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await open_stream.inbox.send(message.body)

    def _end(self, stream_id: int) -> None:
        open_stream = self._streams.pop(stream_id, None)
        if open_stream is not None:
            open_stream.scope.cancel()
            if open_stream.inbox is not None:
                open_stream.inbox.close()

    async def _fail(self, call_id: int | None, code: str, message: str) -> None:
        await self._replies_in.send(protocol.encode_failure(call_id, code, message))
