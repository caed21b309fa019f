"""Hostile input on the peer port (node/transport): random bytes, handshakes that are not
hellos, strangers with the wrong cluster id, a known peer's handshake followed by garbage
frames, snapshots or requests, and peer API requests with random methods and bodies.

Every connection is refused with etcd rafthttp's reason, answered, or closed; nothing is
written to the key space, and after each batch the member (one of a quorum of two, the third
member configured but never started, so a case can speak as it) serves a well-behaved client.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.transport.protocol import CLUSTER_ID_MISMATCH, Hello, StreamKind
from tests.fuzz.fuzzed_member import (
    CALL_TIMEOUT_S,
    CASES,
    FuzzedMember,
    fuzz_settings,
    fuzzed_member,
)
from tests.fuzz.test_native_door_fuzz import cbor_values

PEER_METHODS = ["members", "lease_renew", "lease_ttl", "member_promote", "hand_off_leadership"]


def frame(value: Any) -> bytes:
    payload = cbor2.dumps(value)
    return struct.pack(">I", len(payload)) + payload


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedMember]:
    with fuzzed_member(tmp_path_factory.mktemp("peer"), size=3, started=2) as started:
        yield started


@pytest.fixture(scope="module")
def absent_peer(member: FuzzedMember) -> int:
    """The id of the member that never started: a peer the attacked member knows."""
    listed = rpc_pb2_grpc.ClusterStub(member.channel).MemberList(
        rpc_pb2.MemberListRequest(), timeout=CALL_TIMEOUT_S
    )
    return next(m.ID for m in listed.members if not m.clientURLs)


def converse(member: FuzzedMember, data: bytes) -> list[Any]:
    """Send `data`, end the input, and read the member's frames until it closes (it must,
    within CALL_TIMEOUT_S)."""
    received = b""
    with socket.create_connection(member.peer_address, timeout=CALL_TIMEOUT_S) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    frames = []
    while len(received) >= 4:
        (length,) = struct.unpack_from(">I", received)
        if len(received) < 4 + length:
            break
        frames.append(cbor2.loads(received[4 : 4 + length]))
        received = received[4 + length :]
    return frames


def check(member: FuzzedMember, data: bytes) -> list[Any]:
    CASES["peer"] += 1
    before = member.revision()
    frames = converse(member, data)
    assert member.revision() == before
    return frames


@fuzz_settings(20)
@given(data=st.binary(max_size=300))
def test_random_bytes_are_refused_or_the_connection_closed(member, data):
    check(member, data)


@fuzz_settings(20)
@given(hello=cbor_values, cut=st.integers(0, 20))
def test_handshakes_that_are_not_hellos_are_refused(member, hello, cut):
    data = frame(hello)
    check(member, data[: len(data) - cut] if cut < len(data) else data)


@fuzz_settings(15)
@given(cluster_id=st.integers(0, 2**64 - 1), kind=st.sampled_from(list(StreamKind)))
def test_a_stranger_with_another_cluster_id_is_refused_with_rafthttps_reason(
    member, absent_peer, cluster_id, kind
):
    if cluster_id == member.cluster_id:
        cluster_id += 1
    hello = Hello(cluster_id, absent_peer, member.member_id, kind).to_wire()
    frames = check(member, frame(hello))
    if kind != StreamKind.REQUEST:  # requests' handshakes are not checked (a joiner's)
        assert frames == [[False, CLUSTER_ID_MISMATCH]]


@fuzz_settings(30)
@given(
    kind=st.sampled_from([StreamKind.MESSAGES, StreamKind.SNAPSHOT]),
    payload=st.one_of(
        st.binary(max_size=300),
        st.lists(cbor_values, max_size=3).map(lambda values: b"".join(map(frame, values))),
    ),
)
def test_a_known_peer_sending_garbage_after_its_handshake_is_cut_off(
    member, absent_peer, kind, payload
):
    hello = Hello(member.cluster_id, absent_peer, member.member_id, kind).to_wire()
    frames = check(member, frame(hello) + payload)
    assert frames[:1] == [[True, ""]]


@fuzz_settings(30)
@given(
    method=st.one_of(st.sampled_from(PEER_METHODS), st.text(max_size=20), cbor_values),
    body=st.one_of(st.dictionaries(st.text(max_size=12), cbor_values, max_size=4), cbor_values),
    right_cluster=st.booleans(),
)
def test_peer_api_requests_with_random_methods_and_bodies_get_an_answer(
    member, method, body, right_cluster
):
    if right_cluster and isinstance(body, dict):
        body["cluster_id"] = member.cluster_id
    hello = Hello(0, 0, 0, StreamKind.REQUEST).to_wire()
    frames = check(member, frame(hello) + frame([method, body]))
    assert frames[0] == [True, ""]
    assert len(frames) == 2 and isinstance(frames[1], dict), frames
    answer = frames[1]
    assert "ok" in answer or (
        isinstance(answer.get("error"), list) and len(answer["error"]) == 2 and answer["error"][1]
    ), answer
