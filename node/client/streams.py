"""The client's long-lived streams: watches, lease keep-alives, and reply streams.

Each is an async context manager (leaving it cancels the stream on the member) and an async
iterator of replies. A watch survives the loss of its connection: it reopens on another
endpoint from the revision after the last one it delivered, as clientv3 does; a keep-alive
likewise reopens its stream and goes on renewing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Self

import anyio

from node.client.failures import ConnectionLost
from node.client.response import Response
from node.client.stream_opener import StreamOpener
from node.messages import errors

if TYPE_CHECKING:
    from types import TracebackType

    from node.client.member_connection import MemberStream

KEEP_ALIVE_BUFFER = 16
"""Keep-alive replies kept for a caller that iterates them; older ones are dropped."""


class ReplyStream:
    """Replies of a member-to-client stream (Admin.Events, Election.Observe, ...)."""

    def __init__(self, client: StreamOpener, method: str, body: dict[str, Any]) -> None:
        self._client = client
        self._method = method
        self._body = body
        self._stream: MemberStream | None = None

    async def __aenter__(self) -> Self:
        self._stream = await self._client.open_stream(self._method, self._body)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            with anyio.CancelScope(shield=True):
                await self._stream.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Response:
        if self._stream is None:
            raise RuntimeError("use the stream inside `async with`")
        reply = await self._stream.receive()
        if reply is None:
            raise StopAsyncIteration
        return reply


class SnapshotStream(ReplyStream):
    """The member's backend snapshot as chunks of bytes, in order."""

    async def __anext__(self) -> bytes:  # type: ignore[override]
        reply = await super().__anext__()
        return reply.blob


class Watch:
    """One watch on a key or range: iterate its WatchResponses; leaving `async with` cancels it.

    Entering waits until the member has created the watch (so no later write is missed) and
    sets `watch_id`. The iteration ends after a canceled response (for example when the
    start revision has been compacted: compact_revision is then set).
    """

    def __init__(self, client: StreamOpener, create_request: dict[str, Any]) -> None:
        self._client = client
        self._create_request = create_request
        self._next_revision = create_request["start_revision"]
        self._stream: MemberStream | None = None
        self._finished = False
        self.watch_id = -1

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            with anyio.CancelScope(shield=True):
                await self._stream.close()

    async def _open(self) -> None:
        create = dict(self._create_request, start_revision=self._next_revision)
        self._stream, created = await self._client.open_stream_with_reply(
            "Watch.Watch", {"create_request": create}
        )
        if created.canceled:
            await self._stream.close()
            error = errors.EtcdError(created.cancel_reason or "watch was not created")
            error.code = "INVALID_ARGUMENT"
            raise error
        self.watch_id = created.watch_id
        if not self._next_revision:
            self._next_revision = created.header.revision + 1

    async def request_progress(self) -> None:
        """Ask the member for a progress response (the revision every event so far reaches)."""
        if self._stream is None:
            raise RuntimeError("use the watch inside `async with`")
        await self._stream.send({"progress_request": {}})

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Response:
        if self._stream is None:
            raise RuntimeError("use the watch inside `async with`")
        if self._finished:
            raise StopAsyncIteration
        while True:
            try:
                response = await self._stream.receive()
            except ConnectionLost:
                await self._stream.close()
                await self._open()
                continue
            break
        if response is None:
            raise StopAsyncIteration
        if response.events:
            if not response.fragment:
                self._next_revision = response.events[-1].kv.mod_revision + 1
        elif not response.canceled:
            self._next_revision = max(self._next_revision, response.header.revision + 1)
        if response.canceled:
            self._finished = True
        return response


class LeaseKeepAlive(anyio.AsyncContextManagerMixin):
    """Keeps one lease alive from a background task while its `async with` block runs.

    Renews every third of the TTL, as clientv3. `ttl` is the TTL of the latest renewal;
    iterating yields each renewal's reply and ends when the lease is gone (`expired` is set).
    """

    def __init__(self, client: StreamOpener, lease_id: int) -> None:
        self._client = client
        self.lease_id = lease_id
        self.ttl = 0
        self.expired = False
        self._stream: MemberStream | None = None
        self._replies_in, self._replies = anyio.create_memory_object_stream[Response](
            KEEP_ALIVE_BUFFER
        )

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        first = await self._open()
        if first.TTL <= 0:
            await self._close_stream()
            raise errors.LeaseNotFound()
        self.ttl = first.TTL
        try:
            async with anyio.create_task_group() as renewing:
                renewing.start_soon(self._renew_forever)
                yield self
                renewing.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_stream()
            self._replies_in.close()

    async def _open(self) -> Response:
        self._stream, reply = await self._client.open_stream_with_reply(
            "Lease.LeaseKeepAlive", {"ID": self.lease_id}
        )
        return reply

    async def _renew(self) -> Response:
        assert self._stream is not None
        try:
            await self._stream.send({"ID": self.lease_id})
            reply = await self._stream.receive()
        except ConnectionLost:
            reply = None
        if reply is None:
            await self._close_stream()
            return await self._open()
        return reply

    async def _renew_forever(self) -> None:
        while True:
            await anyio.sleep(max(self.ttl / 3, 0.1))
            reply = await self._renew()
            if reply.TTL <= 0:
                self.expired = True
                self._replies_in.close()
                return
            self.ttl = reply.TTL
            with contextlib.suppress(anyio.WouldBlock):
                self._replies_in.send_nowait(reply)

    async def _close_stream(self) -> None:
        if self._stream is not None:
            await self._stream.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Response:
        try:
            return await self._replies.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
