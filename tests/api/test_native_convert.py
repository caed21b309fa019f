"""Wire bodies to the server's dataclasses and back, by etcd's proto field names."""

from __future__ import annotations

import pytest

from node.api.convert import InvalidBody, from_wire, snake_case, to_wire
from node.messages.cluster import MemberAddRequest
from node.messages.header import ResponseHeader
from node.messages.key_value import KeyValue
from node.messages.kv import (
    CompareResult,
    CompareTarget,
    PutRequest,
    RangeRequest,
    RangeResponse,
    SortOrder,
    TxnRequest,
)
from node.messages.lease import LeaseGrantRequest, LeaseTimeToLiveResponse


@pytest.mark.parametrize(
    ("proto", "python"),
    [
        ("ID", "id"),
        ("TTL", "ttl"),
        ("grantedTTL", "granted_ttl"),
        ("remaining_TTL", "remaining_ttl"),
        ("peerURLs", "peer_urls"),
        ("isLearner", "is_learner"),
        ("dbSizeInUse", "db_size_in_use"),
        ("raftAppliedIndex", "raft_applied_index"),
        ("range_end", "range_end"),
    ],
)
def test_proto_names_map_to_the_servers_snake_case(proto, python):
    assert snake_case(proto) == python


def test_a_body_with_proto_names_becomes_the_request_dataclass():
    request = from_wire(MemberAddRequest, {"peerURLs": ["http://a:1"], "isLearner": True})
    assert request == MemberAddRequest(peer_urls=["http://a:1"], is_learner=True)


def test_nested_txn_bodies_decode_with_their_enums():
    body = {
        "compare": [{"result": 3, "target": 3, "key": b"k", "value": b"v"}],
        "success": [{"request_put": {"key": b"k", "value": b"w"}}],
        "failure": [{"request_range": {"key": b"k", "sort_order": 2}}],
    }
    txn = from_wire(TxnRequest, body)
    assert txn.compare[0].result is CompareResult.NOT_EQUAL
    assert txn.compare[0].target is CompareTarget.VALUE
    assert txn.success[0].request_put == PutRequest(key=b"k", value=b"w")
    assert txn.failure[0].request_range == RangeRequest(key=b"k", sort_order=SortOrder.DESCEND)


@pytest.mark.parametrize(
    ("request_type", "body", "complaint"),
    [
        (RangeRequest, {"key": "text"}, "RangeRequest.key must be bytes, not str"),
        (RangeRequest, {"key": b"k", "limit": "10"}, "RangeRequest.limit must be an integer"),
        (RangeRequest, {"key": b"k", "limit": True}, "RangeRequest.limit must be an integer"),
        (RangeRequest, {"key": b"k", "serializable": 1}, "serializable must be a boolean"),
        (RangeRequest, {"key": b"k", "sort_order": 9}, "sort_order must be one of"),
        (RangeRequest, {"key": b"k", "revision": 2**70}, "revision is out of range"),
        (RangeRequest, {"kee": b"k"}, "unknown field 'kee' in RangeRequest"),
        (TxnRequest, {"success": {}}, "TxnRequest.success must be a list"),
        (TxnRequest, {"success": [{"request_put": 5}]}, r"success\[0\].request_put must be a map"),
        (LeaseGrantRequest, {"ttl": 5}, "unknown field 'ttl'"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field(request_type, body, complaint):
    with pytest.raises(InvalidBody, match=complaint) as caught:
        from_wire(request_type, body)
    assert caught.value.code == "INVALID_ARGUMENT"


def test_replies_go_out_with_proto_names_and_plain_values():
    reply = LeaseTimeToLiveResponse(
        ResponseHeader(1, 2, 3, 4), id=7, ttl=5, granted_ttl=10, keys=[b"a"]
    )
    assert to_wire(reply) == {
        "header": {"cluster_id": 1, "member_id": 2, "revision": 3, "raft_term": 4},
        "ID": 7,
        "TTL": 5,
        "grantedTTL": 10,
        "keys": [b"a"],
    }
    kv = KeyValue(b"k", 2, 3, 1, b"v", 0)
    assert to_wire(RangeResponse([kv], False, 1, 3))["kvs"] == [
        {
            "key": b"k",
            "create_revision": 2,
            "mod_revision": 3,
            "version": 1,
            "value": b"v",
            "lease": 0,
        }
    ]
