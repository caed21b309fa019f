"""Members on loopback for transport tests: a Transport plus a record of what its owner heard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from node.raft.types import Entry, Message, MessageType, Snapshot, SnapshotMetadata
from node.transport import Transport, TransportConfig
from node.transport.framing import FrameReader, encode_frame
from node.transport.protocol import Hello, StreamKind, Verdict

CLUSTER = 0xC1
FAST = TransportConfig(backoff_initial=0.01, backoff_max=0.05)


@dataclass
class Member:
    """One transport and everything it reported to its owner, in arrival order."""

    id: int
    transport: Transport = field(init=False)
    received: list[Message] = field(default_factory=list)
    snapshots: list[Message] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)
    snapshot_reports: list[tuple[int, bool]] = field(default_factory=list)
    active: dict[int, bool] = field(default_factory=dict)
    transitions: list[tuple[int, bool]] = field(default_factory=list)
    stopped: trio.Event = field(default_factory=trio.Event)
    _changed: trio.Event = field(default_factory=trio.Event)

    def build(self, cluster_id: int, port: int, config: TransportConfig, seed: int) -> Member:
        self.transport = Transport(
            self.id,
            cluster_id,
            "127.0.0.1",
            port,
            on_messages=self._on_messages,
            on_snapshot=self._on_snapshot,
            report_unreachable=lambda peer_id: self._note(self.unreachable.append, peer_id),
            report_snapshot=lambda peer_id, ok: self._note(
                self.snapshot_reports.append, (peer_id, ok)
            ),
            on_peer_active=self._on_peer_active,
            config=config,
            seed=seed,
        )
        return self

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.transport.port)

    def peer_stats(self, peer_id: int) -> dict:
        return self.transport.stats()["peers"][peer_id]

    def indexes_from(self, sender: int) -> list[int]:
        """The `index` of every message received from `sender`, in arrival order."""
        return [m.index for m in self.received if m.frm == sender]

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition` holds, rechecking on every report and every few ms."""
        while not condition():
            with trio.move_on_after(0.005):
                await self._changed.wait()

    async def _on_messages(self, messages: list[Message]) -> None:
        self._note(self.received.extend, messages)

    async def _on_snapshot(self, message: Message) -> None:
        self._note(self.snapshots.append, message)

    def _on_peer_active(self, peer_id: int, up: bool) -> None:
        self.active[peer_id] = up
        self._note(self.transitions.append, (peer_id, up))

    def _note(self, record: Callable[..., object], *args: object) -> None:
        record(*args)
        self._changed.set()
        self._changed = trio.Event()


@asynccontextmanager
async def running(
    nursery: trio.Nursery,
    *ids: int,
    cluster_id: int = CLUSTER,
    config: TransportConfig = FAST,
    seed: int = 1,
    connect: bool = True,
) -> AsyncIterator[list[Member]]:
    """Serve one transport per id on loopback, each knowing all the others as peers."""
    members = [Member(i).build(cluster_id, 0, config, seed) for i in ids]
    scope = trio.CancelScope()

    async def serve_all(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            async with trio.open_nursery() as inner:
                for member in members:
                    await inner.start(member.transport.serve)
                task_status.started()

    await nursery.start(serve_all)
    if connect:
        for member in members:
            for other in members:
                if other is not member:
                    member.transport.add_peer(other.id, other.address)
    try:
        yield members
    finally:
        scope.cancel()


async def start_member(
    nursery: trio.Nursery,
    member_id: int,
    *,
    port: int = 0,
    config: TransportConfig = FAST,
    cluster_id: int = CLUSTER,
) -> tuple[Member, trio.CancelScope]:
    """Serve one more member; cancel the returned scope to take it down (`stopped` tells when)."""
    member = Member(member_id).build(cluster_id, port, config, seed=member_id)
    scope = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with scope:
                await member.transport.serve(task_status=task_status)
        finally:
            member.stopped.set()

    await nursery.start(serve)
    return member, scope


def app(frm: int, to: int, index: int, payload: bytes = b"x") -> Message:
    """A MSG_APP carrying one entry; `index` tells messages apart."""
    return Message(
        type=MessageType.MSG_APP,
        to=to,
        frm=frm,
        term=1,
        index=index,
        entries=[Entry(term=1, index=index + 1, data=payload)],
    )


def heartbeat(frm: int, to: int, index: int) -> Message:
    return Message(type=MessageType.MSG_HEARTBEAT, to=to, frm=frm, term=1, index=index)


def snap(frm: int, to: int, data: bytes = b"", index: int = 100) -> Message:
    return Message(
        type=MessageType.MSG_SNAP,
        to=to,
        frm=frm,
        term=2,
        snapshot=Snapshot(data=data, metadata=SnapshotMetadata(index=index, term=2)),
    )


async def dial_raw(
    member: Member,
    from_id: int,
    *,
    cluster_id: int = CLUSTER,
    to_id: int | None = None,
    kind: StreamKind = StreamKind.MESSAGES,
) -> tuple[trio.SocketStream, Verdict]:
    """Open a connection by hand, as a misbehaving or foreign peer would, and read the verdict."""
    stream = await trio.open_tcp_stream(*member.address)
    hello = Hello(cluster_id, from_id, member.id if to_id is None else to_id, kind)
    await stream.send_all(encode_frame(hello.to_wire()))
    verdict = Verdict.from_wire(await FrameReader(stream, 1 << 20).read_frame())
    return stream, verdict


async def wait_closed_by_peer(stream: trio.SocketStream) -> None:
    """Read until the other side closes the connection (a reset counts), then close ours."""
    async with stream:
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
