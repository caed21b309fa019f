"""Peers that are down, silent or slow: reconnecting, and never holding up anyone else."""

import pytest
import trio
import trio.testing

from node.transport import TransportConfig
from node.transport.framing import FrameReader, encode_frame
from node.transport.protocol import Hello, Verdict
from tests.transport.harness import FAST, app, heartbeat, running, start_member


async def test_a_peer_that_comes_up_later_gets_later_messages(nursery):
    with trio.fail_after(5):
        a, _ = await start_member(nursery, 1)
        b, b_scope = await start_member(nursery, 2)
        port = b.transport.port
        b.transport.add_peer(1, a.address)
        a.transport.add_peer(2, b.address)
        await a.until(lambda: a.active.get(2))
        b_scope.cancel()

        await a.until(lambda: a.active.get(2) is False and 2 in a.unreachable)
        a.transport.send([heartbeat(1, 2, 1)])
        await a.until(lambda: a.peer_stats(2)["dropped"] == 1)
        assert a.peer_stats(2)["last_error"].startswith(f"dialing 127.0.0.1:{port} failed")

        b, _ = await start_member(nursery, 2, port=port)
        b.transport.add_peer(1, a.address)
        await a.until(lambda: a.active.get(2))
        a.transport.send([heartbeat(1, 2, 2), heartbeat(1, 2, 3)])

        await b.until(lambda: len(b.received) == 2)
        assert b.indexes_from(1) == [2, 3]


async def test_update_peer_redials_the_new_address(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, old_b):
            await a.until(lambda: a.active.get(2))
            new_b, _ = await start_member(nursery, 2)
            new_b.transport.add_peer(1, a.address)

            a.transport.update_peer(2, new_b.address)
            a.transport.send([heartbeat(1, 2, 5)])

            await new_b.until(lambda: new_b.received)
            assert new_b.indexes_from(1) == [5]
            assert old_b.received == []
            assert a.transitions == [(2, True), (2, False), (2, True)]
            assert a.peer_stats(2)["address"] == f"127.0.0.1:{new_b.transport.port}"


async def test_a_peer_that_never_answers_does_not_delay_other_peers(nursery):
    silent = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    silent_port = silent.socket.getsockname()[1]
    config = TransportConfig(dial_timeout=60)
    with trio.fail_after(5):
        async with running(nursery, 1, 3, config=config) as (a, c):
            a.transport.add_peer(2, ("127.0.0.1", silent_port))

            a.transport.send([heartbeat(1, 2, 1), heartbeat(1, 3, 1)])
            await c.until(lambda: c.received)

            assert c.indexes_from(1) == [1]
            assert a.active.get(2) is None
            assert 2 not in a.unreachable
            assert a.peer_stats(2)["messages_sent"] == 0
    await silent.aclose()


async def accept_then_never_read(task_status=trio.TASK_STATUS_IGNORED):
    """A fake peer that accepts the handshake, then never reads a byte."""
    held: list[trio.SocketStream] = []
    async with (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0] as listener:
        task_status.started(listener.socket.getsockname()[1])
        try:
            while True:
                stream = await listener.accept()
                held.append(stream)
                reader = FrameReader(stream, 1 << 20)
                Hello.from_wire(await reader.read_frame())
                await stream.send_all(encode_frame(Verdict(True).to_wire()))
        finally:
            for stream in held:
                await trio.aclose_forcefully(stream)


async def test_a_peer_that_stops_reading_does_not_delay_other_peers(nursery):
    """The stuck peer's queue overflows (dropped and reported) while others still get theirs."""
    stuck_port = await nursery.start(accept_then_never_read)
    config = TransportConfig(queue_size=4, write_timeout=60, backoff_initial=0.01)
    with trio.fail_after(10):
        async with running(nursery, 1, 3, config=config) as (a, c):
            a.transport.add_peer(2, ("127.0.0.1", stuck_port))
            await a.until(lambda: a.active.get(2))

            index = 0
            while a.peer_stats(2)["dropped"] == 0:
                index += 1
                a.transport.send([app(1, 2, index, payload=bytes(1 << 20))])
                await trio.testing.wait_all_tasks_blocked()
            assert 2 in a.unreachable
            a.transport.send([heartbeat(1, 3, 1)])

            await c.until(lambda: c.received)
            assert c.indexes_from(1) == [1]
            assert a.active.get(2) is True


async def test_removed_peer_gets_nothing_more_and_its_stream_is_closed(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2, config=FAST) as (a, b):
            a.transport.send([heartbeat(1, 2, 1)])
            await b.until(lambda: b.received)

            a.transport.remove_peer(2)
            a.transport.send([heartbeat(1, 2, 2)])
            b.transport.send([heartbeat(2, 1, 1)])

            await b.until(lambda: 1 in b.unreachable)
            assert b.indexes_from(1) == [1]
            assert a.received == []
            assert 2 not in a.transport.stats()["peers"]


async def test_cancelling_serve_closes_the_listener_and_every_connection(nursery):
    with trio.fail_after(5):
        a, a_scope = await start_member(nursery, 1)
        b, _ = await start_member(nursery, 2)
        a.transport.add_peer(2, b.address)
        b.transport.add_peer(1, a.address)
        await a.until(lambda: a.active.get(2))
        await b.until(lambda: b.active.get(1))
        port = a.transport.port

        a_scope.cancel()
        await a.stopped.wait()

        await b.until(lambda: b.active.get(1) is False)
        assert a.transport.stats()["port"] is None
        assert a.peer_stats(2)["active"] is False
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)
