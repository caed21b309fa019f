"""Hostile input on the client port's HTTP side (node/api/client_port.py, http_door.py,
json_gateway.py): random JSON and non-JSON bodies on every gateway path, raw bytes that are
neither HTTP/1.1 nor HTTP/2, and an HTTP/2 preface followed by garbage (spliced to gRPC).

Every request is answered with a status and, from the gateway, grpc-gateway's JSON (a
result, or `{error, message, code}`), or the connection is closed; a refused request moves no
revision, and after each batch the member serves a well-behaved client.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from node.api.json_gateway import GATEWAY_METHODS
from tests.fuzz.fuzzed_member import (
    CALL_TIMEOUT_S,
    CASES,
    FuzzedMember,
    changes_the_cluster,
    fuzz_settings,
)
from tests.fuzz.test_grpc_door_fuzz import METHODS, WAITING, WRITES

STREAM_READ_S = 0.3
"""How long a case reads a streamed answer (a watch, a keep-alive) before it hangs up."""
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def documents(draw: st.DrawFn, method: str) -> Any:
    """A JSON document for `method`: its fields (by proto and JSON names) with values of any
    type, or any JSON value at all."""
    descriptor = METHODS[method].input_type
    names = [f.name for f in descriptor.fields] + [f.json_name for f in descriptor.fields]
    fields = st.dictionaries(st.sampled_from(names), json_values, max_size=4) if names else None
    return draw(fields if fields is not None and draw(st.booleans()) else json_values)


def post(member: FuzzedMember, path: str, body: bytes, streams: bool) -> tuple[int, bytes]:
    """POST `body` to `path`; a streamed answer is read for STREAM_READ_S only."""
    host, port = member.client_address
    timeout = STREAM_READ_S if streams else CALL_TIMEOUT_S
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        try:
            data = response.read()
        except TimeoutError:
            assert streams, f"{path}: the answer did not end within {timeout}s"
            data = b""
        return response.status, data
    finally:
        connection.close()


def check_answer(status: int, data: bytes, streams: bool) -> None:
    if status == 200 or (streams and not data):
        return
    error = json.loads(data)
    assert set(error) == {"error", "message", "code"} and error["message"], (status, data)


def run_case(member: FuzzedMember, path: str, body: bytes, fields: Any) -> None:
    method = GATEWAY_METHODS[path].name
    assume(not changes_the_cluster(method, fields, member.member_id))
    descriptor = METHODS[method]
    streams = descriptor.client_streaming or descriptor.server_streaming or method in WAITING
    CASES["gateway"] += 1
    before = member.revision()
    try:
        status, data = post(member, "/v3/" + path, body, streams)
    except TimeoutError:
        assert streams, f"{path}: no answer within {CALL_TIMEOUT_S}s"
        status, data = 200, b""
    check_answer(status, data, streams)
    if method not in WAITING:
        moved = 1 if method in WRITES and status == 200 else 0
        assert 0 <= member.revision() - before <= moved, (path, status, data)
    member.revoke_every_lease()


@fuzz_settings(50)
@given(data=st.data())
def test_gateway_paths_answer_random_json_with_a_result_or_grpc_gateways_error(member, data):
    path = data.draw(st.sampled_from(sorted(GATEWAY_METHODS)), label="path")
    document = data.draw(documents(GATEWAY_METHODS[path].name), label="document")
    run_case(member, path, json.dumps(document).encode(), document)


@fuzz_settings(25)
@given(data=st.data())
def test_gateway_paths_answer_bodies_that_are_not_json_with_an_error(member, data):
    path = data.draw(st.sampled_from(sorted(GATEWAY_METHODS)), label="path")
    body = data.draw(st.binary(max_size=100), label="body")
    run_case(member, path, body, None)


@fuzz_settings(25)
@given(data=st.binary(max_size=300), http2=st.booleans())
def test_raw_bytes_on_the_client_port_get_an_answer_or_a_closed_connection(member, data, http2):
    CASES["client port"] += 1
    before = member.revision()
    with socket.create_connection(member.client_address, timeout=CALL_TIMEOUT_S) as sock:
        sock.sendall((HTTP2_PREFACE if http2 else b"") + data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass  # until the member closes the connection: it must, within CALL_TIMEOUT_S
    assert member.revision() == before
