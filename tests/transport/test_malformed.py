"""Malformed input closes only the connection that carried it; the member keeps serving."""

import cbor2
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from node.transport.framing import LENGTH, FrameError, decode_payload, encode_frame
from tests.transport.harness import dial_raw, heartbeat, running, wait_closed_by_peer


def frame_of(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (frame_of(b"\xff\xfe garbage"), "not valid cbor"),
        (b"\xff\xff\xff\xff" + bytes(16), "exceeds"),
        (b"\x00\x00\x00\x00", "length is zero"),
        (encode_frame({"not": "a message"}), "not a list of messages"),
        (encode_frame([[3, 1, 2]]), "expected a list of 12 fields"),
        (encode_frame([heartbeat(3, 1, 1).to_wire()]), "on the stream from 4 to 1"),
        (frame_of(cbor2.dumps([heartbeat(4, 1, 1).to_wire()]) + b"\x00"), "after its cbor"),
    ],
    ids=[
        "garbage",
        "huge-length",
        "zero-length",
        "cbor-map",
        "short-message",
        "wrong-sender",
        "trailing-bytes",
    ],
)
async def test_a_malformed_frame_closes_that_connection_only(nursery, data, reason):
    with trio.fail_after(5):
        async with running(nursery, 1, 2, 3) as (a, b, c):
            b.transport.send([heartbeat(2, 1, 1)])
            await a.until(lambda: a.received)
            a.transport.add_peer(4, ("127.0.0.1", 1))
            forged, verdict = await dial_raw(a, 4)
            assert verdict.accepted

            await forged.send_all(data)
            await wait_closed_by_peer(forged)

            assert reason in a.peer_stats(4)["last_error"]
            b.transport.send([heartbeat(2, 1, 2)])
            c.transport.send([heartbeat(3, 1, 3)])
            await a.until(lambda: len(a.received) == 3)
            assert a.indexes_from(2) == [1, 2]
            assert a.indexes_from(3) == [3]


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n\r\n", encode_frame(["etcd-console-peer/0", 1, 2, 1, 0])],
    ids=["http", "old-protocol"],
)
async def test_a_connection_without_a_valid_handshake_is_refused(nursery, data):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            stream = await trio.open_tcp_stream(*a.address)
            await stream.send_all(data)
            await wait_closed_by_peer(stream)

            assert a.transport.stats()["refused_connections"] == 1
            b.transport.send([heartbeat(2, 1, 1)])
            await a.until(lambda: a.received)
            assert a.indexes_from(2) == [1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_frame_payload_decodes_or_fails_as_a_frame_error(payload):
    try:
        decode_payload(payload)
    except FrameError as exc:
        assert str(exc)
