"""Frames on a peer connection: a 4-byte big-endian length, then exactly one cbor2 value.

Writers build frames without re-encoding what is already encoded (a batch of encoded messages,
a snapshot chunk sent as is); the reader refuses any frame it cannot trust.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import Any

import cbor2
import trio

LENGTH = struct.Struct(">I")
_CBOR_BYTES = 2
_CBOR_ARRAY = 4


class FrameError(Exception):
    """A frame that cannot be trusted: a bad length, over the limit, cut short, or not cbor."""


def encode_frame(value: Any) -> bytes:
    """One frame holding `value` encoded as cbor2."""
    payload = cbor2.dumps(value)
    return LENGTH.pack(len(payload)) + payload


def encode_array_frame(encoded_items: Sequence[bytes]) -> bytes:
    """One frame holding a cbor array of items that are each already cbor-encoded."""
    head = io.BytesIO()
    cbor2.CBOREncoder(head).encode_length(_CBOR_ARRAY, len(encoded_items))
    length = len(head.getvalue()) + sum(len(item) for item in encoded_items)
    return b"".join((LENGTH.pack(length), head.getvalue(), *encoded_items))


def bytes_frame_head(length: int) -> bytes:
    """The frame prefix for a cbor byte string of `length` bytes; the bytes follow unencoded."""
    head = io.BytesIO()
    cbor2.CBOREncoder(head).encode_length(_CBOR_BYTES, length)
    return LENGTH.pack(len(head.getvalue()) + length) + head.getvalue()


def decode_payload(payload: bytes) -> Any:
    """The single cbor value a frame payload holds; trailing bytes make it malformed."""
    buffer = io.BytesIO(payload)
    try:
        value = cbor2.CBORDecoder(buffer).decode()
    except Exception as exc:
        raise FrameError(f"frame is not valid cbor: {exc}") from exc
    if buffer.tell() != len(payload):
        raise FrameError(f"frame has {len(payload) - buffer.tell()} bytes after its cbor value")
    return value


class FrameReader:
    """Reads whole frames from a stream, keeping count of the bytes it consumed."""

    __slots__ = ("_buffer", "_max_frame_size", "_stream", "bytes_received")

    def __init__(self, stream: trio.abc.ReceiveStream, max_frame_size: int) -> None:
        self._stream = stream
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        self.bytes_received = 0

    async def read_frame(self) -> Any:
        """The next frame's value; EOFError when the peer closed cleanly between frames."""
        if not await self._fill(LENGTH.size):
            if self._buffer:
                raise FrameError("connection closed inside a frame's length prefix")
            raise EOFError
        (length,) = LENGTH.unpack_from(self._buffer)
        if length == 0:
            raise FrameError("frame length is zero")
        if length > self._max_frame_size:
            raise FrameError(f"frame of {length} bytes exceeds the {self._max_frame_size} limit")
        if not await self._fill(LENGTH.size + length):
            raise FrameError("connection closed inside a frame")
        payload = bytes(self._buffer[LENGTH.size : LENGTH.size + length])
        del self._buffer[: LENGTH.size + length]
        self.bytes_received += LENGTH.size + length
        return decode_payload(payload)

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            data = await self._stream.receive_some(max(65536, size - len(self._buffer)))
            if not data:
                return False
            self._buffer += data
        return True
