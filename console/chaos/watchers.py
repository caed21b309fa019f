"""Two watchers per member, recording every response they receive: one over the whole key
space with prev_kv, and a narrow one over part of the shared keys with an event filter
(NODELETE or NOPUT) and no prev_kv, so the filters and key ranges are checked under faults
as well.

A watcher opens its first stream from the store's first revision, through the native door
or the gRPC door. When the stream breaks (the member was killed, a compaction canceled it)
it opens a new one on the same member from the last revision it saw + 1, as etcd's clients
do, and keeps going until the run ends or the member leaves the cluster. It asks for a
progress notification every second, so the checker knows how far its silence reaches.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import anyio
import grpc

from checker.model.history import EventType, KeyValue, ResponseKind, WatchEvent, WatchRequest
from console.chaos.doors import DOOR_FAILURES, DOORS
from console.chaos.recorder import Recorder, now_ns
from node.client import Client, ClientTls
from node.client.connection import NotSent
from node.client.grpc_client import GrpcClient, grpc_call
from node.messages.gen.etcdserverpb import rpc_pb2

ALL_KEYS = "\0"
"""key and range_end of a watch over every key."""
PROGRESS_INTERVAL = 1.0
"""Seconds between the progress requests a watcher sends."""
RECONNECT_DELAY = 0.2
"""Seconds a watcher waits before opening its stream again after a failure."""
OPEN_TIMEOUT = 3.0
"""Seconds opening a stream may take."""


@dataclass(slots=True, frozen=True)
class WatchReply:
    """One watch response, whichever door it came through."""

    header_revision: int
    created: bool
    canceled: bool
    compact_revision: int
    cancel_reason: str
    events: tuple[WatchEvent, ...]


class WatchStream(Protocol):
    """An open watch stream on one member."""

    async def receive(self) -> WatchReply | None:
        """The next response; None when the member ended the stream."""
        ...

    async def request_progress(self) -> None:
        """Ask for a progress notification."""
        ...


Connector = Callable[
    [str, dict[str, Any], ClientTls | None], contextlib.AbstractAsyncContextManager[WatchStream]
]
"""Opens a watch stream on an endpoint with a WatchCreateRequest's fields, dialing with the
TLS given (None: plaintext)."""

_FILTER_CODES = {EventType.PUT: 0, EventType.DELETE: 1}
"""etcd's WatchCreateRequest.FilterType: NOPUT = 0, NODELETE = 1."""


@dataclass(slots=True, frozen=True)
class WatchSpec:
    """What a watcher watches: keys [key, range_end) as etcd (range_end "\\0": every key
    from `key`), the event types filtered out, and whether events carry prev_kv."""

    name: str
    key: str = ALL_KEYS
    range_end: str = ALL_KEYS
    filters: tuple[EventType, ...] = ()
    prev_kv: bool = True


WHOLE = WatchSpec("all")
NARROW = (
    WatchSpec("k0-k3-noput", "k0", "k4", filters=(EventType.PUT,), prev_kv=False),
    WatchSpec("k2-k5-nodelete", "k2", "k6", filters=(EventType.DELETE,), prev_kv=False),
)
"""The narrow watchers, taken in turn by the members as they come."""


class MemberWatcher:
    """The watcher of one member: streams opened in turn, every response recorded."""

    def __init__(
        self,
        member: str,
        door: str,
        endpoint_of: Callable[[], str | None],
        recorder: Recorder,
        start_revision: int,
        spec: WatchSpec = WHOLE,
        tls: ClientTls | None = None,
    ) -> None:
        self.watcher_id = f"{member}/{door}" if spec is WHOLE else f"{member}/{door}/{spec.name}"
        self.spec = spec
        self.member = member
        self.door = door
        self._endpoint_of = endpoint_of
        self._recorder = recorder
        self._connect: Connector = native_watch if door == "native" else grpc_watch
        self._tls = tls
        self.next_revision = start_revision
        """Where the next stream starts: after the last event seen, else the first revision
        (or the compaction revision that canceled the last stream)."""
        self.last_event_revision = 0
        self.progress_revision = 0
        self._streams = 0

    @property
    def covered_to(self) -> int:
        """Every revision up to this one has been delivered to this watcher."""
        return max(self.last_event_revision, self.progress_revision)

    async def run(self) -> None:
        """Watch until cancelled, or until the member is no longer in the cluster."""
        while (endpoint := self._endpoint_of()) is not None:
            try:
                await self._stream_once(endpoint)
            except* DOOR_FAILURES:
                pass
            await anyio.sleep(RECONNECT_DELAY)

    async def _stream_once(self, endpoint: str) -> None:
        start, spec = self.next_revision, self.spec
        create = {
            "key": spec.key.encode(),
            "range_end": spec.range_end.encode(),
            "start_revision": start,
            "filters": [_FILTER_CODES[kind] for kind in spec.filters],
            "prev_kv": spec.prev_kv,
            "progress_notify": True,
        }
        invoked = now_ns()
        async with self._connect(endpoint, create, self._tls) as stream:
            stream_no = self._streams
            self._streams += 1
            self._recorder.stream_opened(
                WatchRequest(
                    self.watcher_id,
                    stream_no,
                    spec.key,
                    spec.range_end,
                    start,
                    prev_kv=spec.prev_kv,
                    filters=spec.filters,
                    progress_notify=True,
                    invoked_ns=invoked,
                )
            )
            async with anyio.create_task_group() as group:
                group.start_soon(self._ask_progress, stream)
                await self._receive_all(stream, stream_no)
                group.cancel_scope.cancel()

    async def _ask_progress(self, stream: WatchStream) -> None:
        """Ask for progress every second until the stream breaks (the receiving side then
        sees it break too)."""
        try:
            while True:
                await anyio.sleep(PROGRESS_INTERVAL)
                await stream.request_progress()
        except DOOR_FAILURES:
            return

    async def _receive_all(self, stream: WatchStream, stream_no: int) -> None:
        while (reply := await stream.receive()) is not None:
            kind = _kind(reply)
            self._recorder.watch_response(
                self.watcher_id,
                stream_no,
                kind,
                reply.header_revision,
                reply.events,
                reply.compact_revision,
                reply.cancel_reason,
            )
            if reply.events:
                self.last_event_revision = max(self.last_event_revision, reply.events[-1].revision)
                self.next_revision = self.last_event_revision + 1
            elif kind is ResponseKind.PROGRESS:
                self.progress_revision = max(self.progress_revision, reply.header_revision)
            elif kind is ResponseKind.COMPACTED:
                self.next_revision = max(self.next_revision, reply.compact_revision)
                return
            elif kind is ResponseKind.CANCELED:
                return


def _kind(reply: WatchReply) -> ResponseKind:
    if reply.created:
        return ResponseKind.CREATED
    if reply.canceled:
        return ResponseKind.COMPACTED if reply.compact_revision else ResponseKind.CANCELED
    if reply.events:
        return ResponseKind.EVENTS
    return ResponseKind.PROGRESS


def _event(event_type: int, kv: KeyValue, prev_kv: KeyValue | None) -> WatchEvent:
    return WatchEvent(EventType.DELETE if event_type == 1 else EventType.PUT, kv, prev_kv)


# -- the native door ----------------------------------------------------------------------------


class _NativeStream:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def receive(self) -> WatchReply | None:
        reply = await self._stream.receive()
        return None if reply is None else _native_reply(reply)

    async def request_progress(self) -> None:
        try:
            await self._stream.send({"progress_request": {}})
        except NotSent as broken:  # the connection was already gone
            raise ConnectionError(f"watch stream to {broken} is closed") from None


@contextlib.asynccontextmanager
async def native_watch(
    endpoint: str, create: dict[str, Any], tls: ClientTls | None = None
) -> AsyncIterator[WatchStream]:
    """A watch stream on the member at native `endpoint`; its created response is recorded
    by the caller as the stream's first one."""
    with anyio.fail_after(OPEN_TIMEOUT):
        client = await Client.connect([endpoint], timeout=OPEN_TIMEOUT, tls=tls)
    async with client:
        with anyio.fail_after(OPEN_TIMEOUT):
            stream, created = await client.open_stream_with_reply(
                "Watch.Watch", {"create_request": create}
            )
        try:
            yield _Replayed(_native_reply(created), _NativeStream(stream))
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()


def _native_reply(reply: Any) -> WatchReply:
    return WatchReply(
        header_revision=reply.header.revision,
        created=reply.created,
        canceled=reply.canceled,
        compact_revision=reply.compact_revision,
        cancel_reason=reply.cancel_reason,
        events=tuple(
            _event(e.type, _native_kv(e.kv), _native_kv(e.prev_kv) if e.prev_kv else None)
            for e in reply.events
        ),
    )


def _native_kv(kv: Any) -> KeyValue:
    return KeyValue(
        kv.key.decode(), kv.value.decode(), kv.create_revision, kv.mod_revision, kv.version,
        kv.lease,
    )  # fmt: skip


# -- the gRPC door ------------------------------------------------------------------------------


class _GrpcStream:
    def __init__(self, call: Any) -> None:
        self._call = call

    async def receive(self) -> WatchReply | None:
        reply = await grpc_call(self._call.read())
        return None if reply is grpc.aio.EOF else _grpc_reply(reply)

    async def request_progress(self) -> None:
        request = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())
        await grpc_call(self._call.write(request))


@contextlib.asynccontextmanager
async def grpc_watch(
    endpoint: str, create: dict[str, Any], tls: ClientTls | None = None
) -> AsyncIterator[WatchStream]:
    """A watch stream on the member whose client URL is `endpoint`, through etcd's gRPC API."""
    async with GrpcClient([endpoint], tls) as member:
        call = member.stubs().watch.Watch()
        try:
            with anyio.fail_after(OPEN_TIMEOUT):
                request = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(**create))
                await grpc_call(call.write(request))
                created = await grpc_call(call.read())
            if created is grpc.aio.EOF:
                raise ConnectionError("the watch stream ended before it was created")
            yield _Replayed(_grpc_reply(created), _GrpcStream(call))
        finally:
            call.cancel()


def _grpc_reply(reply: Any) -> WatchReply:
    return WatchReply(
        header_revision=reply.header.revision,
        created=reply.created,
        canceled=reply.canceled,
        compact_revision=reply.compact_revision,
        cancel_reason=reply.cancel_reason,
        events=tuple(
            _event(e.type, _grpc_kv(e.kv), _grpc_kv(e.prev_kv) if e.HasField("prev_kv") else None)
            for e in reply.events
        ),
    )


def _grpc_kv(kv: Any) -> KeyValue:
    return KeyValue(
        kv.key.decode(), kv.value.decode(), kv.create_revision, kv.mod_revision, kv.version,
        kv.lease,
    )  # fmt: skip


class _Replayed:
    """A stream whose first response (the created one) was read while opening it."""

    def __init__(self, first: WatchReply, stream: WatchStream) -> None:
        self._first: WatchReply | None = first
        self._stream = stream

    async def receive(self) -> WatchReply | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._stream.receive()

    async def request_progress(self) -> None:
        await self._stream.request_progress()


class WatcherFleet:
    """Two MemberWatchers per member of the cluster, started as members join: the whole
    key space, and a narrow one (NARROW, in turn). The i-th member's watchers use the
    native door when i is even, the gRPC door when odd.

    Each watcher starts at `start_revision()` as it is when the watcher is created: the
    first watchers from the store's first revision, the watchers of members that join
    later from after the last compaction. (A member that joins replays the compaction from
    its log; events it sends before that are sent without prev_kv once their previous
    version is gone, as etcd does, which a watch from the first revision would show.)
    """

    def __init__(
        self,
        members: Callable[[], dict[str, tuple[str, str]]],
        recorder: Recorder,
        start_revision: Callable[[], int],
        tls: ClientTls | None = None,
    ) -> None:
        self._members = members
        self._tls = tls
        self._recorder = recorder
        self._start_revision = start_revision
        self.watchers: dict[str, MemberWatcher] = {}
        """By watcher id."""
        self._watched: list[str] = []
        """The members watched, in the order they came."""

    async def run(self) -> None:
        """Start the watchers of every member, now and as members join, until cancelled."""
        async with anyio.create_task_group() as group:
            while True:
                for name in self._members():
                    if name in self._watched:
                        continue
                    order = len(self._watched)
                    self._watched.append(name)
                    door = DOORS[order % len(DOORS)]
                    endpoint = partial(self._endpoint, name, door)
                    for spec in (WHOLE, NARROW[order % len(NARROW)]):
                        watcher = MemberWatcher(
                            name, door, endpoint, self._recorder, self._start_revision(), spec,
                            self._tls,
                        )  # fmt: skip
                        self.watchers[watcher.watcher_id] = watcher
                        group.start_soon(watcher.run)
                await anyio.sleep(RECONNECT_DELAY)

    def _endpoint(self, name: str, door: str) -> str | None:
        endpoints = self._members().get(name)
        if endpoints is None:
            return None
        return endpoints[0] if door == "native" else endpoints[1]

    def _live(self) -> list[MemberWatcher]:
        members = self._members()
        return [w for w in self.watchers.values() if w.member in members]

    def floor(self) -> int:
        """The revision every watcher of a current member has been delivered up to."""
        return min((w.covered_to for w in self._live()), default=0)

    async def wait_caught_up(self, revision: int, give_up_after: float) -> list[MemberWatcher]:
        """Wait until every live watcher covers `revision`; returns those that did not
        within `give_up_after` seconds."""
        with anyio.move_on_after(give_up_after):
            # a watcher catches up as members come back, which nothing announces
            while any(w.covered_to < revision for w in self._live()):  # noqa: ASYNC110
                await anyio.sleep(RECONNECT_DELAY)
        return [w for w in self._live() if w.covered_to < revision]
