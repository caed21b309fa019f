"""Requests between members beside raft traffic: etcd's peer HTTP handlers, over cbor2 frames.

etcd serves on the peer URL, besides raft, `/members` (a joining member fetches the cluster),
`/leases` and `/leases/internal` (keep-alives and time-to-live forwarded to the leader) and
`/members/promote` (a promotion forwarded to the leader). Our transport carries raft messages
only, so these go to a small listener at the peer URL's port + PEER_API_PORT_OFFSET: one
request frame `[method, body]`, one answer frame `{"ok": value}` or `{"error": [name,
message]}` naming a node.errors class, several requests per connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from node import errors
from node.transport.framing import FrameError, FrameReader, encode_frame

logger = logging.getLogger(__name__)

PEER_API_PORT_OFFSET = 10_000
MAX_FRAME = 4 * 1024 * 1024
CONNECTION_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)

PeerHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Answers one method with its body; raises EtcdError to answer with an error."""


class PeerUnavailable(Exception):
    """The member could not be reached or did not answer in time."""


def peer_api_address(peer_url: str) -> tuple[str, int]:
    """(host, port) of the peer API of the member advertising `peer_url`."""
    authority = peer_url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = authority.rpartition(":")
    return host.strip("[]"), int(port) + PEER_API_PORT_OFFSET


async def serve_peer_api(
    host: str,
    port: int,
    handler: PeerHandler,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer peer requests on (host, port) until cancelled; `nursery.start` gets the port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        """Answer the requests of one connection in turn."""
        reader = FrameReader(stream, MAX_FRAME)
        async with stream:
            while True:
                try:
                    request = await reader.read_frame()
                except (EOFError, FrameError, *CONNECTION_ERRORS):
                    return
                answer = await _answer(handler, request)
                try:
                    await stream.send_all(encode_frame(answer))
                except CONNECTION_ERRORS:
                    return

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


async def _answer(handler: PeerHandler, request: Any) -> dict[str, Any]:
    if not (isinstance(request, list) and len(request) == 2 and isinstance(request[1], dict)):
        return {"error": ["EtcdError", "peer api: malformed request"]}
    method, body = request
    try:
        return {"ok": await handler(str(method), body)}
    except errors.EtcdError as exc:
        return {"error": [type(exc).__name__, exc.message]}
    except (KeyError, TypeError, ValueError) as exc:
        return {"error": ["EtcdError", f"peer api: bad {method} request: {exc}"]}


async def call_peer(
    address: tuple[str, int], method: str, body: dict[str, Any], timeout: float
) -> Any:
    """One request to a member's peer API; raises the EtcdError it answered with, or
    PeerUnavailable."""
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(*address)
            async with stream:
                await stream.send_all(encode_frame([method, body]))
                answer = await FrameReader(stream, MAX_FRAME).read_frame()
    except (trio.TooSlowError, EOFError, FrameError, *CONNECTION_ERRORS) as exc:
        raise PeerUnavailable(f"peer api at {address[0]}:{address[1]}: {exc!r}") from exc
    if isinstance(answer, dict) and "ok" in answer:
        return answer["ok"]
    name, message = answer["error"]
    error_type = getattr(errors, name, errors.EtcdError)
    if not (isinstance(error_type, type) and issubclass(error_type, errors.EtcdError)):
        error_type = errors.EtcdError
    raise error_type(message)
