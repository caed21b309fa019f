"""The observability bus never blocks: a full subscriber loses its oldest events, counted."""

from __future__ import annotations

import json
import logging

import trio

from node.server.events import EventBus, EventLogHandler, JsonLineFormatter


async def test_a_full_subscription_drops_the_oldest_events_and_counts_them():
    bus = EventBus()
    slow = bus.subscribe(capacity=3)
    for i in range(5):
        bus.publish("commit", commit=i)
    assert [e.fields["commit"] for e in slow.drain()] == [2, 3, 4]
    assert slow.dropped == 2


async def test_subscribers_receive_in_order_until_closed():
    bus = EventBus()
    subscription = bus.subscribe()
    received = []

    async def consume():
        async for event in subscription:
            received.append((event.kind, event.fields))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        bus.publish("role", role="leader")
        bus.publish("snapshot", index=5)
        await trio.testing.wait_all_tasks_blocked()
        subscription.close()
    assert received == [("role", {"role": "leader"}), ("snapshot", {"index": 5})]


def test_log_lines_become_events_and_json_lines():
    bus = EventBus()
    subscription = bus.subscribe()
    logger = logging.getLogger("tests.server.events")
    logger.setLevel(logging.INFO)
    handler = EventLogHandler(bus)
    logger.addHandler(handler)
    try:
        logger.warning("member %x: %s", 255, "hello")
    finally:
        logger.removeHandler(handler)
    (event,) = subscription.drain()
    assert event.fields == {
        "level": "warning", "logger": "tests.server.events", "message": "member ff: hello"
    }
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad %d", (7,), None)
    line = json.loads(JsonLineFormatter().format(record))
    assert (line["level"], line["logger"], line["msg"]) == ("error", "x", "bad 7")
