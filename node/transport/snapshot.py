"""Snapshot streaming: one MSG_SNAP over its own connection, its payload in CRC-32C'd chunks.

After the handshake the sender writes a frame with the message (its snapshot data left empty),
one frame per chunk (a cbor byte string), then a trailer `[total_bytes, crc32c]`; the receiver
reassembles the payload into the message's snapshot data, checks both, and answers with a
Verdict once the message has been delivered. The sender reads its payload a chunk at a time,
so a snapshot file or a stream of chunks is never held whole in the sender's memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from contextlib import aclosing
from dataclasses import replace

import crc32c
import trio

from node import failpoints
from node.raft.types import MalformedRecord, Message, MessageType
from node.transport.framing import FrameReader, bytes_frame_head, encode_frame

SnapshotPayload = bytes | os.PathLike | Iterable[bytes] | AsyncIterable[bytes]
"""A snapshot's payload: bytes, a file to read, or chunks produced one at a time."""

CRC_MISMATCH = "snap: crc mismatch"
WRONG_MESSAGE_TYPE = "wrong raft message type"


class SnapshotStreamError(Exception):
    """A snapshot stream that cannot be accepted: corrupt, cut short, oversized or stalled."""


def _split(piece: bytes | memoryview, chunk_size: int) -> Iterable[memoryview]:
    view = memoryview(piece)
    for start in range(0, len(view), chunk_size):
        yield view[start : start + chunk_size]


async def payload_chunks(
    payload: SnapshotPayload, chunk_size: int
) -> AsyncGenerator[memoryview, None]:
    """The payload as chunks of at most `chunk_size` bytes, read only as they are consumed."""
    if isinstance(payload, bytes | bytearray | memoryview):
        for chunk in _split(payload, chunk_size):
            yield chunk
    elif isinstance(payload, os.PathLike):
        async with await trio.open_file(payload, "rb") as file:
            while data := await file.read(chunk_size):
                yield memoryview(data)
    elif isinstance(payload, AsyncIterable):
        async for piece in payload:
            for chunk in _split(piece, chunk_size):
                yield chunk
    else:
        for piece in payload:
            for chunk in _split(piece, chunk_size):
                yield chunk


async def stream_snapshot(
    stream: trio.abc.SendStream,
    message: Message,
    payload: SnapshotPayload,
    *,
    chunk_size: int,
    write_timeout: float,
) -> int:
    """Write `message` and its payload in chunks, then the trailer; returns the payload size."""
    snapshot = message.snapshot
    header = message if snapshot is None else replace(message, snapshot=replace(snapshot, data=b""))
    crc = 0
    total = 0
    with trio.fail_after(write_timeout):
        await stream.send_all(encode_frame(header.to_wire()))
    async with aclosing(payload_chunks(payload, chunk_size)) as chunks:
        async for chunk in chunks:
            if not chunk:
                continue
            crc = crc32c.crc32c(chunk, value=crc)
            total += len(chunk)
            with trio.fail_after(write_timeout):
                await stream.send_all(bytes_frame_head(len(chunk)))
                await stream.send_all(chunk)
            failpoints.hit("sendSnapshotMidStream")
    with trio.fail_after(write_timeout):
        await stream.send_all(encode_frame([total, crc]))
    return total


async def receive_snapshot(
    reader: FrameReader, *, from_id: int, to_id: int, max_size: int, read_timeout: float
) -> Message:
    """Read one snapshot stream: the MSG_SNAP with its payload restored as snapshot data."""
    try:
        message = Message.from_wire(await _next_frame(reader, read_timeout))
    except MalformedRecord as exc:
        raise SnapshotStreamError(f"snapshot header is not a message: {exc}") from exc
    if message.type != MessageType.MSG_SNAP or message.snapshot is None:
        raise SnapshotStreamError(WRONG_MESSAGE_TYPE)
    if message.frm != from_id or message.to != to_id:
        raise SnapshotStreamError(
            f"snapshot from {message.frm:x} to {message.to:x} on a stream from {from_id:x} "
            f"to {to_id:x}"
        )
    chunks: list[bytes] = []
    crc = 0
    total = 0
    while True:
        value = await _next_frame(reader, read_timeout)
        if isinstance(value, bytes):
            total += len(value)
            if total > max_size:
                raise SnapshotStreamError(f"snapshot exceeds the {max_size} byte limit")
            crc = crc32c.crc32c(value, value=crc)
            chunks.append(value)
            failpoints.hit("receiveSnapshotMidStream")
        elif isinstance(value, list) and len(value) == 2:
            expected_total, expected_crc = value
            if expected_total != total:
                raise SnapshotStreamError(
                    f"snapshot has {total} bytes but its sender wrote {expected_total!r:.40}"
                )
            if expected_crc != crc:
                raise SnapshotStreamError(CRC_MISMATCH)
            message.snapshot.data = b"".join(chunks)
            return message
        else:
            raise SnapshotStreamError(f"unexpected frame in a snapshot stream: {value!r:.80}")


async def _next_frame(reader: FrameReader, read_timeout: float) -> object:
    try:
        with trio.fail_after(read_timeout):
            return await reader.read_frame()
    except trio.TooSlowError as exc:
        raise SnapshotStreamError(f"snapshot sender stalled for {read_timeout}s") from exc
    except EOFError as exc:
        raise SnapshotStreamError("snapshot stream ended before its trailer") from exc
