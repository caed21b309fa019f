"""The native client protocol's frames and envelopes, without any I/O.

A frame is a 4-byte big-endian length and one cbor2 map (the envelope). A client opens a
unary call or a stream with `{id, method, body}`, sends further stream messages as
`{id, body}` and ends a stream with `{id, end: true}`. The member answers `{id, body}` (the
reply of a call, or one message of a stream), `{id, error: {code, message}}` (the call or
stream failed and is over) or `{id, end: true}` (the stream is over). Ids are the client's
choice and multiplex many calls and streams on one connection. Both the trio door and the
anyio client feed received bytes to a FrameDecoder, so framing is written once.

Auth: a call or stream made by an authenticated user carries its token in the opening
envelope, `{id, method, body, token}`, as a gRPC call carries etcd's `token` metadata; the
token comes from `Auth.Authenticate` (a call like any other) and every member checks it as
its gRPC door does (an unknown or expired one: `etcdserver: invalid auth token`). Calls
without a token are made as nobody, which is everyone while auth is off.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import cbor2

NATIVE_PORT_OFFSET = 10_000
"""A member serves the native protocol this far above its client port unless started with
--listen-native-urls: how a client finds a member's native door from a MemberList."""

LENGTH = struct.Struct(">I")
DEFAULT_MAX_REQUEST_BYTES = 1_572_864
"""etcd's --max-request-bytes default (1.5 MiB)."""
ENVELOPE_ALLOWANCE = 512 * 1024
"""Room for the envelope around a request of the largest size, as etcd allows gRPC overhead."""
DEFAULT_MAX_FRAME_BYTES = DEFAULT_MAX_REQUEST_BYTES + ENVELOPE_ALLOWANCE
MAX_RECEIVE_BYTES = 2**31 - 1
"""Largest frame a client accepts (clientv3's default MaxCallRecvMsgSize)."""
PROTOCOL_ERROR_CODE = "INVALID_ARGUMENT"

_CBOR_MAP = 0xA0
_CBOR_MAJOR_MASK = 0xE0
_PEEK_BYTES = 32


class ProtocolError(Exception):
    """A frame that breaks the protocol; request_id is the offending call's id when readable."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@dataclass(slots=True)
class Call:
    """Client to member: start the unary call or stream `method` with its first message."""

    id: int
    method: str
    body: dict[str, Any]
    token: str | None = None


@dataclass(slots=True)
class Message:
    """One message for an open call or stream, in either direction (also a unary reply)."""

    id: int
    body: dict[str, Any]


@dataclass(slots=True)
class End:
    """The stream `id` is over: the client cancels it, or the member has finished it."""

    id: int


@dataclass(slots=True)
class Failure:
    """Member to client: the call or stream `id` failed with an etcd error code and text."""

    id: int | None
    code: str
    message: str


@dataclass(slots=True)
class OversizeFrame:
    """A frame longer than the reader's limit; its payload is skipped, not buffered."""

    length: int
    request_id: int | None


def frame(envelope: dict[str, Any]) -> bytes:
    """One frame holding `envelope`."""
    payload = cbor2.dumps(envelope)
    return LENGTH.pack(len(payload)) + payload


def encode_call(
    call_id: int, method: str, body: dict[str, Any], token: str | None = None
) -> bytes:
    """Client: open call or stream `call_id` of `method` with its first message, made with
    the auth `token` when given."""
    if token is None:
        return frame({"id": call_id, "method": method, "body": body})
    return frame({"id": call_id, "method": method, "body": body, "token": token})


def encode_message(call_id: int, body: dict[str, Any]) -> bytes:
    """Either side: one message of call or stream `call_id` (the member's reply, too)."""
    return frame({"id": call_id, "body": body})


def encode_end(call_id: int) -> bytes:
    """Either side: stream `call_id` is over (the client cancels, or the member finished)."""
    return frame({"id": call_id, "end": True})


def encode_failure(call_id: int | None, code: str, message: str) -> bytes:
    """Member: call or stream `call_id` failed (None: a frame whose id could not be read)."""
    return frame({"id": call_id, "error": {"code": code, "message": message}})


def _decode_map(payload: bytes) -> dict[Any, Any]:
    try:
        envelope = cbor2.loads(payload)
    except Exception as exc:
        raise ProtocolError(f"malformed frame: not valid cbor ({exc})") from None
    if not isinstance(envelope, dict):
        raise ProtocolError(f"malformed frame: expected a map, got {type(envelope).__name__}")
    return envelope


def _envelope_id(envelope: dict[Any, Any]) -> int:
    call_id = envelope.get("id")
    if type(call_id) is not int:
        raise ProtocolError("malformed frame: 'id' must be an integer")
    return call_id


def decode_request(payload: bytes) -> Call | Message | End:
    """A client's frame payload as an envelope; ProtocolError names what is wrong with it."""
    envelope = _decode_map(payload)
    call_id = _envelope_id(envelope)
    if envelope.get("end") is True:
        return End(call_id)
    body = envelope.get("body", {})
    if not isinstance(body, dict):
        raise ProtocolError("malformed frame: 'body' must be a map", call_id)
    if "method" in envelope:
        method = envelope["method"]
        if not isinstance(method, str):
            raise ProtocolError("malformed frame: 'method' must be a string", call_id)
        token = envelope.get("token")
        if token is not None and not isinstance(token, str):
            raise ProtocolError("malformed frame: 'token' must be a string", call_id)
        return Call(call_id, method, body, token)
    if "body" not in envelope:
        raise ProtocolError("malformed frame: expected 'method', 'body' or 'end'", call_id)
    return Message(call_id, body)


def decode_response(payload: bytes) -> Message | End | Failure:
    """A member's frame payload as an envelope (a Failure may have no id: a frame-level error)."""
    envelope = _decode_map(payload)
    error = envelope.get("error")
    if isinstance(error, dict):
        call_id = envelope.get("id")
        return Failure(
            call_id if type(call_id) is int else None,
            str(error.get("code", "UNKNOWN")),
            str(error.get("message", "")),
        )
    call_id = _envelope_id(envelope)
    if envelope.get("end") is True:
        return End(call_id)
    body = envelope.get("body")
    if not isinstance(body, dict):
        raise ProtocolError("malformed frame: 'body' must be a map", call_id)
    return Message(call_id, body)


def peek_request_id(head: bytes) -> int | None:
    """The id of an envelope from the first bytes of its payload, when they hold it.

    Envelopes are written with `id` as their first entry, so an oversize request can still
    be answered by id without reading the rest of it.
    """
    if not head or head[0] & _CBOR_MAJOR_MASK != _CBOR_MAP:
        return None
    decoder = cbor2.CBORDecoder(io.BytesIO(head[1:]))
    try:
        key = decoder.decode()
        value = decoder.decode()
    except Exception:
        return None
    return value if key == "id" and type(value) is int else None


class FrameDecoder:
    """Cuts a byte stream into frame payloads; frames over the limit come out as OversizeFrame.

    An oversize frame's payload is discarded as it arrives, so a huge length prefix costs no
    memory and the frames after it are read as usual.
    """

    __slots__ = ("_buffer", "_max_frame_bytes", "_skip")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame_bytes = max_frame_bytes
        self._skip = 0

    def feed(self, data: bytes) -> list[bytes | OversizeFrame]:
        """Add received bytes; return the payloads (and oversize notices) now complete."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buffer += data
        buffer = self._buffer
        out: list[bytes | OversizeFrame] = []
        position = 0
        while len(buffer) - position >= LENGTH.size:
            (length,) = LENGTH.unpack_from(buffer, position)
            start = position + LENGTH.size
            if length > self._max_frame_bytes:
                head = bytes(buffer[start : start + min(length, _PEEK_BYTES)])
                out.append(OversizeFrame(length, peek_request_id(head)))
                available = min(length, len(buffer) - start)
                self._skip = length - available
                position = start + available
                continue
            if len(buffer) - start < length:
                break
            out.append(bytes(buffer[start : start + length]))
            position = start + length
        del buffer[:position]
        return out
