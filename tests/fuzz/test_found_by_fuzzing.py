"""One test per bug the fuzzers found, each stating its input, against a member process.

The member must answer each with an error (etcd's code and text where etcd has one) or as
etcd does, log no traceback, and go on serving (the autouse check of conftest.py)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import grpc
import pytest

from node.messages import native_protocol as protocol
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.fuzz.fuzzed_member import CALL_TIMEOUT_S
from tests.fuzz.test_native_door_fuzz import exchange


def test_request_bytes_that_do_not_parse_get_grpc_gos_internal_error(member):
    # b"\x00" is field number 0: no message parses it (grpcio answered UNKNOWN, "Unexpected
    # <class 'DecodeError'>", and logged a traceback)
    unary = member.channel.unary_unary("/etcdserverpb.Auth/AuthDisable")

    with pytest.raises(grpc.RpcError) as refused:
        unary(b"\x00", timeout=CALL_TIMEOUT_S)

    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert refused.value.details().startswith("grpc: error unmarshalling request: ")


def test_a_watch_request_with_none_of_create_cancel_progress_is_skipped_as_etcd_does(member):
    # WatchRequest() (no request_union) ended the stream with a traceback in the member's log
    def requests() -> Iterator[rpc_pb2.WatchRequest]:
        yield rpc_pb2.WatchRequest()
        yield rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"w"))

    stream = rpc_pb2_grpc.WatchStub(member.channel).Watch(requests(), timeout=CALL_TIMEOUT_S)
    first = next(stream)
    stream.cancel()

    assert first.created


def test_a_native_watch_with_a_malformed_body_gets_invalid_argument(member):
    # {"cancel_request": []} was refused inside the watch stream's nursery: the door got an
    # exception group, logged a traceback and answered UNKNOWN
    answers = exchange(member, protocol.encode_call(1, "Watch.Watch", {"cancel_request": []}), {1})

    assert answers == [
        protocol.Failure(
            1, "INVALID_ARGUMENT", "native: WatchRequest.cancel_request must be a map, not list"
        )
    ]


def test_hash_kv_at_a_negative_revision_answers_as_etcd(member):
    # {revision: -2} failed in the member with struct.error (native: UNKNOWN)
    answers = exchange(member, protocol.encode_call(1, "Maintenance.HashKV", {"revision": -2}), {1})

    assert [type(answer) for answer in answers] == [protocol.Message]
    assert answers[0].body["header"]["revision"] == member.revision()


def test_a_native_client_that_resets_while_replies_are_written_leaves_no_traceback(member):
    # found by the soak: the reply writer's BrokenResourceError (connection reset by peer)
    # left the connection's nursery as an exception group and was logged as a failure
    value = b"v" * (1 << 20)
    rpc_pb2_grpc.KVStub(member.channel).Put(
        rpc_pb2.PutRequest(key=b"big", value=value), timeout=CALL_TIMEOUT_S
    )
    calls = b"".join(protocol.encode_call(n, "KV.Range", {"key": b"big"}) for n in range(20))
    with socket.create_connection(member.native_address, timeout=CALL_TIMEOUT_S) as sock:
        sock.sendall(calls)
        sock.recv(1)  # the member is writing its replies
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # the autouse check then finds the member serving and its log free of tracebacks
