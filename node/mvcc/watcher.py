"""Watchers and watch streams: what one consumer asked to watch, and the queue it reads.

Modelled on etcd 3.4's mvcc/watcher.go together with the per-stream duties of its gRPC layer
(etcdserver/api/v3rpc/watch.go): created and canceled responses, prev_kv filling, fragmenting
and progress notifications. A WatchStream is one consumer's set of watchers sharing one
bounded response queue; the WatchableStore (watchable_store.py) routes changes into it and
is what a stream reaches back to, seen from here as a Watchable (etcd's watchable interface).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from node.messages.key_value import Event, EventType, KeyValue
from node.messages.watch import WatchFilter

AUTO_WATCH_ID = -1
"""Pass as `watch_id` to have the stream pick the next free id (etcd's AutoWatchID)."""

PROGRESS_WATCH_ID = -1
"""The watch id of a requested progress response: it speaks for every watcher of the stream."""

DUPLICATE_WATCH_ID = "mvcc: duplicate watch ID provided on the WatchStream"
EMPTY_WATCHER_RANGE = "mvcc: watcher range is empty"

# rough encoded sizes of a response's header and of an event's fixed fields
_RESPONSE_OVERHEAD = 64
_EVENT_OVERHEAD = 32


@dataclass(slots=True)
class WatchResponse:
    """What a consumer reads, with etcd's WatchResponse fields.

    revision is the store revision the response reflects (etcd's header revision): for events,
    the watcher has seen every change up to it. A requested progress response has watch_id -1
    and speaks for the whole stream.
    """

    watch_id: int
    events: list[Event]
    revision: int
    compact_revision: int = 0
    created: bool = False
    canceled: bool = False
    cancel_reason: str = ""
    fragment: bool = False


@dataclass(slots=True, eq=False)
class Watcher:
    """One watch: the key or range it covers, its options and how far it has seen.

    end: None for the single key `key`, b"" for every key from `key` on, else the exclusive
    end of the range. min_rev: the lowest revision whose changes it has not been handed yet.
    idle: nothing was queued for it since the last periodic progress round.
    """

    id: int
    key: bytes
    end: bytes | None
    start_revision: int
    stream: WatchStream
    no_put: bool = False
    no_delete: bool = False
    prev_kv: bool = False
    progress_notify: bool = False
    fragment: bool = False
    min_rev: int = 0
    idle: bool = True

    def wanted(self, events: list[Event]) -> list[Event]:
        """`events` without the kinds this watcher filters out."""
        if not (self.no_put or self.no_delete):
            return events
        return [
            e for e in events if not (self.no_put if e.type is EventType.PUT else self.no_delete)
        ]


def watch_range(key: bytes, range_end: bytes) -> tuple[bytes, bytes | None]:
    """A watch request's (key, range_end) as a watcher's (key, end), by etcd's rules.

    An empty key means b"\\0" (the smallest key); an empty range_end a single key; a range_end
    of b"\\0" every key from `key` on.
    """
    if not key:
        key = b"\0"
    if not range_end:
        return key, None
    if range_end == b"\0":
        return key, b""
    return key, range_end


def event_size(event: Event) -> int:
    """An estimate of an event's encoded size, for fragmenting."""
    size = _EVENT_OVERHEAD + len(event.kv.key) + len(event.kv.value)
    if event.prev_kv is not None:
        size += _EVENT_OVERHEAD + len(event.prev_kv.key) + len(event.prev_kv.value)
    return size


def fragments(response: WatchResponse, max_bytes: int) -> list[WatchResponse]:
    """`response` split as etcd's sendFragments does: every part but the last has fragment set.

    A response is split only when it is at least `max_bytes` and holds two or more events;
    each part holds at least one event and stops before the event that would reach the limit.
    """
    sizes = [event_size(e) for e in response.events]
    if len(sizes) < 2 or _RESPONSE_OVERHEAD + sum(sizes) < max_bytes:
        return [response]
    parts: list[WatchResponse] = []
    current: list[Event] = []
    used = _RESPONSE_OVERHEAD
    for event, size in zip(response.events, sizes, strict=True):
        if current and used + size >= max_bytes:
            parts.append(_part(response, current, fragment=True))
            current, used = [], _RESPONSE_OVERHEAD
        current.append(event)
        used += size
    parts.append(_part(response, current, fragment=False))
    return parts


def _part(response: WatchResponse, events: list[Event], *, fragment: bool) -> WatchResponse:
    return WatchResponse(
        response.watch_id,
        events,
        response.revision,
        response.compact_revision,
        fragment=fragment,
    )


class Watchable(Protocol):
    """What a WatchStream needs from the store that feeds it (the WatchableStore)."""

    @property
    def current_revision(self) -> int: ...

    def add_watcher(self, watcher: Watcher) -> None: ...

    def remove_watcher(self, watcher: Watcher) -> None: ...

    def forget_stream(self, stream: WatchStream) -> None: ...

    def send_progress(self, stream: WatchStream) -> bool: ...

    def defer_progress(self, stream: WatchStream) -> None: ...

    def send_deferred_progress(self) -> None: ...

    def prev_kv(self, event: Event) -> KeyValue | None: ...

    def count_delivered(self, responses: list[WatchResponse]) -> None: ...


@dataclass(slots=True)
class _Queued:
    response: WatchResponse
    watcher: Watcher | None = None


class WatchStream:
    """One consumer's watchers and the bounded queue of responses they share.

    Control responses (created, canceled, compacted, requested progress) always enter the
    queue; a watcher's own responses (events, periodic progress) only while fewer than
    `capacity` of those wait (etcd's channel length), so a consumer that stops reading costs
    the writers nothing: its watchers fall behind and catch up later from the backend.
    """

    def __init__(self, store: Watchable, capacity: int, max_response_bytes: int) -> None:
        self._store = store
        self._capacity = capacity
        self._max_response_bytes = max_response_bytes
        self._queue: deque[_Queued] = deque()
        self._queued_events = 0
        self._watchers: dict[int, Watcher] = {}
        self._next_id = 0
        self._closed = False
        self.progress_deferred = False
        self.on_ready: Callable[[], None] | None = None
        """Called whenever the queue goes from empty to non-empty, so an async owner can wake."""

    @property
    def watchers(self) -> list[Watcher]:
        """The stream's current watchers."""
        return list(self._watchers.values())

    @property
    def pending(self) -> int:
        """Responses queued and not yet polled."""
        return len(self._queue)

    def watch(
        self,
        key: bytes,
        range_end: bytes = b"",
        start_revision: int = 0,
        filters: Iterable[int] = (),
        prev_kv: bool = False,
        watch_id: int = AUTO_WATCH_ID,
        progress_notify: bool = False,
        fragment: bool = False,
    ) -> int:
        """Start watching; returns the watch id, or -1 when refused.

        Either way a created response is queued first, as etcd sends it; a refused watch's
        also has canceled set and etcd's reason. start_revision 0 means "from the next change".
        """
        if self._closed:
            raise RuntimeError("watch stream is closed")
        key, end = watch_range(key, range_end)
        revision = self._store.current_revision
        refusal = ""
        if end and key >= end:
            refusal = EMPTY_WATCHER_RANGE
        elif watch_id != AUTO_WATCH_ID and watch_id in self._watchers:
            refusal = DUPLICATE_WATCH_ID
        if refusal:
            refused = WatchResponse(-1, [], revision, created=True, canceled=True)
            refused.cancel_reason = refusal
            self.push(refused)
            return -1
        if watch_id == AUTO_WATCH_ID:
            while self._next_id in self._watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        wanted = set(filters)
        watcher = Watcher(
            watch_id,
            key,
            end,
            start_revision,
            self,
            no_put=WatchFilter.NOPUT in wanted,
            no_delete=WatchFilter.NODELETE in wanted,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
            fragment=fragment,
        )
        self.push(WatchResponse(watch_id, [], revision, created=True))
        self._watchers[watch_id] = watcher
        self._store.add_watcher(watcher)
        return watch_id

    def cancel(self, watch_id: int) -> bool:
        """Stop a watcher and queue its canceled response; False when there is no such id."""
        watcher = self._watchers.pop(watch_id, None)
        if watcher is None:
            return False
        self._store.remove_watcher(watcher)
        self.push(WatchResponse(watch_id, [], self._store.current_revision, canceled=True))
        self._store.send_deferred_progress()
        return True

    def request_progress(self) -> None:
        """Ask for a progress response (watch_id -1, revision = the current revision).

        As etcd: it is queued only once every watcher of the stream is synced, so it never
        runs ahead of events still owed; until then it is deferred (repeated requests fold
        into one) and sent as soon as the stream catches up. A stream without watchers gets
        none.
        """
        if self.progress_deferred:
            return
        if not self._store.send_progress(self):
            self.progress_deferred = True
            self._store.defer_progress(self)

    def poll(self) -> list[WatchResponse]:
        """Take every queued response, in order, with prev_kv filled and fragmented as asked."""
        responses: list[WatchResponse] = []
        while self._queue:
            queued = self._queue.popleft()
            response, watcher = queued.response, queued.watcher
            if watcher is None:
                responses.append(response)
                continue
            self._queued_events -= 1
            if watcher.prev_kv:
                response.events = [
                    Event(e.type, e.kv, self._store.prev_kv(e)) for e in response.events
                ]
            if watcher.fragment:
                responses.extend(fragments(response, self._max_response_bytes))
            else:
                responses.append(response)
        self._store.count_delivered(responses)
        return responses

    def close(self) -> None:
        """Remove every watcher of the stream and drop what is queued."""
        for watcher in self._watchers.values():
            self._store.remove_watcher(watcher)
        self._watchers.clear()
        self._queue.clear()
        self._queued_events = 0
        self._closed = True
        self._store.forget_stream(self)

    # -- used by the WatchableStore -----------------------------------------------------------

    def offer(self, watcher: Watcher, response: WatchResponse) -> bool:
        """Queue a watcher's response unless `capacity` of them wait already; False if so."""
        if self._queued_events >= self._capacity:
            return False
        if response.events:
            watcher.idle = False
        self._queued_events += 1
        self._append(_Queued(response, watcher))
        return True

    def push(self, response: WatchResponse) -> None:
        """Queue a control response, whatever the queue holds."""
        self._append(_Queued(response))

    def drop(self, watcher: Watcher) -> None:
        """Forget a watcher the store has ended (its start revision was compacted)."""
        if self._watchers.get(watcher.id) is watcher:
            del self._watchers[watcher.id]

    def _append(self, queued: _Queued) -> None:
        was_empty = not self._queue
        self._queue.append(queued)
        if was_empty and self.on_ready is not None:
            self.on_ready()
