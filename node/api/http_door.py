"""The HTTP/1.1 front door: what etcd serves over plain HTTP on its client port (health,
version, metrics, the JSON gateway) and on --listen-metrics-urls, on trio with h11.

A connection is handed over by the client port's listener (node/api/client_port.py) with the
bytes it already read, or accepted here for a metrics URL. Each request is answered by an
endpoint (`HttpEndpoint`): the health and metrics endpoints (node/api/health_endpoints.py) and
the gateway (node/api/json_gateway.py). As etcd's mux, every answer carries its CORS headers,
and a path nobody serves gets Go's `404 page not found`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import h11
import trio

log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 1 << 20
"""Go's http.DefaultMaxHeaderBytes: a request line and headers above it are refused (431)."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""A body above this is refused (413) before it is read whole, so a huge upload cannot exhaust
the member; the gateway's own limit (the gRPC message size, as etcd's) is far below it."""

CORS_HEADERS = (
    ("Access-Control-Allow-Headers", "accept, content-type, authorization"),
    ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"),
    ("Access-Control-Allow-Origin", "*"),
)
"""What etcd's client handler adds to every answer (its CORS wrapper)."""
TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")
NOSNIFF = ("X-Content-Type-Options", "nosniff")

Headers = list[tuple[str, str]]


class BodyTooLarge(Exception):
    """A request body above MAX_BODY_BYTES."""


@dataclass(slots=True)
class HttpRequest:
    """One request: its method, path, query and a way to read its body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    chunks: Callable[[], AsyncIterator[bytes]]
    """The body as it arrives; iterate at most once."""
    wait_closed: Callable[[], Awaitable[None]]
    """Returns when the client closes the connection; for streamed answers, once the body is
    read (the connection closes after such an answer)."""
    common_name: str | None = None
    """The CN of the client's verified TLS certificate, if it presented one."""

    async def body(self) -> bytes:
        """The whole body (BodyTooLarge above MAX_BODY_BYTES)."""
        parts = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyTooLarge()
            parts.append(chunk)
        return b"".join(parts)


class HttpResponse:
    """Writes one answer: whole (`send`) or as a chunked stream (`start`, `write`, `end`)."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self.started = False

    async def send(self, status: int, headers: Headers, body: bytes) -> None:
        """The whole answer at once, with its Content-Length."""
        await self.start(status, [*headers, ("Content-Length", str(len(body)))])
        if body:
            await self.write(body)
        await self.end()

    async def start(self, status: int, headers: Headers) -> None:
        """The status line and headers (chunked unless they carry a Content-Length)."""
        self.started = True
        await self._connection.send(
            h11.Response(
                status_code=status,
                headers=[*CORS_HEADERS, *headers, ("Date", formatdate(usegmt=True))],
                reason=HTTPStatus(status).phrase,
            )
        )

    async def write(self, data: bytes) -> None:
        """Part of the body, sent now."""
        await self._connection.send(h11.Data(data=data))

    async def end(self, trailers: Headers | None = None) -> None:
        """The end of the body (with trailers, on a chunked answer)."""
        await self._connection.send(h11.EndOfMessage(headers=trailers or []))


class HttpEndpoint(Protocol):
    """Answers the requests whose path it serves."""

    def serves(self, path: str) -> bool:
        """Whether requests to `path` are this endpoint's."""
        ...

    async def answer(self, request: HttpRequest, response: HttpResponse) -> None:
        """Answer `request` through `response`."""
        ...


async def send_text(response: HttpResponse, status: int, text: str) -> None:
    """Go's http.Error: a plain-text answer ending in a newline."""
    await response.send(status, [TEXT_PLAIN, NOSNIFF], (text + "\n").encode())


@dataclass(slots=True)
class _Connection:
    """One client connection: h11's state over a trio stream."""

    stream: trio.abc.Stream
    common_name: str | None = None
    """The CN of the client's verified TLS certificate, if it presented one."""
    closed: bool = False
    """The peer closed the connection while an answer was streaming."""
    protocol: h11.Connection = field(
        default_factory=lambda: h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    )

    async def send(self, event: h11.Event) -> None:
        data = self.protocol.send(event)
        if data:
            await self.stream.send_all(data)

    async def next_event(self) -> object:
        while True:
            event = self.protocol.next_event()
            if event is not h11.NEED_DATA:
                return event
            # b"" (the peer closed) becomes h11's ConnectionClosed, or its error mid-request.
            self.protocol.receive_data(bytes(await self.stream.receive_some(READ_BYTES)))

    async def wait_closed(self) -> None:
        """Return once the peer closes; bytes it sends meanwhile (its next request) are kept
        for the next cycle, up to a request head's worth."""
        buffered = 0
        while data := await self.stream.receive_some(READ_BYTES):
            self.protocol.receive_data(bytes(data))
            buffered += len(data)
            if buffered > MAX_HEAD_BYTES:
                raise h11.RemoteProtocolError("too much pipelined during a streamed answer")
        self.closed = True

    async def body_chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise h11.RemoteProtocolError("the connection closed inside a request body")


class HttpDoor:
    """Serves HTTP/1.1 connections by a list of endpoints, in order."""

    def __init__(self, endpoints: Iterable[HttpEndpoint]) -> None:
        self.endpoints = list(endpoints)

    async def serve_connection(
        self, stream: trio.abc.Stream, first: bytes = b"", common_name: str | None = None
    ) -> None:
        """Answer requests on `stream` (after `first`, already read) until either side closes;
        `common_name`: of the client's verified TLS certificate, if it presented one."""
        connection = _Connection(stream, common_name)
        if first:  # (h11 takes b"" as the peer closing)
            connection.protocol.receive_data(first)
        try:
            await self._serve(connection)
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            # One connection's failure must never end the listener (and with it the member).
            log.exception("HTTP door: a connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve(self, connection: _Connection) -> None:
        while True:
            try:
                event = await connection.next_event()
            except h11.RemoteProtocolError as error:
                await self._refuse(connection, error)
                return
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed, or a peer that went away between requests
            request = _request(event, connection)
            response = HttpResponse(connection)
            await self._answer(request, response)
            if connection.closed:
                return
            # An endpoint that did not read the body: drain it, or close if it is huge.
            if connection.protocol.their_state is h11.SEND_BODY and not await _drain(connection):
                return
            if connection.protocol.our_state is h11.MUST_CLOSE or (
                connection.protocol.their_state is h11.MUST_CLOSE
            ):
                return
            connection.protocol.start_next_cycle()

    async def _answer(self, request: HttpRequest, response: HttpResponse) -> None:
        try:
            endpoint = next((e for e in self.endpoints if e.serves(request.path)), None)
            if request.method == "OPTIONS" and endpoint is not None:
                await response.send(200, [], b"")
            elif endpoint is None:
                await send_text(response, 404, "404 page not found")
            else:
                await endpoint.answer(request, response)
        except BodyTooLarge:
            if not response.started:
                await send_text(response, 413, "http: request body too large")
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            raise  # the connection itself is gone or broken: serve_connection closes it
        except Exception:
            log.exception("HTTP door: %s %s failed", request.method, request.path)
            if not response.started:
                await send_text(response, 500, "Internal Server Error")

    @staticmethod
    async def _refuse(connection: _Connection, error: h11.RemoteProtocolError) -> None:
        """Go's answer to a request it cannot parse: 400 (431 for a head too large), close."""
        if connection.protocol.our_state is not h11.IDLE:
            return
        status = error.error_status_hint
        reason = HTTPStatus(status).phrase
        body = f"{status} {reason}".encode()
        await connection.send(
            h11.Response(
                status_code=status,
                reason=reason,
                headers=[
                    TEXT_PLAIN,
                    ("Connection", "close"),
                    ("Content-Length", str(len(body))),
                ],
            )
        )
        await connection.send(h11.Data(data=body))
        await connection.send(h11.EndOfMessage())


def _request(event: h11.Request, connection: _Connection) -> HttpRequest:
    target = urlsplit(event.target.decode("latin-1"))
    return HttpRequest(
        method=event.method.decode("ascii"),
        path=target.path,
        query=parse_qs(target.query, keep_blank_values=True),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers},
        chunks=connection.body_chunks,
        wait_closed=connection.wait_closed,
        common_name=connection.common_name,
    )


async def _drain(connection: _Connection) -> bool:
    """Read and drop the rest of a request body; False if it was too large to bother."""
    size = 0
    async for chunk in connection.body_chunks():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return False
    return True


async def serve_http(
    door: HttpDoor,
    host_ports: Iterable[tuple[str, int]],
    *,
    task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `door` alone on every (host, port) (etcd's --listen-metrics-urls) until cancelled;
    task_status gets the bound ports."""
    listeners: list[trio.SocketListener] = []
    for host, port in host_ports:
        listeners.extend(await trio.open_tcp_listeners(port, host=host))
    ports = [listener.socket.getsockname()[1] for listener in listeners]
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(trio.serve_listeners, door.serve_connection, [listener])
        task_status.started(ports)
