"""The member-to-member transport: raft messages to and from the other members over TCP.

Modelled on etcd's rafthttp: one stream per peer, `send` never blocks raft (a full queue drops
and reports, raft retries), unreachable peers and snapshot outcomes are reported back to the
owner, and snapshots travel on connections of their own. One connection per ordered pair:
this member's connection to B carries only this member's messages to B. The same port answers
request connections (node.transport.request) through the owner's `on_request`, as etcd's peer
URL serves its few HTTP requests beside raft.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict

import trio

from node.raft.types import MalformedRecord, Message, MessageType
from node.transport.config import TransportConfig
from node.transport.faults import FaultInjector
from node.transport.framing import FrameError, FrameReader, encode_frame
from node.transport.hold import HeldMessage, HoldQueue
from node.transport.peer import CONNECTION_ERRORS, Peer
from node.transport.protocol import HandshakeError, Hello, StreamKind, Verdict, refusal
from node.transport.request import NO_REQUEST_HANDLER, OnRequest, serve_requests
from node.transport.snapshot import SnapshotPayload, SnapshotStreamError, receive_snapshot
from node.transport.tls import TlsInfo, accept_tls

logger = logging.getLogger(__name__)

DROPPED_BY_FAULT = "dropped by fault injection"

OnMessages = Callable[[list[Message]], Awaitable[None]]
"""Receives each frame's messages from one peer; while it waits, that peer's stream waits."""
OnSnapshot = Callable[[Message], Awaitable[None]]
"""Receives a MSG_SNAP whose snapshot data is the whole payload; the sender hears of success
once it returns."""


class Transport:
    """Sends raft messages to peers and delivers theirs, inside the nursery `serve` opens."""

    def __init__(
        self,
        member_id: int,
        cluster_id: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        *,
        on_messages: OnMessages,
        report_unreachable: Callable[[int], None],
        report_snapshot: Callable[[int, bool], None],
        on_snapshot: OnSnapshot | None = None,
        on_peer_active: Callable[[int, bool], None] | None = None,
        on_request: OnRequest | None = None,
        config: TransportConfig | None = None,
        seed: int = 0,
        tls: TlsInfo | None = None,
    ) -> None:
        self.member_id = member_id
        self.cluster_id = cluster_id
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._on_messages = on_messages
        self._on_snapshot = on_snapshot
        self._report_unreachable = report_unreachable
        self._report_snapshot = report_snapshot
        self._on_peer_active = on_peer_active or (lambda peer_id, active: None)
        self._on_request = on_request
        self._config = config or TransportConfig()
        self._accept_context = None if tls is None else tls.server_context()
        self._dial_context = None if tls is None else tls.client_context()
        # Separate generators, so reconnect timing cannot shift which messages a fault drops.
        self._jitter_rng = random.Random(f"{seed}:jitter")
        self._faults = FaultInjector(random.Random(f"{seed}:faults"))
        self._hold = HoldQueue()
        self._peers: dict[int, Peer] = {}
        self._incoming: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self._port: int | None = None
        self._refused = 0
        self._last_refusal = ""

    @property
    def port(self) -> int:
        """The TCP port the listener is bound to (the OS picks it when asked for port 0)."""
        if self._port is None:
            raise RuntimeError("transport is not serving")
        return self._port

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and run every peer's sender until cancelled; `nursery.start` gets the port."""
        if self._nursery is not None:
            raise RuntimeError("transport is already serving")
        listeners = await trio.open_tcp_listeners(self._listen_port, host=self._listen_host)
        self._port = listeners[0].socket.getsockname()[1]
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for peer in self._peers.values():
                    nursery.start_soon(peer.run)
                await nursery.start(
                    functools.partial(trio.serve_listeners, handler_nursery=nursery),
                    self._handle_connection,
                    listeners,
                )
                logger.info(
                    "member %x: listening for peers on %s:%d",
                    self.member_id,
                    self._listen_host,
                    self._port,
                )
                task_status.started(self._port)
        finally:
            self._nursery = None
            self._port = None

    def add_peer(self, peer_id: int, address: tuple[str, int]) -> None:
        """Start talking to a member at `address` (host, port); a known id is left as it is."""
        if peer_id == self.member_id:
            raise ValueError(f"member {peer_id:x} cannot be its own peer")
        if peer_id in self._peers:
            return
        peer = Peer(
            peer_id,
            address,
            member_id=self.member_id,
            cluster_id=self.cluster_id,
            config=self._config,
            rng=self._jitter_rng,
            report_unreachable=self._report_unreachable,
            report_snapshot=self._report_snapshot,
            on_active=self._on_peer_active,
            tls=self._dial_context,
        )
        self._peers[peer_id] = peer
        if self._nursery is not None:
            self._nursery.start_soon(peer.run)

    def update_peer(self, peer_id: int, address: tuple[str, int]) -> None:
        """Reach a known member at a new address; the current connection is dropped."""
        self._peer(peer_id).move(address)

    def remove_peer(self, peer_id: int) -> None:
        """Stop talking to a member: its tasks end and its incoming connection is closed."""
        self._peer(peer_id).stop()
        del self._peers[peer_id]
        incoming = self._incoming.pop(peer_id, None)
        if incoming is not None:
            incoming.cancel()

    def send(self, messages: list[Message]) -> None:
        """Queue messages for their peers without blocking; MSG_SNAP goes as a snapshot stream.

        A message to an unknown member is ignored, one that finds its peer's queue full is
        dropped and the peer is reported unreachable, as etcd does: raft retries. In step mode
        every message is held instead (see `hold`).
        """
        if self._hold.holding:
            for message in messages:
                self._hold.add(message)
            return
        self._send_now(messages)

    def _send_now(self, messages: list[Message]) -> None:
        unreachable: set[int] = set()
        for message in messages:
            peer = self._peers.get(message.to)
            if peer is None:
                logger.debug(
                    "member %x: ignored a %s to unknown peer %x",
                    self.member_id,
                    message.type.name,
                    message.to,
                )
                continue
            if self._faults.drops_outgoing(peer.id):
                self._drop_by_fault(peer, message)
                continue
            if message.type == MessageType.MSG_SNAP:
                payload = b"" if message.snapshot is None else message.snapshot.data
                self._start_snapshot(peer, message, payload)
                continue
            delay = self._faults.delay(peer.id)
            due = trio.current_time() + delay if delay else 0.0
            if not peer.enqueue(message, due):
                unreachable.add(peer.id)
        for peer_id in unreachable:
            logger.warning(
                "member %x: dropped messages to peer %x: its queue is full", self.member_id, peer_id
            )
            self._report_unreachable(peer_id)

    def send_snapshot(self, message: Message, payload: SnapshotPayload) -> None:
        """Stream a MSG_SNAP whose payload is bytes, a file or chunks, sent as snapshot data.

        The payload is read a chunk at a time; the receiver delivers the message with the
        whole payload as its snapshot data. The outcome comes back through report_snapshot.
        """
        if message.type != MessageType.MSG_SNAP or message.snapshot is None:
            raise ValueError("send_snapshot takes a MSG_SNAP carrying a snapshot")
        if isinstance(payload, str):
            raise TypeError("pass a snapshot file as a pathlib.Path, not a str")
        if self._hold.holding:
            self._hold.add(message, payload)
        else:
            self._send_snapshot_now(message, payload)

    def _send_snapshot_now(self, message: Message, payload: SnapshotPayload) -> None:
        peer = self._peers.get(message.to)
        if peer is None:
            self._report_snapshot(message.to, False)
        elif self._faults.drops_outgoing(peer.id):
            self._drop_by_fault(peer, message)
        else:
            self._start_snapshot(peer, message, payload)

    def isolate(self, peer_ids: Iterable[int]) -> None:
        """Drop all traffic both ways with these peers until `heal` (fault injection)."""
        peer_ids = list(peer_ids)
        self._faults.isolate(peer_ids)
        logger.warning(
            "member %x: isolated from %s",
            self.member_id,
            ", ".join(f"{peer_id:x}" for peer_id in peer_ids),
        )

    def heal(self) -> None:
        """Remove every isolation and link fault."""
        self._faults.heal()
        logger.warning("member %x: healed all injected network faults", self.member_id)

    def set_link_fault(self, peer_id: int, drop_ratio: float = 0.0, delay_ms: int = 0) -> None:
        """Drop a fraction of, or delay, messages to one peer, keeping their order."""
        self._faults.set_link_fault(peer_id, drop_ratio, delay_ms)
        logger.warning(
            "member %x: link to %x drops %.0f%% and delays %d ms",
            self.member_id,
            peer_id,
            drop_ratio * 100,
            delay_ms,
        )

    # -- step mode -----------------------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """Whether outgoing messages are held (step mode)."""
        return self._hold.holding

    def hold(self) -> None:
        """Step mode: hold every outgoing message in its link's queue until delivered."""
        self._hold.hold()
        logger.warning("member %x: holding outgoing messages (step mode)", self.member_id)

    def held(self) -> list[HeldMessage]:
        """The held messages, oldest first."""
        return self._hold.held()

    def deliver(self, ids: Iterable[int] | None = None, to: int | None = None) -> list[HeldMessage]:
        """Send the held messages `ids` in that order (all when None, oldest first; only those
        to `to` when given), as they would have gone when raft sent them; UnknownHeldMessage
        for a bad id."""
        taken = self._hold.take(ids, to)
        self._send_held(taken)
        return taken

    def drop(self, ids: Iterable[int] | None = None) -> list[HeldMessage]:
        """Throw the held messages `ids` (all when None) away, as a lossy network would; raft
        hears of a dropped snapshot as failed."""
        taken = self._hold.take(ids)
        for held in taken:
            peer = self._peers.get(held.message.to)
            if peer is not None:
                self._drop_by_fault(peer, held.message)
            elif held.message.type == MessageType.MSG_SNAP:
                self._report_snapshot(held.message.to, False)
        return taken

    def release(self) -> list[HeldMessage]:
        """Leave step mode: send everything still held, oldest first; returns what it sent."""
        taken = self._hold.release()
        self._send_held(taken)
        logger.warning(
            "member %x: released step mode, %d held messages sent", self.member_id, len(taken)
        )
        return taken

    def _send_held(self, taken: list[HeldMessage]) -> None:
        for held in taken:
            if held.payload is not None:
                self._send_snapshot_now(held.message, held.payload)
            else:
                self._send_now([held.message])

    def stats(self) -> dict:
        """A snapshot of the transport's state and per-peer counters, as plain data."""
        return {
            "member_id": self.member_id,
            "cluster_id": self.cluster_id,
            "port": self._port,
            "refused_connections": self._refused,
            "last_refusal": self._last_refusal,
            "faults": self._faults.describe(),
            "peers": {peer_id: asdict(peer.stats) for peer_id, peer in self._peers.items()},
        }

    def _peer(self, peer_id: int) -> Peer:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise ValueError(f"unknown peer {peer_id:x}")
        return peer

    def _drop_by_fault(self, peer: Peer, message: Message) -> None:
        peer.stats.fault_dropped_out += 1
        if message.type == MessageType.MSG_SNAP:
            self._report_snapshot(peer.id, False)

    def _start_snapshot(self, peer: Peer, message: Message, payload: SnapshotPayload) -> None:
        if not peer.start_snapshot(message, payload, self._faults.delay(peer.id)):
            logger.warning(
                "member %x: snapshot to peer %x not sent: one is already under way",
                self.member_id,
                peer.id,
            )
            self._report_snapshot(peer.id, False)

    async def _handle_connection(self, socket_stream: trio.SocketStream) -> None:
        remote = _remote_address(socket_stream)
        stream: trio.abc.Stream = socket_stream
        if self._accept_context is not None:
            accepted = await accept_tls(socket_stream, self._accept_context)
            if accepted is None:
                return
            stream = accepted
        reader = FrameReader(stream, self._config.max_frame_size)
        try:
            with trio.fail_after(self._config.read_timeout):
                hello = Hello.from_wire(await reader.read_frame())
        except trio.TooSlowError:
            self._refuse(remote, f"no handshake within {self._config.read_timeout}s")
            return
        except EOFError:
            self._refuse(remote, "closed before its handshake")
            return
        except (HandshakeError, FrameError, *CONNECTION_ERRORS) as exc:
            self._refuse(remote, f"bad handshake: {exc}")
            return
        if hello.kind == StreamKind.REQUEST:
            await self._answer_requests(remote, stream, reader)
            return
        reason = refusal(
            hello,
            cluster_id=self.cluster_id,
            member_id=self.member_id,
            is_peer=self._peers.__contains__,
        )
        if reason is not None:
            self._refuse(
                remote,
                f"{reason} (cluster {hello.cluster_id:x}, from "
                f"{hello.from_id:x}, to {hello.to_id:x})",
            )
            await self._answer(stream, Verdict(False, reason))
            return
        peer = self._peers[hello.from_id]
        if hello.kind == StreamKind.SNAPSHOT:
            await self._answer(stream, Verdict(True))
            await self._receive_snapshot(peer, stream, reader)
            return
        with trio.CancelScope() as scope:
            replaced = self._incoming.get(peer.id)
            if replaced is not None:
                replaced.cancel()
            self._incoming[peer.id] = scope
            try:
                await self._answer(stream, Verdict(True))
                await self._receive_messages(peer, reader)
            finally:
                if self._incoming.get(peer.id) is scope:
                    del self._incoming[peer.id]

    async def _answer_requests(
        self, remote: str, stream: trio.abc.Stream, reader: FrameReader
    ) -> None:
        if self._on_request is None:
            self._refuse(remote, NO_REQUEST_HANDLER)
            await self._answer(stream, Verdict(False, NO_REQUEST_HANDLER))
            return
        await self._answer(stream, Verdict(True))
        await serve_requests(stream, reader, self._on_request, self._config.write_timeout)

    async def _receive_messages(self, peer: Peer, reader: FrameReader) -> None:
        while True:
            consumed = reader.bytes_received
            try:
                value = await reader.read_frame()
                messages = self._decode_batch(value, peer.id)
            except EOFError:
                return
            except (FrameError, MalformedRecord) as exc:
                self._close_incoming(peer, f"malformed frame: {exc}")
                return
            except CONNECTION_ERRORS as exc:
                self._close_incoming(peer, f"connection lost: {exc}")
                return
            peer.stats.frames_received += 1
            peer.stats.messages_received += len(messages)
            peer.stats.bytes_received += reader.bytes_received - consumed
            if self._faults.drops_incoming(peer.id):
                peer.stats.fault_dropped_in += len(messages)
                continue
            await self._on_messages(messages)

    def _decode_batch(self, value: object, from_id: int) -> list[Message]:
        if not isinstance(value, list) or not value:
            raise MalformedRecord(f"frame is not a list of messages: {value!r:.80}")
        messages = [Message.from_wire(wire) for wire in value]
        for message in messages:
            if message.frm != from_id or message.to != self.member_id:
                raise MalformedRecord(
                    f"message from {message.frm:x} to {message.to:x} on the stream from "
                    f"{from_id:x} to {self.member_id:x}"
                )
        return messages

    async def _receive_snapshot(
        self, peer: Peer, stream: trio.abc.Stream, reader: FrameReader
    ) -> None:
        try:
            message = await receive_snapshot(
                reader,
                from_id=peer.id,
                to_id=self.member_id,
                max_size=self._config.max_snapshot_size,
                read_timeout=self._config.read_timeout,
            )
        except (SnapshotStreamError, FrameError, *CONNECTION_ERRORS) as exc:
            peer.stats.snapshots_failed += 1
            peer.stats.last_error = f"received a bad snapshot: {exc}"
            logger.warning(
                "member %x: refused a snapshot from peer %x: %s", self.member_id, peer.id, exc
            )
            await self._answer(stream, Verdict(False, str(exc)))
            return
        if self._faults.drops_incoming(peer.id):
            peer.stats.fault_dropped_in += 1
            await self._answer(stream, Verdict(False, DROPPED_BY_FAULT))
            return
        peer.stats.snapshots_received += 1
        peer.stats.messages_received += 1
        peer.stats.bytes_received += reader.bytes_received
        snapshot = message.snapshot
        assert snapshot is not None, "receive_snapshot returns only a MSG_SNAP with a snapshot"
        logger.info(
            "member %x: received a snapshot of %d bytes at index %d from peer %x",
            self.member_id,
            len(snapshot.data),
            snapshot.metadata.index,
            peer.id,
        )
        if self._on_snapshot is not None:
            await self._on_snapshot(message)
        else:
            await self._on_messages([message])
        await self._answer(stream, Verdict(True))

    async def _answer(self, stream: trio.abc.Stream, verdict: Verdict) -> None:
        with trio.move_on_after(self._config.write_timeout):
            try:
                await stream.send_all(encode_frame(verdict.to_wire()))
            except CONNECTION_ERRORS:
                logger.debug("member %x: could not answer %s", self.member_id, verdict)

    def _refuse(self, remote: str, reason: str) -> None:
        self._refused += 1
        self._last_refusal = reason
        logger.warning(
            "member %x: refused a peer connection from %s: %s", self.member_id, remote, reason
        )

    def _close_incoming(self, peer: Peer, reason: str) -> None:
        peer.stats.last_error = f"closed the stream from peer {peer.id:x}: {reason}"
        logger.warning("member %x: %s", self.member_id, peer.stats.last_error)


def _remote_address(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "an unknown address"
    return f"{host}:{port}"
