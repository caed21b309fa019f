"""The crossing between grpcio's asyncio thread and the trio member, for the gRPC door.

grpcio's asyncio server runs in a thread of its own with its own event loop; the trio loop
never waits on it. Each call crosses over: the gRPC handler asks trio (through the trio token)
to start a task in a nursery the door owns, and awaits an asyncio future that task settles
thread-safely when the service layer answers. Crossings are batched per wake-up of the
receiving loop. A stream has two bounded queues, one each way, so neither side can outrun the
other by more than a window of messages. When a client cancels, its trio task is cancelled.
Calls and streams whose metadata requires a leader are checked on the trio side by a
LeaderMonitor, as etcd's interceptors do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
import grpc.aio
import trio

from node.api.leader_monitor import LeaderMonitor, requires_leader
from node.api.service import Service
from node.messages import errors
from node.messages.grpc_convert import Body

log = logging.getLogger(__name__)

STREAM_WINDOW = 64
"""Messages that may wait in each direction of one stream before its sender waits."""

TOKEN_KEYS = ("token", "authorization")
"""The metadata keys etcd reads a client's auth token from (gRPC's, then the gateway's)."""


def auth_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The auth token a call carries in its metadata (etcd's AuthInfoFromCtx), if any."""
    found = dict.fromkeys(TOKEN_KEYS)
    for key, value in metadata or ():
        if key in found and found[key] is None:
            found[key] = value.decode() if isinstance(value, bytes) else value
    return found["token"] if found["token"] is not None else found["authorization"]

class _Mailbox:
    """Callbacks to run on another thread's event loop, in the order posted and in batches:
    one wake-up of that loop runs every callback posted since the last one, so a busy door
    pays one cross-thread wake-up for many calls instead of one each."""

    def __init__(self, wake: Callable[[Callable[[], None]], object], closed: type[Exception]):
        self._wake = wake
        self._closed = closed
        self._posted: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._woken = False

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run callback(*args) soon on the other loop; dropped if that loop has ended."""
        self._posted.append((callback, args))
        if not self._woken:
            self._woken = True
            with contextlib.suppress(self._closed):
                self._wake(self._deliver)

    def _deliver(self) -> None:
        # Cleared before draining: a post racing with this drain wakes the loop again.
        self._woken = False
        posted = self._posted
        while posted:
            callback, args = posted.popleft()
            try:
                callback(*args)
            except Exception:
                # Raising here would end the receiving loop (for trio, the whole member).
                log.exception("gRPC door: callback %r failed", callback)


@dataclass(slots=True)
class _Ended:
    """The last item of a stream's outbox: the stream is over, with this error or none."""

    error: errors.EtcdError | None


@dataclass(slots=True)
class _StreamPipe:
    """One stream's queues: inbox (gRPC -> trio) and outbox (trio -> gRPC), each bounded by
    credits the receiving side hands back as it takes messages."""

    require_leader: bool = False
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    inbox_in: trio.MemorySendChannel[Body] = field(init=False)
    inbox_out: trio.MemoryReceiveChannel[Body] = field(init=False)
    inbox_credit: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(STREAM_WINDOW)
    )
    outbox: asyncio.Queue[Body | _Ended] = field(default_factory=asyncio.Queue)
    outbox_credit: trio.Semaphore = field(default_factory=lambda: trio.Semaphore(STREAM_WINDOW))

    def __post_init__(self) -> None:
        self.inbox_in, self.inbox_out = trio.open_memory_channel[Body](STREAM_WINDOW)


class _Inbox:
    """The trio side of a stream's inbox: an async iterator of the client's messages that
    hands a credit back to the gRPC side for every message taken."""

    def __init__(self, pipe: _StreamPipe, to_grpc: _Mailbox) -> None:
        self._pipe = pipe
        self._to_grpc = to_grpc

    def __aiter__(self) -> _Inbox:
        return self

    async def __anext__(self) -> Body:
        try:
            body = await self._pipe.inbox_out.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None
        self._to_grpc.post(self._pipe.inbox_credit.release)
        return body


def _settle(future: asyncio.Future[Body], reply: Body | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert reply is not None  # a call without an error has its reply
        future.set_result(reply)


def _as_etcd_error(exc: Exception, what: str) -> errors.EtcdError:
    """An unexpected failure as the client sees it (etcd's gRPC layer says Unknown)."""
    log.exception("gRPC %s failed", what)
    return errors.EtcdError(f"etcdserver: {exc}")


class TrioBridge:
    """Runs the service's coroutines as tasks of the door's trio nursery on behalf of the gRPC
    thread. `call` and `stream` run on the gRPC thread; methods named `_in_trio_*` on trio."""

    def __init__(
        self, token: trio.lowlevel.TrioToken, nursery: trio.Nursery, leader: LeaderMonitor
    ) -> None:
        self.token = token
        self.to_trio = _Mailbox(token.run_sync_soon, trio.RunFinishedError)
        self.to_grpc: _Mailbox | None = None
        self._nursery = nursery
        self._leader = leader
        self._streams: set[trio.CancelScope] = set()
        self._ending = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """(gRPC thread) The asyncio loop the gRPC server runs on."""
        self.to_grpc = _Mailbox(loop.call_soon_threadsafe, RuntimeError)

    # -- unary ----------------------------------------------------------------------------

    async def call(
        self, run: Callable[..., Awaitable[Body]], *args: Any, require_leader: bool = False
    ) -> Body:
        """`await run(*args)` on trio (NoLeader instead when `require_leader` and the member
        knows none); raises its EtcdError. Cancelling this cancels that."""
        future: asyncio.Future[Body] = asyncio.get_running_loop().create_future()
        scope = trio.CancelScope()
        self.to_trio.post(
            self._nursery.start_soon, self._in_trio_call, future, scope, require_leader, run, args
        )
        try:
            return await future
        except asyncio.CancelledError:
            self.to_trio.post(scope.cancel)
            raise

    async def _in_trio_call(
        self,
        future: asyncio.Future[Body],
        scope: trio.CancelScope,
        require_leader: bool,
        run: Callable[..., Awaitable[Body]],
        args: tuple[Any, ...],
    ) -> None:
        assert self.to_grpc is not None
        reply: Body | None = None
        error: BaseException | None = errors.Stopped()
        try:
            with scope:
                try:
                    if require_leader:
                        self._leader.check()
                    reply, error = await run(*args), None
                except errors.EtcdError as exc:
                    error = exc
                except Exception as exc:
                    error = _as_etcd_error(exc, getattr(run, "__name__", "call"))
        finally:
            self.to_grpc.post(_settle, future, reply, error)

    # -- streams --------------------------------------------------------------------------

    async def stream(
        self,
        service: Service,
        method: str,
        first: Body | None,
        inbound: AsyncIterator[Body] | None,
        context: grpc.aio.ServicerContext,
        common_name: str | None = None,
    ) -> None:
        """Run the stream `method` for the client `common_name` names (Service.stream): with
        `first` for a server stream, or fed from `inbound` (its first message opens the
        stream); writes the replies to `context`. A stream whose metadata requires a leader is
        guarded by the door's LeaderMonitor."""
        metadata = context.invocation_metadata()
        pipe = _StreamPipe(require_leader=requires_leader(metadata))
        self.to_trio.post(
            self._in_trio_open_stream,
            service,
            method,
            first,
            inbound is not None,
            pipe,
            auth_token(metadata),
            common_name,
        )
        reader = None
        if inbound is not None:
            reader = asyncio.ensure_future(self._read_inbound(inbound, pipe))
        try:
            while True:
                item = await pipe.outbox.get()
                if isinstance(item, _Ended):
                    if item.error is not None:
                        await abort(context, item.error)
                    return
                await context.write(item)
                self.to_trio.post(pipe.outbox_credit.release)
        finally:
            self.to_trio.post(pipe.scope.cancel)
            if reader is not None:
                reader.cancel()

    async def _read_inbound(self, inbound: AsyncIterator[Body], pipe: _StreamPipe) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            async for body in inbound:
                if isinstance(body, errors.EtcdError):  # refused by the deserializer
                    pipe.outbox.put_nowait(_Ended(body))
                    break
                await pipe.inbox_credit.acquire()
                self.to_trio.post(_deliver, pipe.inbox_in, body)
        self.to_trio.post(pipe.inbox_in.close)

    def _in_trio_open_stream(
        self,
        service: Service,
        method: str,
        first: Body | None,
        bidirectional: bool,
        pipe: _StreamPipe,
        token: str | None,
        common_name: str | None,
    ) -> None:
        if self._ending:
            pipe.scope.cancel()
        self._streams.add(pipe.scope)
        self._nursery.start_soon(
            self._in_trio_stream, service, method, first, bidirectional, pipe, token, common_name
        )

    async def _in_trio_stream(
        self,
        service: Service,
        method: str,
        first: Body | None,
        bidirectional: bool,
        pipe: _StreamPipe,
        token: str | None,
        common_name: str | None,
    ) -> None:
        to_grpc = self.to_grpc
        assert to_grpc is not None

        async def send(body: Body) -> None:
            await pipe.outbox_credit.acquire()
            to_grpc.post(pipe.outbox.put_nowait, body)

        ended = _Ended(errors.Stopped())
        try:
            with pipe.scope:
                inbound = _Inbox(pipe, to_grpc) if bidirectional else None
                guard = (
                    self._leader.guarded_stream()
                    if pipe.require_leader
                    else contextlib.nullcontext()
                )
                try:
                    with guard:
                        if inbound is not None:
                            first = await anext(inbound, None)
                        if first is not None:
                            await service.stream(method, first, inbound, send, token, common_name)
                    ended = _Ended(None)
                except errors.EtcdError as exc:
                    ended = _Ended(exc)
                except Exception as exc:
                    ended = _Ended(_as_etcd_error(exc, method))
        finally:
            self._streams.discard(pipe.scope)
            pipe.inbox_out.close()
            to_grpc.post(pipe.outbox.put_nowait, ended)

    @property
    def tasks(self) -> int:
        """(trio) Calls and streams whose trio task is running."""
        return len(self._nursery.child_tasks)

    def end_streams(self) -> None:
        """(trio) End every open stream with `etcdserver: server stopped`, and any opened later."""
        self._ending = True
        for scope in self._streams:
            scope.cancel()


def _deliver(inbox: trio.MemorySendChannel[Body], body: Body) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        inbox.send_nowait(body)


async def abort(context: grpc.aio.ServicerContext, error: errors.EtcdError) -> NoReturn:
    """End the call with the error's status code and etcd's text (context.abort raises)."""
    code = getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN)
    await context.abort(code, error.message)
    raise AssertionError("grpc.aio's context.abort returned")  # it raises, untyped
