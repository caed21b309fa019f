"""Request/response exchanges on the peer port, beside the raft streams.

etcd serves a few HTTP requests on its peer URL besides raft traffic (`/members` for a joining
member, `/leases` and `/members/promote` forwarded to the leader). Here the dialer opens a
connection of kind REQUEST; once the listener accepts, every request frame is answered by one
answer frame, in turn, several per connection. The listener checks none of the handshake's ids:
a joining member knows neither the cluster's id nor its own yet, so what a request may do is
for the owner's handler to decide.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from node.transport.framing import FrameError, FrameReader, encode_frame
from node.transport.peer import CONNECTION_ERRORS, format_address
from node.transport.protocol import HandshakeError, Hello, StreamKind, Verdict
from node.transport.tls import open_peer_stream

OnRequest = Callable[[Any], Awaitable[Any]]
"""Answers the value of one request frame with the value of its answer frame."""

NO_REQUEST_HANDLER = "no handler for peer requests"
DEFAULT_MAX_ANSWER = 32 * 1024 * 1024


class RequestFailed(Exception):
    """The member was unreachable or refused the connection, or the connection broke."""


async def serve_requests(
    stream: trio.abc.Stream, reader: FrameReader, on_request: OnRequest, write_timeout: float
) -> None:
    """Answer the request frames of one accepted connection in turn until the dialer closes
    it (or sends something that is not a frame, or stops reading answers)."""
    while True:
        try:
            request = await reader.read_frame()
        except (EOFError, FrameError, *CONNECTION_ERRORS):
            return
        answer = encode_frame(await on_request(request))
        with trio.move_on_after(write_timeout) as scope:
            try:
                await stream.send_all(answer)
            except CONNECTION_ERRORS:
                return
        if scope.cancelled_caught:
            return


async def send_request(
    address: tuple[str, int],
    value: Any,
    *,
    max_answer_size: int = DEFAULT_MAX_ANSWER,
    tls: ssl.SSLContext | None = None,
) -> Any:
    """Send one request to the member listening for peers at `address` and return its answer;
    RequestFailed if it cannot be reached or refuses. It waits as long as the member takes:
    bound it with `trio.fail_after` (a peer that never answers is the caller's to give up on).
    `tls` is the context of a member whose peer URLs are https.
    """
    try:
        stream = await open_peer_stream(*address, tls)
        async with stream:
            reader = FrameReader(stream, max_answer_size)
            await stream.send_all(encode_frame(Hello(0, 0, 0, StreamKind.REQUEST).to_wire()))
            verdict = Verdict.from_wire(await reader.read_frame())
            if verdict.accepted:
                await stream.send_all(encode_frame(value))
                return await reader.read_frame()
    except (EOFError, FrameError, HandshakeError, *CONNECTION_ERRORS) as exc:
        raise RequestFailed(f"peer at {format_address(address)}: {exc!r}") from exc
    raise RequestFailed(f"peer at {format_address(address)} refused: {verdict.reason}")
