"""Requests between members beside raft traffic: etcd's peer HTTP handlers, over cbor2 frames.

etcd serves on the peer URL, besides raft, `/members` (a joining member fetches the cluster),
`/leases` and `/leases/internal` (keep-alives and time-to-live forwarded to the leader) and
`/members/promote` (a promotion forwarded to the leader). Ours travel on the peer port too, as
the transport's request connections (node.transport.request): a request is `[method, body]`,
its answer `{"ok": value}` or `{"error": [name, message]}` naming a node.messages.errors class.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from node.messages import errors
from node.transport import RequestFailed, send_request

PeerHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Answers one method with its body; raises EtcdError to answer with an error."""


class PeerUnavailable(Exception):
    """The member could not be reached or did not answer in time."""


def peer_address(peer_url: str) -> tuple[str, int]:
    """(host, port) of a peer URL: where the member behind it takes raft traffic and requests."""
    authority = peer_url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = authority.rpartition(":")
    return host.strip("[]"), int(port)


async def answer_peer_request(handler: PeerHandler, request: Any) -> dict[str, Any]:
    """The answer to one request value: `handler`'s result, or the error it raised."""
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
    address: tuple[str, int],
    method: str,
    body: dict[str, Any],
    answer_within: float,
    *,
    tls: ssl.SSLContext | None = None,
) -> Any:
    """One request to the member at `address` (its peer port, over TLS with `tls`); raises the
    EtcdError it answered with, or PeerUnavailable (also when it has not answered within
    `answer_within` seconds)."""
    try:
        with trio.fail_after(answer_within):
            answer = await send_request(address, [method, body], tls=tls)
    except RequestFailed as exc:
        raise PeerUnavailable(f"peer api: {exc}") from exc
    except trio.TooSlowError as exc:
        raise PeerUnavailable(f"peer api: peer at {address[0]}:{address[1]}: no answer") from exc
    if isinstance(answer, dict) and "ok" in answer:
        return answer["ok"]
    try:
        name, message = answer["error"]
    except (KeyError, TypeError, ValueError) as exc:
        raise PeerUnavailable(f"peer api: unreadable answer {answer!r:.80}") from exc
    error_type = getattr(errors, str(name), errors.EtcdError)
    if not (isinstance(error_type, type) and issubclass(error_type, errors.EtcdError)):
        error_type = errors.EtcdError
    raise error_type(message)
