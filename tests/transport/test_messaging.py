"""Messages between running members: delivery, order per link, batching, frame limits."""

import trio

from node.transport import TransportConfig
from tests.transport.harness import app, heartbeat, running


async def test_messages_flow_both_ways_in_order(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            for index in range(1, 51):
                a.transport.send([app(1, 2, index)])
                b.transport.send([heartbeat(2, 1, index)])
                if index % 10 == 0:
                    await trio.lowlevel.checkpoint()

            await b.until(lambda: len(b.received) == 50)
            await a.until(lambda: len(a.received) == 50)
            assert b.indexes_from(1) == list(range(1, 51))
            assert a.indexes_from(2) == list(range(1, 51))
            assert b.received[0].entries[0].data == b"x"


async def test_many_sends_are_batched_into_one_frame(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            await a.until(lambda: a.active.get(2))

            for index in range(100):
                a.transport.send([heartbeat(1, 2, index)])
            await b.until(lambda: len(b.received) == 100)
            await a.until(lambda: a.peer_stats(2)["messages_sent"] == 100)

            assert b.indexes_from(1) == list(range(100))
            sent, received = a.peer_stats(2), b.peer_stats(1)
            assert sent["messages_sent"] == received["messages_received"] == 100
            assert sent["frames_sent"] == received["frames_received"] == 1
            assert sent["bytes_sent"] == received["bytes_received"] > 0


async def test_a_batch_over_the_frame_limit_is_split_and_an_oversized_message_dropped(nursery):
    config = TransportConfig(max_frame_size=64 * 1024, backoff_initial=0.01, backoff_max=0.05)
    with trio.fail_after(5):
        async with running(nursery, 1, 2, config=config) as (a, b):
            await a.until(lambda: a.active.get(2))

            a.transport.send([app(1, 2, i, payload=bytes(20_000)) for i in range(10)])
            a.transport.send([app(1, 2, 99, payload=bytes(100_000)), heartbeat(1, 2, 100)])
            await b.until(lambda: 100 in b.indexes_from(1))

            assert b.indexes_from(1) == [*range(10), 100]
            assert b.peer_stats(1)["frames_received"] >= 4
            stats = a.peer_stats(2)
            assert stats["dropped"] == 1
            assert "MSG_APP" in stats["last_error"] and "frame limit" in stats["last_error"]


async def test_messages_to_unknown_members_are_ignored(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            a.transport.send([heartbeat(1, 7, 1), heartbeat(1, 2, 2)])

            await b.until(lambda: b.received)
            assert b.indexes_from(1) == [2]
            assert set(a.transport.stats()["peers"]) == {2}
