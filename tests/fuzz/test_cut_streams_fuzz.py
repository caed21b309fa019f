"""Streams that stop half way: watch and keep-alive streams on the gRPC and native doors,
cut off before their first answer, after it while events flow, or in the middle of a frame,
by a close or a reset.

The member must notice, write nothing of its own (the revision moves by the case's puts and
nothing else), log no traceback, and after the batch still deliver a put to a new watch.
"""

from __future__ import annotations

import socket
import struct

import grpc
from hypothesis import given
from hypothesis import strategies as st

from node.messages import native_protocol as protocol
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.fuzz.fuzzed_member import (
    CALL_TIMEOUT_S,
    CASES,
    FuzzedMember,
    fuzz_settings,
)

KEY = b"cut-stream"


def put(member: FuzzedMember, count: int) -> None:
    kv = rpc_pb2_grpc.KVStub(member.channel)
    for n in range(count):
        kv.Put(rpc_pb2.PutRequest(key=KEY, value=b"%d" % n), timeout=CALL_TIMEOUT_S)


def grant(member: FuzzedMember) -> int:
    lease = rpc_pb2_grpc.LeaseStub(member.channel)
    return lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60), timeout=CALL_TIMEOUT_S).ID


def cut_grpc(member: FuzzedMember, stream: str, lease: int, read_first: bool, puts: int) -> None:
    """Open the stream on a connection of its own, then close that connection under it."""
    channel = grpc.insecure_channel(member.process.endpoint)
    if stream == "watch":
        first = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=KEY))
        answers = rpc_pb2_grpc.WatchStub(channel).Watch(iter([first]), timeout=CALL_TIMEOUT_S)
    else:
        first_renew = rpc_pb2.LeaseKeepAliveRequest(ID=lease)
        answers = rpc_pb2_grpc.LeaseStub(channel).LeaseKeepAlive(
            iter([first_renew]), timeout=CALL_TIMEOUT_S
        )
    if read_first:
        next(answers)
    put(member, puts)
    channel.close()


def cut_native(
    member: FuzzedMember, stream: str, lease: int, read_first: bool, puts: int, how: str
) -> None:
    """Open the stream on a raw connection, then end it: close, reset, or half a frame."""
    if stream == "watch":
        call = protocol.encode_call(1, "Watch.Watch", {"create_request": {"key": KEY}})
    else:
        call = protocol.encode_call(1, "Lease.LeaseKeepAlive", {"ID": lease})
    with socket.create_connection(member.native_address, timeout=CALL_TIMEOUT_S) as sock:
        sock.sendall(call)
        if read_first:
            decoder = protocol.FrameDecoder()
            while not decoder.feed(chunk := sock.recv(65536)):
                assert chunk, "the member closed the stream before its first answer"
        put(member, puts)
        if how == "half a frame":
            sock.sendall(protocol.encode_message(1, {"progress_request": {}})[:7])
        elif how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@fuzz_settings(20)
@given(
    door=st.sampled_from(["grpc", "native"]),
    stream=st.sampled_from(["watch", "keep-alive"]),
    read_first=st.booleans(),
    puts=st.integers(0, 3),
    how=st.sampled_from(["close", "reset", "half a frame"]),
)
def test_streams_cut_off_half_way_leave_the_member_serving(
    member, door, stream, read_first, puts, how
):
    CASES["cut streams"] += 1
    lease = grant(member) if stream == "keep-alive" else 0
    before = member.revision()
    if door == "grpc":
        cut_grpc(member, stream, lease, read_first, puts)
    else:
        cut_native(member, stream, lease, read_first, puts, how)
    assert member.revision() == before + puts
    member.revoke_every_lease()


def test_a_new_watch_gets_a_put_after_the_cut_streams(member):
    first = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=KEY))
    answers = rpc_pb2_grpc.WatchStub(member.channel).Watch(iter([first]), timeout=CALL_TIMEOUT_S)
    assert next(answers).created
    put(member, 1)
    events = next(answers).events
    answers.cancel()
    assert [(event.kv.key, event.kv.value) for event in events] == [(KEY, b"0")]
