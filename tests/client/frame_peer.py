"""A stand-in member for client tests: answers native-protocol calls with a test's function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from node.messages import errors
from node.messages import native_protocol as protocol

HANG_UP = object()
"""Return this from an answer function to close the connection instead of answering."""

Answer = Callable[[protocol.Call], Awaitable[Any]]


async def _serve_connection(stream: anyio.abc.ByteStream, answer: Answer) -> None:
    decoder = protocol.FrameDecoder()
    send_lock = anyio.Lock()
    async with stream, anyio.create_task_group() as tasks:

        async def send(data: bytes) -> None:
            async with send_lock:
                await stream.send(data)

        async def reply(call: protocol.Call) -> None:
            outcome = await answer(call)
            if outcome is HANG_UP:
                await stream.aclose()
                tasks.cancel_scope.cancel()
            elif isinstance(outcome, errors.EtcdError):
                await send(protocol.encode_failure(call.id, outcome.code, outcome.message))
            else:
                await send(protocol.encode_message(call.id, outcome))

        try:
            while True:
                for payload in decoder.feed(await stream.receive()):
                    envelope = protocol.decode_request(payload)
                    if isinstance(envelope, protocol.Call):
                        tasks.start_soon(reply, envelope)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            tasks.cancel_scope.cancel()


@asynccontextmanager
async def frame_peer(answer: Answer):
    """Serve on an OS-chosen loopback port; yields the endpoint `127.0.0.1:port`."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, lambda stream: _serve_connection(stream, answer))
        yield f"127.0.0.1:{port}"
        tasks.cancel_scope.cancel()


async def unused_endpoint() -> str:
    """An endpoint nothing listens on (a port the OS handed out and that is closed again)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    return f"127.0.0.1:{port}"
