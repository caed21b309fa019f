"""Protobuf messages <-> wire bodies: the fields set, by proto name, bytes as bytes, enums as
numbers, nested and repeated messages as bodies, one oneof member, defaults left out (or, for
the client, every field); etcd's gRPC methods by their native names."""

from __future__ import annotations

import pytest

from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.mvccpb import kv_pb2
from node.messages.grpc_convert import (
    BodyMismatch,
    body_to_message,
    message_to_body,
    message_to_full_body,
)
from node.messages.grpc_methods import grpc_methods


def test_a_request_becomes_the_fields_set_in_it():
    request = rpc_pb2.RangeRequest(key=b"a", range_end=b"c", limit=2, sort_order=2)

    assert message_to_body(request) == {
        "key": b"a", "range_end": b"c", "limit": 2, "sort_order": 2
    }  # fmt: skip


def test_a_txn_keeps_its_oneof_members_nested_messages_and_lists():
    txn = rpc_pb2.TxnRequest(
        compare=[rpc_pb2.Compare(key=b"k", target=rpc_pb2.Compare.VERSION, version=0)],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"k", value=b"v"))],
        failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"k"))],
    )

    assert message_to_body(txn) == {
        "compare": [{"key": b"k", "version": 0}],
        "success": [{"request_put": {"key": b"k", "value": b"v"}}],
        "failure": [{"request_range": {"key": b"k"}}],
    }


def test_an_empty_oneof_message_is_kept_as_an_empty_body():
    request = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())

    assert message_to_body(request) == {"progress_request": {}}


def test_a_reply_body_becomes_the_message_with_nested_and_repeated_fields():
    body = {
        "header": {"cluster_id": 2**64 - 1, "revision": 7},
        "kvs": [{"key": b"a", "value": b"1", "lease": 0}],
        "more": False,
        "count": 1,
    }

    reply = body_to_message(rpc_pb2.RangeResponse, body)

    assert reply == rpc_pb2.RangeResponse(
        header=rpc_pb2.ResponseHeader(cluster_id=2**64 - 1, revision=7),
        kvs=[kv_pb2.KeyValue(key=b"a", value=b"1")],
        count=1,
    )
    assert message_to_body(reply) == {
        "header": {"cluster_id": 2**64 - 1, "revision": 7},
        "kvs": [{"key": b"a", "value": b"1"}],
        "count": 1,
    }


def test_none_in_a_body_leaves_the_field_unset():
    reply = body_to_message(rpc_pb2.PutResponse, {"header": {"revision": 3}, "prev_kv": None})

    assert not reply.HasField("prev_kv")


@pytest.mark.parametrize(
    "body", [{"no_such_field": 1}, {"count": "three"}, {"kvs": [{"key": "not bytes"}]}]
)
def test_a_body_the_message_cannot_hold_is_refused_naming_the_message(body):
    with pytest.raises(BodyMismatch, match=r"^etcdserverpb\.RangeResponse: "):
        body_to_message(rpc_pb2.RangeResponse, body)


def test_a_full_body_has_every_field_as_the_native_door_sends_a_reply():
    reply = rpc_pb2.TxnResponse(
        header=rpc_pb2.ResponseHeader(revision=3),
        succeeded=True,
        responses=[rpc_pb2.ResponseOp(response_put=rpc_pb2.PutResponse())],
    )

    body = message_to_full_body(reply)

    assert body["succeeded"] is True
    assert body["header"] == {"cluster_id": 0, "member_id": 0, "revision": 3, "raft_term": 0}
    assert body["responses"] == [{"response_put": {"header": None, "prev_kv": None}}]


def test_every_etcd_method_is_known_by_its_native_name_with_its_messages():
    methods = grpc_methods()

    assert methods["KV.Range"].path == "/etcdserverpb.KV/Range"
    assert methods["KV.Range"].request is rpc_pb2.RangeRequest
    watch, observe, lock = methods["Watch.Watch"], methods["Election.Observe"], methods["Lock.Lock"]
    assert (watch.client_streaming, watch.server_streaming) == (True, True)
    assert (observe.client_streaming, observe.server_streaming) == (False, True)
    assert lock.path == "/v3lockpb.Lock/Lock"
    assert "Admin.RaftStatus" not in methods
