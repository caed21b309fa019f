"""The native protocol's frames and envelopes, without a network."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.messages import native_protocol as protocol


def _payloads(data: bytes, max_frame_bytes: int = 1024) -> list[bytes | protocol.OversizeFrame]:
    return protocol.FrameDecoder(max_frame_bytes).feed(data)


def test_a_call_round_trips_through_a_frame():
    data = protocol.encode_call(7, "KV.Put", {"key": b"k", "value": b"v"})
    (payload,) = _payloads(data)
    assert protocol.decode_request(payload) == protocol.Call(
        7, "KV.Put", {"key": b"k", "value": b"v"}
    )


def test_a_call_carries_its_auth_token_in_the_envelope():
    data = protocol.encode_call(8, "KV.Range", {"key": b"k"}, token="abcdefghijklmnop.42")
    (payload,) = _payloads(data)

    assert protocol.decode_request(payload) == protocol.Call(
        8, "KV.Range", {"key": b"k"}, "abcdefghijklmnop.42"
    )


def test_a_token_that_is_not_text_breaks_the_protocol():
    payload = cbor2.dumps({"id": 4, "method": "KV.Range", "body": {}, "token": 5})

    with pytest.raises(protocol.ProtocolError, match="'token' must be a string"):
        protocol.decode_request(payload)


def test_stream_message_and_end_are_told_apart():
    decoder = protocol.FrameDecoder()
    frames = decoder.feed(protocol.encode_message(3, {"ID": 5}) + protocol.encode_end(3))
    assert [protocol.decode_request(p) for p in frames] == [
        protocol.Message(3, {"ID": 5}),
        protocol.End(3),
    ]


def test_member_replies_decode_as_message_failure_or_end():
    frames = _payloads(
        protocol.encode_message(1, {"header": {}})
        + protocol.encode_failure(2, "OUT_OF_RANGE", "etcdserver: mvcc: required revision")
        + protocol.encode_failure(None, "INVALID_ARGUMENT", "malformed frame")
        + protocol.encode_end(3)
    )
    assert [protocol.decode_response(p) for p in frames] == [
        protocol.Message(1, {"header": {}}),
        protocol.Failure(2, "OUT_OF_RANGE", "etcdserver: mvcc: required revision"),
        protocol.Failure(None, "INVALID_ARGUMENT", "malformed frame"),
        protocol.End(3),
    ]


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20))
def test_frames_split_anywhere_come_out_whole_and_in_order(cuts):
    envelopes = [protocol.encode_message(i, {"blob": bytes(i * 13)}) for i in range(1, 9)]
    data = b"".join(envelopes)
    decoder = protocol.FrameDecoder()
    out, position = [], 0
    for cut in cuts:
        out += decoder.feed(data[position : position + cut])
        position += cut
    out += decoder.feed(data[position:])
    assert [protocol.decode_request(p).id for p in out] == list(range(1, 9))


def test_oversize_frame_is_reported_by_id_and_skipped_then_reading_goes_on():
    big = protocol.encode_call(9, "KV.Put", {"key": b"k", "value": bytes(5000)})
    small = protocol.encode_call(10, "KV.Range", {"key": b"k"})
    decoder = protocol.FrameDecoder(max_frame_bytes=1024)
    first = decoder.feed(big[:100])
    assert first == [protocol.OversizeFrame(len(big) - 4, 9)]
    rest = decoder.feed(big[100:] + small)
    assert [protocol.decode_request(p).id for p in rest] == [10]


def test_huge_length_prefix_costs_no_memory():
    decoder = protocol.FrameDecoder(max_frame_bytes=1024)
    out = decoder.feed(b"\xff\xff\xff\xf0" + b"garbage")
    assert out == [protocol.OversizeFrame(0xFFFFFFF0, None)]
    assert decoder.feed(bytes(10_000)) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\x00", "not valid cbor"),
        (b"", "not valid cbor"),
        (cbor2.dumps([1, 2]), "expected a map"),
        (cbor2.dumps({"method": "KV.Put"}), "'id' must be an integer"),
        (cbor2.dumps({"id": "seven", "method": "KV.Put"}), "'id' must be an integer"),
        (cbor2.dumps({"id": 4, "method": 12, "body": {}}), "'method' must be a string"),
        (cbor2.dumps({"id": 4, "method": "KV.Put", "body": [1]}), "'body' must be a map"),
        (cbor2.dumps({"id": 4}), "expected 'method', 'body' or 'end'"),
    ],
)
def test_malformed_requests_say_what_is_wrong(payload, reason):
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode_request(payload)


def test_a_malformed_request_with_a_readable_id_keeps_it():
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.decode_request(cbor2.dumps({"id": 4, "method": 12}))
    assert caught.value.request_id == 4
