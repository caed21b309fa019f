"""One remote member as seen from here: its address, its counters and the tasks sending to it.

Messages wait in a bounded queue; one sender task per peer drains everything that is due into
as few frames as the frame limit allows, over one long-lived connection that it redials with
backoff. Snapshots go over short-lived connections of their own, so a big one never holds up
heartbeats. Nothing here blocks whoever enqueues, nor the tasks of any other peer.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections import deque
from collections.abc import Callable

import trio

from node.raft.types import Message
from node.transport.backoff import Backoff
from node.transport.config import TransportConfig
from node.transport.framing import FrameError, FrameReader, encode_array_frame, encode_frame
from node.transport.protocol import HandshakeError, Hello, StreamKind, Verdict
from node.transport.snapshot import SnapshotPayload, stream_snapshot
from node.transport.stats import PeerStats
from node.transport.tls import open_peer_stream

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)
"""What a socket raises when the other side goes away or the network fails."""

_ARRAY_HEAD_MAX = 9


class PeerUnreachable(Exception):
    """Dialing a peer failed: refused, timed out, or the handshake was refused or garbled."""


def format_address(address: tuple[str, int]) -> str:
    """`host:port`, as logs and stats show an address."""
    return f"{address[0]}:{address[1]}"


class Peer:
    """The sending side of one remote member, plus the counters for both directions."""

    def __init__(
        self,
        peer_id: int,
        address: tuple[str, int],
        *,
        member_id: int,
        cluster_id: int,
        config: TransportConfig,
        rng: random.Random,
        report_unreachable: Callable[[int], None],
        report_snapshot: Callable[[int, bool], None],
        on_active: Callable[[int, bool], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.id = peer_id
        self.address = address
        self.stats = PeerStats(address=format_address(address))
        self._member_id = member_id
        self._cluster_id = cluster_id
        self._config = config
        self._rng = rng
        self._report_unreachable = report_unreachable
        self._report_snapshot = report_snapshot
        self._on_active = on_active
        self._tls = tls
        self._queue: deque[tuple[float, Message]] = deque()
        self._wakeup = trio.Event()
        self._stopped = False
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._connection_scope: trio.CancelScope | None = None
        self._close_reason = ""
        self._moved = False
        self._snapshot_in_flight = False
        self._snapshot_waiting: tuple[Message, SnapshotPayload, float] | None = None

    def enqueue(self, message: Message, due: float) -> bool:
        """Queue `message` to be sent at trio time `due`; False (and counted) when full."""
        if len(self._queue) >= self._config.queue_size:
            self.stats.dropped += 1
            return False
        self._queue.append((due, message))
        self._wakeup.set()
        return True

    def start_snapshot(self, message: Message, payload: SnapshotPayload, delay: float) -> bool:
        """Stream a snapshot on its own connection (once running); False if one is under way."""
        if self._snapshot_in_flight:
            return False
        self._snapshot_in_flight = True
        if self._nursery is None:
            self._snapshot_waiting = (message, payload, delay)
        else:
            self._nursery.start_soon(self._send_snapshot, message, payload, delay)
        return True

    def move(self, address: tuple[str, int]) -> None:
        """Redial at a new address; what is queued waits for the new connection."""
        self.address = address
        self.stats.address = format_address(address)
        if self._connection_scope is not None:
            self._moved = True
            self._end_connection("peer address changed", self._connection_scope)

    def stop(self) -> None:
        """End every task of this peer, now or as soon as it starts."""
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        """Keep a message stream to the peer until stopped or cancelled; hosts snapshot sends."""
        if self._stopped:
            return
        self._scope = trio.CancelScope()
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if self._snapshot_waiting is not None:
                        nursery.start_soon(self._send_snapshot, *self._snapshot_waiting)
                        self._snapshot_waiting = None
                    await self._keep_stream()
        finally:
            self._nursery = None
            self._scope = None
            self.stats.active = False

    async def _keep_stream(self) -> None:
        backoff = Backoff(self._rng, self._config.backoff_initial, self._config.backoff_max)
        while True:
            try:
                stream, reader = await self._dial(StreamKind.MESSAGES)
            except PeerUnreachable as exc:
                self._lose(str(exc))
                await trio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._set_active(True)
            reason = await self._pump(stream, reader)
            self._set_active(False)
            if self._moved:
                self._moved = False
                continue
            self._lose(reason)
            await trio.sleep(backoff.next_delay())

    async def _dial(self, kind: StreamKind) -> tuple[trio.abc.Stream, FrameReader]:
        host, port = self.address
        hello = Hello(self._cluster_id, self._member_id, self.id, kind)
        where = format_address(self.address)
        try:
            with trio.fail_after(self._config.dial_timeout):
                stream = await open_peer_stream(host, port, self._tls)
                try:
                    reader = FrameReader(stream, self._config.max_frame_size)
                    await stream.send_all(encode_frame(hello.to_wire()))
                    verdict = Verdict.from_wire(await reader.read_frame())
                except BaseException:
                    await trio.aclose_forcefully(stream)
                    raise
        except trio.TooSlowError as exc:
            raise PeerUnreachable(
                f"dialing {where} timed out after {self._config.dial_timeout}s"
            ) from exc
        except EOFError as exc:
            raise PeerUnreachable(f"{where} closed the connection during the handshake") from exc
        except (*CONNECTION_ERRORS, FrameError, HandshakeError) as exc:
            raise PeerUnreachable(f"dialing {where} failed: {exc}") from exc
        if not verdict.accepted:
            await trio.aclose_forcefully(stream)
            raise PeerUnreachable(f"{where} refused the connection: {verdict.reason}")
        return stream, reader

    async def _pump(self, stream: trio.abc.Stream, reader: FrameReader) -> str:
        """Send batches until the connection ends; returns why it ended."""
        self._close_reason = ""
        async with stream, trio.open_nursery() as nursery:
            self._connection_scope = nursery.cancel_scope
            nursery.start_soon(self._watch_for_close, reader, nursery.cancel_scope)
            nursery.start_soon(self._write_batches, stream, nursery.cancel_scope)
        self._connection_scope = None
        return self._close_reason

    def _end_connection(self, reason: str, scope: trio.CancelScope) -> None:
        if not self._close_reason:
            self._close_reason = reason
        scope.cancel()

    async def _watch_for_close(self, reader: FrameReader, scope: trio.CancelScope) -> None:
        # The listener never writes after its verdict: any read result means the stream is over.
        try:
            await reader.read_frame()
            reason = "peer sent an unexpected frame"
        except EOFError:
            reason = "connection closed by peer"
        except (*CONNECTION_ERRORS, FrameError) as exc:
            reason = f"connection lost: {exc}"
        self._end_connection(reason, scope)

    async def _write_batches(self, stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
        while True:
            await self._wait_until_due()
            frames = self._frames(self._take_due())
            for position, (frame, count) in enumerate(frames):
                try:
                    with trio.fail_after(self._config.write_timeout):
                        await stream.send_all(frame)
                except (trio.TooSlowError, *CONNECTION_ERRORS) as exc:
                    self.stats.dropped += sum(n for _, n in frames[position:])
                    if isinstance(exc, trio.TooSlowError):
                        reason = f"peer stopped reading for {self._config.write_timeout}s"
                    else:
                        reason = f"connection lost: {exc}"
                    self._end_connection(reason, scope)
                    return
                self.stats.frames_sent += 1
                self.stats.messages_sent += count
                self.stats.bytes_sent += len(frame)

    async def _wait_until_due(self) -> None:
        while True:
            if self._queue:
                due = self._queue[0][0]
                if due <= trio.current_time():
                    return
                await trio.sleep_until(due)
            else:
                self._wakeup = trio.Event()
                await self._wakeup.wait()

    def _take_due(self) -> list[Message]:
        now = trio.current_time()
        batch = []
        while self._queue and self._queue[0][0] <= now:
            batch.append(self._queue.popleft()[1])
        return batch

    def _frames(self, batch: list[Message]) -> list[tuple[bytes, int]]:
        """The batch as frames of at most the frame limit, with the messages each holds."""
        limit = self._config.max_frame_size - _ARRAY_HEAD_MAX
        frames: list[tuple[bytes, int]] = []
        pending: list[bytes] = []
        size = 0
        for message in batch:
            encoded = message.encode()
            if len(encoded) > limit:
                self.stats.dropped += 1
                self.stats.last_error = (
                    f"dropped a {message.type.name} of {len(encoded)} bytes: over the "
                    f"{self._config.max_frame_size} byte frame limit"
                )
                logger.warning(
                    "member %x: %s to peer %x", self._member_id, self.stats.last_error, self.id
                )
                continue
            if pending and size + len(encoded) > limit:
                frames.append((encode_array_frame(pending), len(pending)))
                pending, size = [], 0
            pending.append(encoded)
            size += len(encoded)
        if pending:
            frames.append((encode_array_frame(pending), len(pending)))
        return frames

    def _lose(self, reason: str) -> None:
        """The peer cannot be reached: drop what waits for it and tell the owner."""
        dropped = len(self._queue)
        self._queue.clear()
        self.stats.dropped += dropped
        level = logging.DEBUG if reason == self.stats.last_error else logging.WARNING
        logger.log(
            level,
            "member %x: peer %x unreachable: %s (%d queued messages dropped)",
            self._member_id,
            self.id,
            reason,
            dropped,
        )
        self.stats.last_error = reason
        self._report_unreachable(self.id)

    def _set_active(self, active: bool) -> None:
        self.stats.active = active
        logger.info(
            "member %x: peer %x became %s",
            self._member_id,
            self.id,
            "active" if active else "inactive",
        )
        self._on_active(self.id, active)

    async def _send_snapshot(
        self, message: Message, payload: SnapshotPayload, delay: float
    ) -> None:
        ok = False
        try:
            await trio.sleep(delay)
            stream, reader = await self._dial(StreamKind.SNAPSHOT)
            async with stream:
                size = await stream_snapshot(
                    stream,
                    message,
                    payload,
                    chunk_size=self._config.snapshot_chunk_size,
                    write_timeout=self._config.write_timeout,
                )
                with trio.fail_after(self._config.read_timeout):
                    verdict = Verdict.from_wire(await reader.read_frame())
            if verdict.accepted:
                ok = True
                self.stats.snapshots_sent += 1
                self.stats.bytes_sent += size
                logger.info(
                    "member %x: sent a snapshot of %d bytes at index %d to peer %x",
                    self._member_id,
                    size,
                    message.snapshot.metadata.index if message.snapshot else 0,
                    self.id,
                )
            else:
                self._fail_snapshot(f"peer refused the snapshot: {verdict.reason}")
        except trio.TooSlowError:
            self._fail_snapshot("snapshot timed out")
            self._report_unreachable(self.id)
        except EOFError:
            self._fail_snapshot("peer closed the snapshot connection without an answer")
            self._report_unreachable(self.id)
        except (PeerUnreachable, FrameError, HandshakeError, *CONNECTION_ERRORS) as exc:
            self._fail_snapshot(str(exc))
            self._report_unreachable(self.id)
        finally:
            self._snapshot_in_flight = False
        self._report_snapshot(self.id, ok)

    def _fail_snapshot(self, reason: str) -> None:
        self.stats.snapshots_failed += 1
        self.stats.last_error = f"snapshot failed: {reason}"
        logger.warning(
            "member %x: snapshot to peer %x failed: %s", self._member_id, self.id, reason
        )
