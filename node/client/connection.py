"""One native-protocol connection to one member, on anyio (so under trio or asyncio).

Calls and streams share the connection, multiplexed by id: a reader task routes each reply to
the call or stream waiting for it. When the connection breaks, every waiter learns whether
its request may have reached the member (ConnectionLost) or surely did not (NotSent), which
is what decides whether the client may retry it. A call whose deadline passes without a
single byte arriving on the connection since it was sent leaves the connection *suspect*
(the member may be paused or cut off, TCP cannot tell) until the member is heard from again.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import ssl
from typing import Any

import anyio
import anyio.abc

from node.client.failures import ConnectionLost, DeadlineExceeded, error_from
from node.client.response import Response
from node.messages import native_protocol as protocol

STREAM_BUFFER = 4096
"""Messages a stream holds for a slow reader before the connection waits for it."""
_RECEIVE_BYTES = 256 * 1024


class NotSent(Exception):
    """The connection was already broken: the request never left, so retrying is safe."""


class _Waiter:
    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.reply: Response | None = None
        self.error: Exception | None = None


class Stream:
    """One open stream on a connection: receive the member's messages, send the client's."""

    def __init__(self, connection: Connection, stream_id: int) -> None:
        self._connection = connection
        self.id = stream_id
        self.inbox, self._receive = anyio.create_memory_object_stream[Response | Exception | None](
            STREAM_BUFFER
        )

    async def receive(self) -> Response | None:
        """The next message; None once the member ended the stream. Raises its error, or
        ConnectionLost when the connection broke."""
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise ConnectionLost() from None
        if isinstance(item, Exception):
            raise item
        return item

    async def send(self, body: dict[str, Any]) -> None:
        """Send one more stream message to the member."""
        await self._connection.send_frame(protocol.encode_message(self.id, body))

    async def close(self) -> None:
        """End the stream (the member cancels it) and forget it; safe to call twice."""
        if self._connection.forget(self.id) and not self._connection.lost:
            with contextlib.suppress(NotSent, ConnectionLost):
                await self._connection.send_frame(protocol.encode_end(self.id))
        self.inbox.close()
        self._receive.close()


class Connection:
    """A TCP connection to a member carrying many calls and streams at once."""

    def __init__(self, stream: anyio.abc.ByteStream, endpoint: str) -> None:
        self.endpoint = endpoint
        self._stream = stream
        self._ids = itertools.count(1)
        self._calls: dict[int, _Waiter] = {}
        self._streams: dict[int, Stream] = {}
        self._send_lock = anyio.Lock()
        self.lost = False
        self.bytes_received = 0
        self.suspect = False
        """A call timed out without hearing anything from the member; cleared by any byte."""

    @property
    def usable(self) -> bool:
        """Whether new calls should go here: neither broken nor suspect."""
        return not (self.lost or self.suspect)

    @classmethod
    async def open(cls, endpoint: str, tls: ssl.SSLContext | None = None) -> Connection:
        """Connect to `host:port` (an http:// or https:// prefix is allowed, as in etcd's
        endpoints), over TLS with `tls`."""
        host, port = parse_endpoint(endpoint)
        stream: anyio.abc.ByteStream
        if tls is None:
            stream = await anyio.connect_tcp(host, port)
        else:
            stream = await anyio.connect_tcp(
                host, port, ssl_context=tls, tls_standard_compatible=False
            )
        return cls(stream, endpoint)

    async def run(self) -> None:
        """Read replies until the connection ends, then fail whatever still waits."""
        decoder = protocol.FrameDecoder(protocol.MAX_RECEIVE_BYTES)
        try:
            while True:
                data = await self._stream.receive(_RECEIVE_BYTES)
                self.bytes_received += len(data)
                self.suspect = False
                for payload in decoder.feed(data):
                    if isinstance(payload, protocol.OversizeFrame):
                        continue
                    await self._dispatch(protocol.decode_response(payload))
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        except protocol.ProtocolError:
            pass
        finally:
            await self._lose()

    async def _dispatch(self, envelope: protocol.Message | protocol.End | protocol.Failure) -> None:
        if envelope.id is None:
            return
        waiter = self._calls.pop(envelope.id, None)
        if waiter is not None:
            if isinstance(envelope, protocol.Message):
                waiter.reply = Response(envelope.body)
            elif isinstance(envelope, protocol.Failure):
                waiter.error = error_from(envelope.code, envelope.message)
            else:
                waiter.error = ConnectionLost("member ended a unary call without a reply")
            waiter.done.set()
            return
        stream = self._streams.get(envelope.id)
        if stream is None:
            return  # a stream the client has already closed
        item: Response | Exception | None
        if isinstance(envelope, protocol.Message):
            item = Response(envelope.body)
        elif isinstance(envelope, protocol.Failure):
            item = error_from(envelope.code, envelope.message)
        else:
            item = None
        if not isinstance(item, Response):
            del self._streams[envelope.id]
        try:
            await stream.inbox.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._streams.pop(envelope.id, None)

    async def _lose(self) -> None:
        self.lost = True
        for waiter in self._calls.values():
            waiter.error = ConnectionLost()
            waiter.done.set()
        self._calls.clear()
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.inbox.close()  # its reader drains what came, then sees ConnectionLost
        with anyio.CancelScope(shield=True):
            await self.aclose()

    async def send_frame(self, data: bytes) -> None:
        """Write one frame; NotSent if the connection was already broken before it. A write
        cancelled part way closes the connection: the member could not find the next frame."""
        if self.lost:
            raise NotSent(self.endpoint)
        try:
            async with self._send_lock:
                try:
                    await self._stream.send(data)
                except anyio.get_cancelled_exc_class():
                    with anyio.CancelScope(shield=True):
                        await self.aclose()
                    raise
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ConnectionLost() from exc

    async def call(
        self,
        method: str,
        body: dict[str, Any],
        deadline: float = math.inf,
        token: str | None = None,
    ) -> Response:
        """Run one unary call (made with the auth `token`, if any) and return its reply;
        raises the member's error, or
        DeadlineExceeded once the anyio clock passes `deadline` (the connection is then
        suspect if nothing came from the member since the call went out)."""
        call_id = next(self._ids)
        waiter = _Waiter()
        self._calls[call_id] = waiter
        heard_before = self.bytes_received
        try:
            with anyio.move_on_at(deadline) as waiting:
                await self.send_frame(protocol.encode_call(call_id, method, body, token))
                await waiter.done.wait()
        finally:
            self._calls.pop(call_id, None)
        if waiting.cancelled_caught and waiter.reply is None:
            if self.bytes_received == heard_before:
                self.suspect = True
            raise DeadlineExceeded()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.reply is not None
        return waiter.reply

    async def open_stream(
        self, method: str, body: dict[str, Any], token: str | None = None
    ) -> Stream:
        """Open a stream with its first message (made with the auth `token`, if any)."""
        stream = Stream(self, next(self._ids))
        self._streams[stream.id] = stream
        try:
            await self.send_frame(protocol.encode_call(stream.id, method, body, token))
        except BaseException:
            self._streams.pop(stream.id, None)
            raise
        return stream

    def forget(self, stream_id: int) -> bool:
        """Stop routing a stream's messages; False if the stream had already ended."""
        return self._streams.pop(stream_id, None) is not None

    async def aclose(self) -> None:
        """Close the socket; the reader then fails what still waits."""
        self.lost = True
        await self._stream.aclose()


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """(host, port) of an endpoint written `host:port`, `http://host:port` or `[v6]:port`."""
    address = endpoint.split("://", 1)[-1].rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f'endpoint does not have the form "host:port": {endpoint}')
    return host.strip("[]") or "127.0.0.1", int(port)
