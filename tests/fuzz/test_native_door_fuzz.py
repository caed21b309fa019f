"""Hostile input on the native door (node/api/native.py, node/messages/native_protocol.py):
random bytes, frames cut short, frames over the size limit, envelopes with random methods,
ids and tokens, and every method with bodies of etcd's field names holding values of any
type, on connections the client may drop at any point.

Every call whose id can be read gets one answer (a body or an error with a code and text),
garbage gets an error or a closed connection, a refused call moves no revision, and after
each batch the member serves a well-behaved client.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import cbor2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import assume, given
from hypothesis import strategies as st

from node.api.service import METHODS, MethodKind
from node.messages import native_protocol as protocol
from tests.fuzz.fuzzed_member import (
    CALL_TIMEOUT_S,
    CASES,
    FuzzedMember,
    changes_the_cluster,
    fuzz_settings,
)
from tests.fuzz.test_grpc_door_fuzz import METHODS as GRPC_METHODS
from tests.fuzz.test_grpc_door_fuzz import WAITING, WRITES

CODES = {
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
}  # fmt: skip
"""gRPC's status code names: what a native error's code is."""

cbor_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=20),
        st.binary(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _typed(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return bodies(field.message_type, depth + 1) if depth < 3 else st.just({})
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=20)
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=20)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    return st.integers(-(2**64), 2**64)


@st.composite
def bodies(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
    """A body of the message's field names, each value of its type or of any type at all."""
    body: dict[str, Any] = {}
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        value = _typed(field, depth)
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        body[field.name] = draw(st.one_of(value, cbor_values) if depth == 0 else value)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=10))] = draw(cbor_values)
    return body


def exchange(member: FuzzedMember, data: bytes, answered: set[int]) -> list[Any]:
    """Send `data` on a new connection and read the answers: until every id in `answered`
    has its answer or, with none to wait for, until the member closes the connection after
    the client's end of input (it must, within CALL_TIMEOUT_S)."""
    decoder = protocol.FrameDecoder(protocol.MAX_RECEIVE_BYTES)
    answers: list[Any] = []
    waiting = set(answered)
    closed = False
    with socket.create_connection(member.native_address, timeout=CALL_TIMEOUT_S) as sock:
        sock.sendall(data)
        if not answered:
            sock.shutdown(socket.SHUT_WR)
        while waiting or not (answered or closed):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            for payload in decoder.feed(chunk):
                assert isinstance(payload, bytes)
                answer = protocol.decode_response(payload)
                answers.append(answer)
                waiting.discard(answer.id)  # type: ignore[arg-type]
    assert not waiting, f"no answer to call(s) {sorted(waiting)}"
    return answers


def check_failures(answers: list[Any]) -> None:
    for answer in answers:
        if isinstance(answer, protocol.Failure):
            assert answer.code in CODES and answer.message, answer
            # the door's catch-all for an exception it did not expect
            assert not (answer.code == "UNKNOWN" and answer.message.startswith("native: ")), answer


def _unmoved(member: FuzzedMember, data: bytes) -> None:
    CASES["native"] += 1
    before = member.revision()
    check_failures(exchange(member, data, set()))
    assert member.revision() == before


@fuzz_settings(30)
@given(data=st.binary(max_size=300))
def test_random_bytes_get_errors_or_a_closed_connection(member, data):
    _unmoved(member, data)


@fuzz_settings(30)
@given(envelope=st.dictionaries(st.text(max_size=8), cbor_values, max_size=5), cut=st.data())
def test_frames_cut_short_or_over_the_limit_get_errors_or_a_closed_connection(
    member, envelope, cut
):
    payload = cbor2.dumps(envelope)
    kind = cut.draw(st.sampled_from(["cut", "oversize", "length only"]), label="kind")
    if kind == "cut":
        whole = protocol.LENGTH.pack(len(payload)) + payload
        data = whole[: cut.draw(st.integers(0, len(whole) - 1), label="cut at")]
    elif kind == "oversize":
        data = struct.pack(">I", protocol.DEFAULT_MAX_FRAME_BYTES + 1) + payload
    else:
        data = struct.pack(">I", cut.draw(st.integers(0, 2**32 - 1), label="length"))
    _unmoved(member, data)


@fuzz_settings(40)
@given(
    call_id=st.integers(0, 2**63),
    method=st.one_of(st.text(max_size=30), st.sampled_from(sorted(METHODS))),
    body=cbor_values,
    token=st.one_of(st.none(), st.text(max_size=10), st.just(""), cbor_values),
)
def test_envelopes_with_random_methods_bodies_and_tokens_are_answered_by_id(
    member, call_id, method, body, token
):
    assume(not changes_the_cluster(method, body, member.member_id))
    envelope = {"id": call_id, "method": method, "body": body}
    if token is not None:
        envelope["token"] = token
    kind = METHODS.get(method)
    unary = kind is MethodKind.UNARY and method not in WAITING
    CASES["native"] += 1
    before = member.revision()
    answers = exchange(member, protocol.frame(envelope), {call_id} if unary else set())
    check_failures(answers)
    if unary and method not in WRITES:
        assert member.revision() == before
    member.revoke_every_lease()


@fuzz_settings(80)
@given(data=st.data())
def test_every_method_answers_bodies_with_wrong_values_by_id(member, data):
    method = data.draw(st.sampled_from(sorted(m for m in METHODS if m in GRPC_METHODS)))
    body = data.draw(bodies(GRPC_METHODS[method].input_type), label="body")
    assume(not changes_the_cluster(method, body, member.member_id))
    unary = METHODS[method] is MethodKind.UNARY and method not in WAITING
    CASES["native"] += 1
    before = member.revision()
    answers = exchange(member, protocol.encode_call(1, method, body), {1} if unary else set())
    check_failures(answers)
    ended = [a for a in answers if a.id == 1 and not isinstance(a, protocol.Message)]
    refused = any(isinstance(a, protocol.Failure) for a in ended)
    if unary:
        moved = 0 if refused or method not in WRITES else 1
        assert 0 <= member.revision() - before <= moved, (method, answers)
    elif method not in WAITING:
        assert member.revision() == before
    member.revoke_every_lease()
