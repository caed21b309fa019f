"""Request connections on the peer port: answered by the owner's handler beside raft traffic."""

import pytest
import trio

from node.transport import RequestFailed, Transport, send_request
from node.transport.framing import FrameReader, encode_frame
from node.transport.protocol import Hello, StreamKind, Verdict
from node.transport.request import NO_REQUEST_HANDLER
from tests.transport.harness import CLUSTER, FAST, heartbeat, running, start_member


async def _ignore(messages):
    pass


async def _shout(request):
    return {"answer": request["say"].upper()}


async def _serve_answering(nursery: trio.Nursery, member_id: int) -> Transport:
    transport = Transport(
        member_id,
        CLUSTER,
        on_messages=_ignore,
        report_unreachable=lambda peer_id: None,
        report_snapshot=lambda peer_id, ok: None,
        on_request=_shout,
        config=FAST,
    )
    await nursery.start(transport.serve)
    return transport


async def test_a_request_from_a_dialer_the_member_does_not_know_is_answered(nursery):
    with trio.fail_after(5):
        transport = await _serve_answering(nursery, 1)

        answer = await send_request(("127.0.0.1", transport.port), {"say": "hi"})

        assert answer == {"answer": "HI"}
        assert transport.stats()["refused_connections"] == 0


async def test_requests_on_one_connection_are_answered_in_turn(nursery):
    with trio.fail_after(5):
        transport = await _serve_answering(nursery, 1)

        stream = await trio.open_tcp_stream("127.0.0.1", transport.port)
        async with stream:
            reader = FrameReader(stream, 1 << 20)
            await stream.send_all(encode_frame(Hello(0, 0, 0, StreamKind.REQUEST).to_wire()))
            verdict = Verdict.from_wire(await reader.read_frame())
            await stream.send_all(encode_frame({"say": "one"}) + encode_frame({"say": "two"}))
            answers = [await reader.read_frame(), await reader.read_frame()]

        assert verdict.accepted
        assert answers == [{"answer": "ONE"}, {"answer": "TWO"}]


async def test_raft_messages_still_flow_on_a_port_that_answers_requests(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            answering = await _serve_answering(nursery, 3)
            answer = await send_request(("127.0.0.1", answering.port), {"say": "x"})
            a.transport.send([heartbeat(1, 2, 7)])
            await b.until(lambda: b.received)

        assert answer == {"answer": "X"}
        assert b.indexes_from(1) == [7]


async def test_a_member_without_a_request_handler_refuses_request_connections(nursery):
    with trio.fail_after(5):
        member, _ = await start_member(nursery, 1)

        with pytest.raises(RequestFailed, match=NO_REQUEST_HANDLER):
            await send_request(member.address, {"say": "hi"})
        assert member.transport.stats()["last_refusal"] == NO_REQUEST_HANDLER


async def test_a_request_to_a_member_that_never_answers_ends_at_the_callers_deadline(nursery):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def accept_and_stay_silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    await nursery.start(trio.serve_listeners, accept_and_stay_silent, listeners)
    with trio.fail_after(5), pytest.raises(trio.TooSlowError), trio.fail_after(0.2):
        await send_request(("127.0.0.1", port), {"say": "hi"})
