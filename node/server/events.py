"""The member's observability event bus, and its log as events and as JSON lines.

Publishing never waits: each subscriber has a bounded queue; when it is full the oldest
event is dropped and counted, so a slow console never slows the member down. Each subscriber
names the kinds it wants (node.messages.member_events); `wanted` and `tracing` say whether
anyone wants a kind, so a publisher (trace.py) can skip building an event nobody reads.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import trio

from node.messages.member_events import STATE_KINDS

DEFAULT_CAPACITY = 1024


@dataclass(slots=True)
class MemberEvent:
    """One observation of `kind` at wall-clock `time` and `monotonic` time (both seconds)."""

    kind: str
    time: float
    monotonic: float
    fields: dict[str, Any] = field(default_factory=dict)


class EventSubscription:
    """One subscriber's bounded queue; iterate it with `async for`."""

    def __init__(self, bus: EventBus, capacity: int, kinds: frozenset[str]) -> None:
        if capacity < 1:
            raise ValueError("an event subscription needs room for at least one event")
        self._bus = bus
        self.kinds = kinds
        """The event kinds this subscriber receives."""
        self._queue: deque[MemberEvent] = deque(maxlen=capacity)
        self._wakeup = trio.Event()
        self._closed = False
        self.dropped = 0
        """Events lost because this subscriber's queue was full."""

    def offer(self, event: MemberEvent) -> None:
        """Queue an event, dropping (and counting) the oldest when full."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._wakeup.set()

    def drain(self) -> list[MemberEvent]:
        """Every event queued now, oldest first, without waiting."""
        events = list(self._queue)
        self._queue.clear()
        return events

    async def receive(self) -> MemberEvent:
        """The next event; raises trio.EndOfChannel once closed and drained."""
        while not self._queue:
            if self._closed:
                raise trio.EndOfChannel
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        return self._queue.popleft()

    async def __aiter__(self) -> AsyncIterator[MemberEvent]:
        while True:
            try:
                yield await self.receive()
            except trio.EndOfChannel:
                return

    def close(self) -> None:
        """End the subscription (or every one, on the bus)."""
        self._closed = True
        self._bus.unsubscribe(self)
        self._wakeup.set()


class EventBus:
    """Fans each published event out to every subscription."""

    def __init__(self) -> None:
        self._subscriptions: set[EventSubscription] = set()
        self.wanted: frozenset[str] = frozenset()
        """Every kind some subscriber wants."""
        self.tracing = False
        """Whether some subscriber wants a kind beyond the state kinds (a trace kind)."""

    def subscribe(
        self, capacity: int = DEFAULT_CAPACITY, kinds: frozenset[str] = STATE_KINDS
    ) -> EventSubscription:
        """A new subscription to `kinds`, holding at most `capacity` events."""
        subscription = EventSubscription(self, capacity, kinds)
        self._subscriptions.add(subscription)
        self._update_wanted()
        return subscription

    def unsubscribe(self, subscription: EventSubscription) -> None:
        """Stop delivering to `subscription`."""
        self._subscriptions.discard(subscription)
        self._update_wanted()

    def _update_wanted(self) -> None:
        self.wanted = frozenset().union(*(s.kinds for s in self._subscriptions))
        self.tracing = not self.wanted <= STATE_KINDS

    def publish(self, kind: str, **fields: Any) -> None:
        """Deliver an event of `kind` to every subscription that wants it, without waiting."""
        if kind in self.wanted:
            self.emit(kind, fields)

    def emit(self, kind: str, fields: dict[str, Any]) -> None:
        """Deliver an event of `kind` with `fields` (the caller's dict, kept as it is)."""
        event = MemberEvent(kind, time.time(), time.monotonic(), fields)
        for subscription in self._subscriptions:
            if kind in subscription.kinds:
                subscription.offer(event)

    def close(self) -> None:
        """End the subscription (or every one, on the bus)."""
        for subscription in list(self._subscriptions):
            subscription.close()


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        line = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


class EventLogHandler(logging.Handler):
    """Publishes log records on the bus as `log` events."""

    def __init__(self, bus: EventBus, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._bus = bus

    def emit(self, record: logging.LogRecord) -> None:
        """Publish the record as a `log` event."""
        try:
            message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        self._bus.publish(
            "log", level=record.levelname.lower(), logger=record.name, message=message
        )
