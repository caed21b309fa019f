"""Hostile requests on every method of etcd's v3 gRPC API (node/api/grpc_door.py): valid
messages with extreme field values, fields of the wrong wire type, random bytes.

Every case is answered with a response or an error with etcd's code and text (never grpcio's
`Unexpected <class ...>`: an exception the door did not expect), none hangs but the calls
that wait by design (Lock, Campaign, the streams), a refused request moves no revision, an
accepted write moves it by one at most, and after each batch the member serves a
well-behaved client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import assume, given
from hypothesis import strategies as st

from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.v3electionpb import v3election_pb2
from node.messages.gen.v3lockpb import v3lock_pb2
from tests.fuzz.fuzzed_member import (
    CALL_TIMEOUT_S,
    CASES,
    FuzzedMember,
    changes_the_cluster,
    fuzz_settings,
)
from tests.fuzz.proto_strategies import request_bytes

WAITING_S = 0.3
"""How long a case lets a call that waits by design (a lock, a stream) run before it ends it."""

_SERVICES = (
    *(rpc_pb2.DESCRIPTOR.services_by_name[name] for name in
      ("KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth")),
    v3lock_pb2.DESCRIPTOR.services_by_name["Lock"],
    v3election_pb2.DESCRIPTOR.services_by_name["Election"],
)  # fmt: skip
METHODS: dict[str, MethodDescriptor] = {
    f"{service.name}.{method.name}": method for service in _SERVICES for method in service.methods
}
WRITES = {
    "KV.Put", "KV.DeleteRange", "KV.Txn", "Lease.LeaseRevoke", "Lock.Unlock",
    "Election.Proclaim", "Election.Resign",
}  # fmt: skip
"""Methods whose success may move the revision (by one: one write transaction)."""
WAITING = {"Lock.Lock", "Election.Campaign"}
"""Unary methods that wait by design (for a lock or a leadership) and may write."""


@dataclass
class Outcome:
    """What a case got: its status code and details (OK for a reply or a stream's end)."""

    code: grpc.StatusCode
    details: str


def _path(name: str) -> str:
    method = METHODS[name]
    return f"/{method.containing_service.full_name}/{method.name}"


def fields(request: Message | None) -> dict[str, Any] | None:
    """A parsed request's fields by their proto names, enums as numbers."""
    if request is None:
        return None
    return json_format.MessageToDict(
        request, preserving_proto_field_name=True, use_integers_for_enums=True
    )


def _parses(name: str, data: bytes) -> Message | None:
    request_class = message_factory.GetMessageClass(METHODS[name].input_type)
    try:
        return request_class.FromString(data)
    except DecodeError:
        return None


def call(channel: grpc.Channel, name: str, requests: list[bytes]) -> Outcome:
    """Send `requests` (raw bytes) to `name`; a stream is read until it ends or WAITING_S."""
    method = METHODS[name]
    path = _path(name)
    waits = name in WAITING or method.server_streaming or method.client_streaming
    timeout = WAITING_S if waits else CALL_TIMEOUT_S
    try:
        if method.client_streaming:
            for _ in channel.stream_stream(path)(iter(requests), timeout=timeout):
                pass
        elif method.server_streaming:
            for _ in channel.unary_stream(path)(requests[0], timeout=timeout):
                pass
        else:
            channel.unary_unary(path)(requests[0], timeout=timeout)
    except grpc.RpcError as error:
        return Outcome(error.code(), error.details() or "")
    return Outcome(grpc.StatusCode.OK, "")


@pytest.fixture(scope="module")
def channel(member: FuzzedMember) -> grpc.Channel:
    return member.channel


def run_case(member: FuzzedMember, channel: grpc.Channel, name: str, requests: list[bytes]) -> None:
    parsed = [_parses(name, data) for data in requests]
    assume(
        not any(changes_the_cluster(name, fields(request), member.member_id) for request in parsed)
    )
    CASES["grpc"] += 1
    before = member.revision()
    outcome = call(channel, name, requests)
    after = member.revision()
    method = METHODS[name]
    waits = name in WAITING or method.server_streaming or method.client_streaming
    # grpcio's answer to an exception the door let through (etcd's own Unknowns, such as
    # `election: no leader`, carry etcd's text)
    assert not outcome.details.startswith("Unexpected"), (name, outcome)
    if outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        assert waits, f"{name} did not answer within {CALL_TIMEOUT_S}s"
    elif outcome.code == grpc.StatusCode.INTERNAL:
        # grpc-go refuses a request that does not unmarshal with Internal, as etcd does
        assert None in parsed, (name, outcome)
    elif outcome.code != grpc.StatusCode.OK:
        assert outcome.details, (name, outcome)
    if name not in WAITING:
        moved = 1 if name in WRITES and outcome.code == grpc.StatusCode.OK else 0
        assert 0 <= after - before <= moved, (name, outcome, before, after)
    member.revoke_every_lease()


@fuzz_settings(100)
@given(data=st.data())
def test_unary_methods_answer_hostile_requests_with_a_response_or_an_error(
    member: FuzzedMember, channel: grpc.Channel, data: st.DataObject
) -> None:
    unary = sorted(n for n, m in METHODS.items() if not (m.client_streaming or m.server_streaming))
    name = data.draw(st.sampled_from(unary), label="method")
    body = data.draw(request_bytes(METHODS[name].input_type), label="request")
    run_case(member, channel, name, [body])


@fuzz_settings(20)
@given(data=st.data())
def test_streams_answer_hostile_messages_with_responses_or_an_error(
    member: FuzzedMember, channel: grpc.Channel, data: st.DataObject
) -> None:
    streams = sorted(n for n, m in METHODS.items() if m.client_streaming or m.server_streaming)
    name = data.draw(st.sampled_from(streams), label="method")
    many = 3 if METHODS[name].client_streaming else 1
    body = st.lists(request_bytes(METHODS[name].input_type), min_size=1, max_size=many)
    run_case(member, channel, name, data.draw(body, label="requests"))
