"""etcd's gRPC gateway: the v3 API as JSON over HTTP/1.1 (`POST /v3/kv/range`, ...), as etcd
3.4 serves it on its client port (grpc-gateway v1 in front of its own gRPC server).

A request body is the method's request message in protobuf's JSON mapping (bytes in base64,
int64s as strings or numbers, unknown fields ignored); the answer is the response message with
the proto field names, int64s as strings, defaults left out. Streams (watch, lease keep-alive,
snapshot, election observe) take a sequence of JSON messages and answer one `{"result": ...}`
line per message. Errors are `{"error", "message", "code"}` with the HTTP status grpc-gateway
maps the gRPC code to. The service layer answers every call, as it does the gRPC door's.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import trio
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from node.api.grpc_door import GRPC_CODE_LABELS, GRPC_OVERHEAD_BYTES, MessageTooLarge
from node.api.http_door import NOSNIFF, TEXT_PLAIN, HttpRequest, HttpResponse, send_text
from node.api.service import Service
from node.messages import errors
from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.v3electionpb import v3election_pb2
from node.messages.gen.v3lockpb import v3lock_pb2
from node.messages.grpc_convert import Body, body_to_message, message_to_body

GATEWAY_PREFIXES = ("/v3/", "/v3beta/")
"""etcd 3.4 serves the gateway under /v3 and its older /v3beta name."""

_PATHS: dict[str, str] = {
    "kv/range": "KV.Range",
    "kv/put": "KV.Put",
    "kv/deleterange": "KV.DeleteRange",
    "kv/txn": "KV.Txn",
    "kv/compaction": "KV.Compact",
    "watch": "Watch.Watch",
    "lease/grant": "Lease.LeaseGrant",
    "kv/lease/revoke": "Lease.LeaseRevoke",
    "lease/revoke": "Lease.LeaseRevoke",
    "lease/keepalive": "Lease.LeaseKeepAlive",
    "kv/lease/timetolive": "Lease.LeaseTimeToLive",
    "lease/timetolive": "Lease.LeaseTimeToLive",
    "kv/lease/leases": "Lease.LeaseLeases",
    "lease/leases": "Lease.LeaseLeases",
    "cluster/member/add": "Cluster.MemberAdd",
    "cluster/member/remove": "Cluster.MemberRemove",
    "cluster/member/update": "Cluster.MemberUpdate",
    "cluster/member/list": "Cluster.MemberList",
    "cluster/member/promote": "Cluster.MemberPromote",
    "maintenance/alarm": "Maintenance.Alarm",
    "maintenance/status": "Maintenance.Status",
    "maintenance/defragment": "Maintenance.Defragment",
    "maintenance/hash": "Maintenance.Hash",
    "maintenance/snapshot": "Maintenance.Snapshot",
    "maintenance/transfer-leadership": "Maintenance.MoveLeader",
    "auth/enable": "Auth.AuthEnable",
    "auth/disable": "Auth.AuthDisable",
    "auth/authenticate": "Auth.Authenticate",
    "auth/user/add": "Auth.UserAdd",
    "auth/user/get": "Auth.UserGet",
    "auth/user/list": "Auth.UserList",
    "auth/user/delete": "Auth.UserDelete",
    "auth/user/changepw": "Auth.UserChangePassword",
    "auth/user/grant": "Auth.UserGrantRole",
    "auth/user/revoke": "Auth.UserRevokeRole",
    "auth/role/add": "Auth.RoleAdd",
    "auth/role/get": "Auth.RoleGet",
    "auth/role/list": "Auth.RoleList",
    "auth/role/delete": "Auth.RoleDelete",
    "auth/role/grant": "Auth.RoleGrantPermission",
    "auth/role/revoke": "Auth.RoleRevokePermission",
    "lock/lock": "Lock.Lock",
    "lock/unlock": "Lock.Unlock",
    "election/campaign": "Election.Campaign",
    "election/proclaim": "Election.Proclaim",
    "election/leader": "Election.Leader",
    "election/observe": "Election.Observe",
    "election/resign": "Election.Resign",
}
"""The gateway's paths (after the /v3/ prefix), from the google.api.http options of etcd 3.4's
rpc.proto, v3lock.proto and v3election.proto, to the method each calls."""

_SERVICES = {
    **{name: rpc_pb2.DESCRIPTOR.services_by_name[name] for name in
       ("KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth")},
    "Lock": v3lock_pb2.DESCRIPTOR.services_by_name["Lock"],
    "Election": v3election_pb2.DESCRIPTOR.services_by_name["Election"],
}  # fmt: skip

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
"""grpc-gateway v1's HTTPStatusFromCode."""

JSON_HEADERS = [
    ("Content-Type", "application/json"),
    ("Grpc-Metadata-Content-Type", "application/grpc"),
]
ERROR_TRAILER = [("Grpc-Trailer-Content-Type", "application/grpc")]
_BASE64 = re.compile(rb"[A-Za-z0-9+/=\-_]*")


class BadRequestBody(errors.EtcdError):
    """A body the gateway cannot read as the method's request (grpc-gateway: InvalidArgument)."""

    code = "INVALID_ARGUMENT"


@dataclass(slots=True, frozen=True)
class GatewayMethod:
    """One method behind a gateway path."""

    name: str
    """`Service.Method`, as the service layer names it."""
    request: type[Message]
    response: type[Message]
    client_streaming: bool
    server_streaming: bool

    @property
    def grpc_type(self) -> str:
        """go-grpc-prometheus's grpc_type label."""
        if self.client_streaming:
            return "bidi_stream" if self.server_streaming else "client_stream"
        return "server_stream" if self.server_streaming else "unary"


def _method(name: str) -> GatewayMethod:
    service, _, method = name.partition(".")
    descriptor: MethodDescriptor = _SERVICES[service].methods_by_name[method]
    return GatewayMethod(
        name,
        message_factory.GetMessageClass(descriptor.input_type),
        message_factory.GetMessageClass(descriptor.output_type),
        descriptor.client_streaming,
        descriptor.server_streaming,
    )


GATEWAY_METHODS: dict[str, GatewayMethod] = {path: _method(m) for path, m in _PATHS.items()}


GATEWAY_COMMON_NAME = (
    "CommonName of client sending a request against gateway will be ignored and not used as "
    "expected"
)
"""etcd 3.4's answer to a gateway request whose client certificate names a user."""


class JsonGateway:
    """The gateway's endpoint: every /v3/ and /v3beta/ path."""

    def __init__(self, service: Service, max_request_bytes: int) -> None:
        self.service = service
        self.max_message_bytes = max_request_bytes + GRPC_OVERHEAD_BYTES
        self._handled = service.server.metrics.grpc_handled

    def serves(self, path: str) -> bool:
        """Every path under the gateway's prefixes (unknown ones get its 404)."""
        return path.startswith(GATEWAY_PREFIXES)

    async def answer(self, request: HttpRequest, response: HttpResponse) -> None:
        """Decode, call the service layer, encode; etcd's texts for what cannot be routed."""
        if request.path.startswith("/v3/") and self.service.server.gateway_refuses(
            request.common_name
        ):
            await send_text(response, 400, GATEWAY_COMMON_NAME)
            return
        method = GATEWAY_METHODS.get(request.path.split("/", 2)[2])
        if method is None:
            await send_text(response, 404, "Not Found")
            return
        if request.method != "POST":
            await response.send(405, [TEXT_PLAIN, NOSNIFF], b"Method Not Allowed\n")
            return
        if method.client_streaming:
            await self._bidirectional(method, request, response)
            return
        try:
            body = self._decode(method, await request.body())
        except errors.EtcdError as error:
            # A body too large is refused by etcd's gRPC server (so with its trailer); one
            # that cannot be read, by grpc-gateway itself.
            await _send_error(response, error, trailer=isinstance(error, MessageTooLarge))
            return
        if method.server_streaming:
            await self._server_stream(method, body, request, response)
        else:
            await self._unary(method, body, response, _token(request))

    # -- requests -------------------------------------------------------------------------

    def _decode(self, method: GatewayMethod, data: bytes) -> Body:
        """The request body as a wire body, refused as grpc-gateway and etcd's gRPC server
        refuse it: bad JSON or base64 (InvalidArgument), too large (ResourceExhausted)."""
        if not data.strip():
            return {}
        try:
            document = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadRequestBody(_json_error_text(error)) from None
        return self._to_body(method, document)

    def _to_body(self, method: GatewayMethod, document: Any) -> Body:
        if not isinstance(document, dict):
            raise BadRequestBody(
                f"json: cannot unmarshal {_go_json_kind(document)} into Go value of type "
                "map[string]json.RawMessage"
            )
        _check_base64(document, method.request.DESCRIPTOR)
        message = method.request()
        try:
            json_format.ParseDict(document, message, ignore_unknown_fields=True)
        except json_format.ParseError as error:
            raise BadRequestBody(str(error)) from None
        size = message.ByteSize()
        if size > self.max_message_bytes:
            raise MessageTooLarge(size, self.max_message_bytes)
        return message_to_body(message)

    # -- unary ----------------------------------------------------------------------------

    async def _unary(
        self, method: GatewayMethod, body: Body, response: HttpResponse, token: str | None
    ) -> None:
        try:
            reply = await self.service.call(method.name, body, token)
        except errors.EtcdError as error:
            self._count(method, error.code)
            await _send_error(response, error, trailer=True)
            return
        self._count(method, "OK")
        await response.send(200, JSON_HEADERS, self._encode(method, reply))

    def _encode(self, method: GatewayMethod, reply: Body) -> bytes:
        message = body_to_message(method.response, reply)
        document = json_format.MessageToDict(message, preserving_proto_field_name=True)
        return json.dumps(document, separators=(",", ":")).encode()

    def _count(self, method: GatewayMethod, code: str) -> None:
        service, _, name = method.name.partition(".")
        full_name = _SERVICES[service].full_name
        self._handled.labels(method.grpc_type, full_name, name, GRPC_CODE_LABELS[code]).inc()

    # -- streams --------------------------------------------------------------------------

    async def _server_stream(
        self, method: GatewayMethod, body: Body, request: HttpRequest, response: HttpResponse
    ) -> None:
        """A stream answering one request; it ends early when the client goes away."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_when_closed, request, nursery.cancel_scope)
            await self._stream(method, body, None, response, _token(request))
            nursery.cancel_scope.cancel()

    async def _bidirectional(
        self, method: GatewayMethod, request: HttpRequest, response: HttpResponse
    ) -> None:
        """A stream fed by the body's JSON messages as they arrive; the answer streams back
        meanwhile. A body that ends closes the client's side only (a watch goes on)."""
        send_in, receive_in = trio.open_memory_channel[Body](16)
        refused: list[errors.EtcdError] = []

        async def read_body(everything: trio.CancelScope) -> None:
            async with send_in:
                try:
                    async for document in _json_documents(request.chunks()):
                        await send_in.send(self._to_body(method, document))
                except errors.EtcdError as error:
                    # As grpc-gateway: a message it cannot read ends the client's side of the
                    # stream (the answers go on); if it is the first, the call fails.
                    refused.append(error)
            await _cancel_when_closed(request, everything)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_body, nursery.cancel_scope)
            try:
                first = await receive_in.receive()
            except trio.EndOfChannel:
                first = None
            if first is None and refused:
                await _send_error(response, errors.EtcdError(refused[0].message), trailer=False)
            else:
                await self._stream(method, first, receive_in, response, _token(request))
            nursery.cancel_scope.cancel()

    async def _stream(
        self,
        method: GatewayMethod,
        first: Body | None,
        inbound: trio.MemoryReceiveChannel[Body] | None,
        response: HttpResponse,
        token: str | None,
    ) -> None:
        """Run the stream, writing each reply as a `{"result": ...}` line, and an error as
        grpc-gateway's `{"error": {...}}` line."""

        async def send(reply: Body) -> None:
            if not response.started:
                await response.start(200, JSON_HEADERS)
            await response.write(b'{"result":' + self._encode(method, reply) + b"}\n")

        error: errors.EtcdError | None = None
        try:
            if first is not None:
                await self.service.stream(method.name, first, inbound, send, token)
        except errors.EtcdError as exc:
            error = exc
        self._count(method, error.code if error is not None else "OK")
        if error is not None and not response.started:
            await _send_error(response, error, trailer=True)
            return
        if not response.started:
            await response.start(200, JSON_HEADERS)
        if error is not None:
            await response.write(_stream_error_line(error))
        await response.end()


async def _cancel_when_closed(request: HttpRequest, scope: trio.CancelScope) -> None:
    """Cancel `scope` once the client closes its connection (its request is all read)."""
    await request.wait_closed()
    scope.cancel()


async def _json_documents(chunks: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    """The JSON values of a body that holds one after another, each as soon as it is whole."""
    decoder = json.JSONDecoder()
    buffer = ""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        try:
            buffer += pending.decode()
            pending = b""
        except UnicodeDecodeError:
            continue  # a character split across chunks
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                document, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as error:
                if error.pos >= len(buffer) - 1 or "Unterminated" in error.msg:
                    break  # wait for the rest
                raise BadRequestBody(_json_error_text(error)) from None
            buffer = buffer[end:]
            yield document
    if buffer.strip() or pending:
        raise BadRequestBody("unexpected EOF")


# -- errors -------------------------------------------------------------------------------


def _grpc_code(error: errors.EtcdError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN)


async def _send_error(response: HttpResponse, error: errors.EtcdError, *, trailer: bool) -> None:
    """grpc-gateway v1's error body. A call the server refused (trailer=True) is answered
    chunked with the gRPC trailer, as etcd's gateway does; a body it could not decode, whole."""
    code = _grpc_code(error)
    body = json.dumps(
        {"error": error.message, "message": error.message, "code": code.value[0]},
        separators=(",", ":"),
    ).encode()
    status = _HTTP_STATUS.get(code, 500)
    if not trailer:
        await response.send(status, JSON_HEADERS[:1], body)
        return
    await response.start(status, [*JSON_HEADERS[:1], ("Trailer", "Grpc-Trailer-Content-Type")])
    await response.write(body)
    await response.end(ERROR_TRAILER)


def _stream_error_line(error: errors.EtcdError) -> bytes:
    """grpc-gateway v1's error in the middle of a streamed answer."""
    code = _grpc_code(error)
    status = _HTTP_STATUS.get(code, 500)
    document = {
        "error": {
            "grpc_code": code.value[0],
            "http_code": status,
            "message": error.message,
            "http_status": _REASONS.get(status, ""),
        }
    }
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 409: "Conflict", 412: "Precondition Failed",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def _json_error_text(error: ValueError) -> str:
    """A JSON syntax error in the words of Go's encoding/json where they are simple to match."""
    if isinstance(error, json.JSONDecodeError):
        if error.pos >= len(error.doc):
            return "unexpected EOF"
        return f"invalid character {_go_char(error.doc[error.pos])} {_json_context(error)}"
    return "invalid UTF-8 in the request body"


def _go_char(char: str) -> str:
    return "'\\''" if char == "'" else f"'{char}'"


def _json_context(error: json.JSONDecodeError) -> str:
    if "property name" in error.msg:
        return "looking for beginning of object key string"
    if "delimiter" in error.msg:
        return "after object key:value pair" if "','" in error.msg else "after object key"
    return "looking for beginning of value"


def _go_json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _check_base64(document: dict[str, Any], descriptor: Descriptor) -> None:
    """Refuse what Go's base64 refuses, with its text: protobuf's JSON parser would skip
    characters outside the alphabet and decode `!!!` as empty."""
    for field, value in _fields(document, descriptor):
        if field.type == FieldDescriptor.TYPE_BYTES:
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    _check_base64_text(text)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _check_base64(item, field.message_type)


def _fields(
    document: dict[str, Any], descriptor: Descriptor
) -> Iterator[tuple[FieldDescriptor, Any]]:
    for name, value in document.items():
        field = descriptor.fields_by_name.get(name) or _by_json_name(descriptor, name)
        if field is not None and value is not None:
            yield field, value


def _by_json_name(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    for field in descriptor.fields:
        if field.json_name == name:
            return field
    return None


def _check_base64_text(text: str) -> None:
    data = text.encode("utf-8", "replace")
    match = _BASE64.match(data)
    bad = match.end() if match else 0
    if bad == len(data):
        try:
            if b"-" in data or b"_" in data:
                base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
            else:
                base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
            return
        except (binascii.Error, ValueError):
            bad = len(data.rstrip(b"=")) // 4 * 4
    raise BadRequestBody(f"illegal base64 data at input byte {bad}")


def _token(request: HttpRequest) -> str | None:
    """The request's auth token: grpc-gateway hands the Authorization header on as metadata,
    which etcd takes as the token."""
    return request.headers.get("authorization") or request.headers.get("token")
