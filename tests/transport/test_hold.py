"""Step mode's hold queue: held messages keep ids and wait per link until delivered, dropped
or released; the transport sends a delivered one as it would have sent it."""

import pytest
import trio

from node.transport import UnknownHeldMessage
from node.transport.hold import HoldQueue
from tests.transport.harness import app, heartbeat, running, snap


def test_held_messages_get_ids_in_the_order_sent_and_are_listed_oldest_first():
    queue = HoldQueue()
    queue.hold()
    first = queue.add(app(1, 2, 5))
    second = queue.add(app(1, 3, 5))
    third = queue.add(heartbeat(1, 2, 6))

    assert [first.id, second.id, third.id] == [1, 2, 3]
    assert [h.id for h in queue.held()] == [1, 2, 3]
    assert first.held_at <= second.held_at <= third.held_at


def test_take_by_id_in_the_order_asked_by_recipient_or_all_removes_only_what_it_returns():
    queue = HoldQueue()
    queue.hold()
    for index, to in ((1, 2), (2, 3), (3, 2), (4, 3)):
        queue.add(app(1, to, index))

    assert [h.id for h in queue.take([3, 1])] == [3, 1]
    assert [h.id for h in queue.held()] == [2, 4]
    assert [h.id for h in queue.take(to=3)] == [2, 4]
    assert queue.held() == []


def test_an_unknown_id_takes_nothing():
    queue = HoldQueue()
    queue.hold()
    queue.add(app(1, 2, 1))

    with pytest.raises(UnknownHeldMessage, match="no held message with id 7"):
        queue.take([1, 7])
    assert [h.id for h in queue.held()] == [1]


def test_an_id_for_another_recipient_is_unknown_when_taking_by_recipient():
    queue = HoldQueue()
    queue.hold()
    queue.add(app(1, 2, 1))

    with pytest.raises(UnknownHeldMessage):
        queue.take([1], to=3)


def test_release_stops_holding_and_returns_everything_held():
    queue = HoldQueue()
    queue.hold()
    queue.add(app(1, 2, 1))
    queue.add(app(1, 3, 1))

    released = queue.release()

    assert not queue.holding
    assert [h.id for h in released] == [1, 2]
    assert queue.held() == []


def test_ids_go_on_counting_across_holds():
    queue = HoldQueue()
    queue.hold()
    queue.add(app(1, 2, 1))
    queue.release()
    queue.hold()

    assert queue.add(app(1, 2, 2)).id == 2


async def test_a_held_transport_sends_nothing_until_a_message_is_delivered(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2, 3) as (a, b, c):
            a.transport.hold()
            a.transport.send([app(1, 2, 1), app(1, 3, 1), app(1, 2, 2)])
            b.transport.send([heartbeat(2, 1, 1)])
            await a.until(lambda: a.received)
            assert b.received == [] and c.received == []
            assert [(h.id, h.message.to) for h in a.transport.held()] == [(1, 2), (2, 3), (3, 2)]

            delivered = a.transport.deliver([3])
            await b.until(lambda: b.received)

            assert [h.id for h in delivered] == [3]
            assert b.indexes_from(1) == [2]
            assert c.received == []
            assert [h.id for h in a.transport.held()] == [1, 2]


async def test_messages_delivered_in_another_order_arrive_in_that_order(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            a.transport.hold()
            a.transport.send([app(1, 2, 1), app(1, 2, 2), app(1, 2, 3)])

            a.transport.deliver([3, 1, 2])
            await b.until(lambda: len(b.received) == 3)

            assert b.indexes_from(1) == [3, 1, 2]


async def test_deliver_to_one_member_sends_only_its_messages_in_order(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2, 3) as (a, b, _c):
            a.transport.hold()
            a.transport.send([app(1, 2, 1), app(1, 3, 1), app(1, 2, 2)])

            a.transport.deliver(to=2)
            await b.until(lambda: len(b.received) == 2)

            assert b.indexes_from(1) == [1, 2]
            assert [h.message.to for h in a.transport.held()] == [3]


async def test_dropped_messages_never_arrive_and_a_dropped_snapshot_is_reported_failed(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            a.transport.hold()
            a.transport.send([app(1, 2, 1), snap(1, 2, b"state")])

            dropped = a.transport.drop()
            await a.until(lambda: a.snapshot_reports)
            a.transport.release()
            a.transport.send([app(1, 2, 9)])
            await b.until(lambda: b.received)

            assert len(dropped) == 2
            assert a.snapshot_reports == [(2, False)]
            assert b.indexes_from(1) == [9]
            assert b.snapshots == []


async def test_release_delivers_what_is_still_held_and_sends_at_once_after(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            a.transport.hold()
            a.transport.send([app(1, 2, 1), app(1, 2, 2)])
            a.transport.send_snapshot(snap(1, 2, index=50), b"backend")

            released = a.transport.release()
            a.transport.send([app(1, 2, 3)])
            await b.until(lambda: len(b.received) == 3 and b.snapshots)

            assert [h.id for h in released] == [1, 2, 3]
            assert not a.transport.holding
            assert b.indexes_from(1) == [1, 2, 3]
            assert b.snapshots[0].snapshot.data == b"backend"
            await a.until(lambda: a.snapshot_reports)
            assert a.snapshot_reports == [(2, True)]
