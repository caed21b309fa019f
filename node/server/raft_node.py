"""The raft loop: ticks, peer messages and Ready handling (etcd's raftNode in raft.go).

One task owns the Ready cycle. Everything that feeds raft (ticks, peer messages, proposals,
ReadIndex requests, the apply task's conf changes) calls the RawNode directly (trio runs one
task at a time) and wakes the loop. Per Ready: the leader sends first, the snapshot file and
its WAL marker are written, then hard state and entries in one WAL write with at most one
fsync, the MemoryStorage catches up, a follower sends, and the committed entries go to the
apply task in order. WAL writes run in a worker thread so the member keeps receiving (and
batching) while the disk syncs.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from node import failpoints
from node.mvcc.backend import Backend, BackendWriteError
from node.raft import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    RawNode,
    ReadState,
    Ready,
    Snapshot,
    SoftState,
    StateType,
)
from node.server.events import EventBus
from node.server.logical_clock import LogicalClock
from node.server.member_storage import MemberStorage, remove_received_backends
from node.server.metrics import MemberMetrics
from node.server.storage_failure import (
    COMMIT_TX,
    SAVE_ENTRIES,
    SAVE_RAFT_SNAPSHOT,
    SAVE_SNAPSHOT,
    fatal_storage_errors,
)
from node.server.trace import Tracer
from node.transport import Transport
from node.wal import WalSnapshot
from node.wal.disk import write_file_atomically

logger = logging.getLogger(__name__)

MAX_CATCH_UP_ENTRIES = 5000
"""etcd's SnapshotCatchUpEntries: log entries kept behind a snapshot for slow followers."""
SNAPSHOT_FILES_KEPT = 5


def catch_up_entries(snapshot_count: int) -> int:
    """The catch-up tail, scaled down for small snapshot counts (a quarter of the count)."""
    return min(MAX_CATCH_UP_ENTRIES, max(1, snapshot_count // 4))


@dataclass(slots=True)
class ApplyBatch:
    """Committed entries (and a snapshot to install first) for the apply task."""

    entries: list[Entry]
    snapshot: Snapshot | None = None
    done: trio.Event = field(default_factory=trio.Event)


@dataclass(slots=True)
class LatencyWindow:
    """Count, total and maximum of durations (seconds) since it was last taken."""

    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def add(self, seconds: float) -> None:
        """Count one duration."""
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)

    def take(self) -> dict[str, float]:
        """The summary so far (milliseconds), starting a new window."""
        summary = {
            "count": self.count,
            "mean_ms": 1000 * self.total / self.count if self.count else 0.0,
            "max_ms": 1000 * self.maximum,
        }
        self.count, self.total, self.maximum = 0, 0.0, 0.0
        return summary


class RaftNode:
    """Drives one RawNode against its storage, the transport and the apply channel."""

    def __init__(
        self,
        raw_node: RawNode,
        storage: MemberStorage,
        transport: Transport,
        apply_channel: trio.MemorySendChannel[ApplyBatch],
        *,
        heartbeat: float,
        backend: Callable[[], Backend],
        backend_lock: trio.Lock,
        read_states: Callable[[list[ReadState]], None],
        on_soft_state: Callable[[SoftState], None],
        events: EventBus,
        tracer: Tracer,
        metrics: MemberMetrics | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self.raw_node = raw_node
        self._log = log
        self.storage = storage
        self._transport = transport
        self._apply_channel = apply_channel
        self.clock = LogicalClock(heartbeat, self._tick)
        """The ticker; step mode holds it and fires ticks by hand."""
        self._backend = backend
        self._backend_lock = backend_lock
        self._read_states = read_states
        self._on_soft_state = on_soft_state
        self._events = events
        self._tracer = tracer
        self._wakeup = trio.Event()
        self._wal_lock = trio.Lock()
        self._is_leader = False
        self.fsync_delay = 0.0
        """Injected: seconds added to every WAL write."""
        self.fsync_latency = LatencyWindow()
        self.metrics = metrics or MemberMetrics()
        self._heartbeats_sent: dict[int, float] = {}
        """When the last heartbeat to each peer left, for etcd's peer round-trip histogram."""
        self._outgoing_snapshots: dict[int, Path] = {}
        self._nursery: trio.Nursery | None = None
        self.snapshot_index = storage.raft_storage.snapshot().metadata.index

    # -- input ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Have the Ready loop look at raft again."""
        self._wakeup.set()

    def propose(self, data: bytes) -> None:
        """Propose an entry; raises ProposalDropped when raft cannot take it now."""
        self.raw_node.propose(data)
        self._tracer.proposed(data, self.raw_node.last_index() if self._is_leader else 0)
        self.wake()

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Propose a membership change; raises ProposalDropped as propose() does."""
        self.raw_node.propose_conf_change(cc)
        self._tracer.proposed_conf_change(cc, self.raw_node.last_index() if self._is_leader else 0)
        self.wake()

    def read_index(self, ctx: bytes) -> None:
        """Ask raft for a read index; a ReadState with `ctx` follows."""
        self.raw_node.read_index(ctx)
        self.wake()

    def transfer_leader(self, transferee: int) -> None:
        """Ask the leader to hand leadership to `transferee`."""
        self.raw_node.transfer_leader(transferee)
        self.wake()

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed conf change to raft; returns the membership."""
        conf_state = self.raw_node.apply_conf_change(cc)
        self.wake()
        return conf_state

    async def on_messages(self, messages: list[Message]) -> None:
        """The transport's delivery of a frame of peer messages."""
        self._tracer.received(messages)
        step = self.raw_node.step
        for message in messages:
            if message.type == MessageType.MSG_HEARTBEAT_RESP:
                self._observe_round_trip(message.frm)
            step(message)
        self.wake()

    def _observe_round_trip(self, peer_id: int) -> None:
        sent = self._heartbeats_sent.pop(peer_id, None)
        if sent is not None:
            self.metrics.peer_round_trip.labels(f"{peer_id:x}").observe(time.perf_counter() - sent)

    async def on_snapshot(self, message: Message) -> None:
        """A MSG_SNAP whose data is the leader's backend: keep the file, step the message."""
        snapshot = message.snapshot
        assert snapshot is not None  # the transport delivers MSG_SNAP with its snapshot
        path = self.storage.paths.snapshot_db(snapshot.metadata.index)
        await trio.to_thread.run_sync(write_file_atomically, path, snapshot.data)
        self._log.info(
            "member %x: received a backend of %d bytes for the snapshot at index %d from %x",
            self.storage.member_id, len(snapshot.data), snapshot.metadata.index, message.frm,
        )
        self._events.publish(
            "snapshot", action="received", index=snapshot.metadata.index, peer=message.frm,
            bytes=len(snapshot.data),
        )
        self._tracer.snapshot_received(message, len(snapshot.data))
        snapshot.data = b""
        self.raw_node.step(message)
        self.wake()

    def report_unreachable(self, peer_id: int) -> None:
        """The transport could not reach `peer_id`."""
        self.raw_node.report_unreachable(peer_id)
        self.wake()

    def report_snapshot(self, peer_id: int, failed: bool) -> None:
        """A backend snapshot to `peer_id` was delivered (or failed): drop its copy."""
        self.raw_node.report_snapshot(peer_id, failed)
        copy = self._outgoing_snapshots.pop(peer_id, None)
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)
        self._events.publish("snapshot", action="sent", peer=peer_id, ok=not failed)
        self._tracer.snapshot_sent(peer_id, not failed)
        self.wake()

    # -- tasks ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick and handle Readys until cancelled."""
        for stale in self.storage.paths.snap.glob("send-*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self.clock.run)
                task_status.started()
                await self._ready_loop()
        finally:
            for copy in self._outgoing_snapshots.values():
                shutil.rmtree(copy, ignore_errors=True)
            self._outgoing_snapshots.clear()

    def _tick(self) -> None:
        self.raw_node.tick()
        self.wake()

    async def _ready_loop(self) -> None:
        raw_node = self.raw_node
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            while raw_node.has_ready():
                rd = raw_node.ready()
                self._tracer.ready(rd, raw_node.term)
                await self._handle_ready(rd)
                raw_node.advance(rd)
                self._tracer.advanced(rd)

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._is_leader = rd.soft_state.raft_state == StateType.LEADER
            self._on_soft_state(rd.soft_state)
        if rd.read_states:
            self._read_states(rd.read_states)
        if self._is_leader:
            failpoints.hit("raftBeforeLeaderSend")
            self._send(rd.messages)
        await self._persist(rd)
        raft_storage = self.storage.raft_storage
        if rd.snapshot is not None:
            failpoints.hit("raftBeforeApplySnap")
            raft_storage.apply_snapshot(rd.snapshot)
            failpoints.hit("raftAfterApplySnap")
            self.snapshot_index = rd.snapshot.metadata.index
        if rd.hard_state is not None:
            raft_storage.set_hard_state(rd.hard_state)
        if rd.entries:
            raft_storage.append(rd.entries)
        batch = None
        if rd.committed_entries or rd.snapshot is not None:
            batch = ApplyBatch(rd.committed_entries, rd.snapshot)
            await self._apply_channel.send(batch)
        if not self._is_leader:
            if batch is not None and any(
                e.type == EntryType.CONF_CHANGE for e in rd.committed_entries
            ):
                # A follower must not vote or campaign on a membership it has not applied.
                await batch.done.wait()
            failpoints.hit("raftBeforeFollowerSend")
            self._send(rd.messages)

    async def _persist(self, rd: Ready) -> None:
        if rd.snapshot is None and rd.hard_state is None and not rd.entries:
            return
        storage = self.storage
        async with self._wal_lock:
            if rd.snapshot is not None:
                meta = rd.snapshot.metadata
                failpoints.hit("raftBeforeSaveSnap")
                with fatal_storage_errors(SAVE_RAFT_SNAPSHOT, self._log):
                    await trio.to_thread.run_sync(storage.snapshotter.save, rd.snapshot)
                    await trio.to_thread.run_sync(
                        storage.wal.save_snapshot, WalSnapshot(meta.index, meta.term)
                    )
                failpoints.hit("raftAfterSaveSnap")
                self._tracer.snapshot_saved(meta, "leader")
            started = time.perf_counter()
            if self.fsync_delay:
                await trio.sleep(self.fsync_delay)
            failpoints.hit("raftBeforeSave")
            with fatal_storage_errors(SAVE_ENTRIES, self._log):
                await trio.to_thread.run_sync(
                    storage.wal.save, rd.hard_state or HardState(), rd.entries
                )
            failpoints.hit("raftAfterSave")
            if rd.must_sync:
                took = time.perf_counter() - started
                self.fsync_latency.add(took)
                self.metrics.wal_fsync.observe(took)
            self._tracer.wal_saved(rd, time.perf_counter() - started)

    def _send(self, messages: list[Message]) -> None:
        if not messages:
            return
        self._tracer.sent(messages)
        plain = []
        for message in messages:
            if message.type == MessageType.MSG_SNAP:
                self._start_backend_snapshot(message)
                continue
            if message.type == MessageType.MSG_HEARTBEAT:
                self._heartbeats_sent[message.to] = time.perf_counter()
            plain.append(message)
        if plain:
            self._transport.send(plain)

    # -- snapshots --------------------------------------------------------------------------

    def _start_backend_snapshot(self, message: Message) -> None:
        """The leader's MSG_SNAP carries the backend: copy it consistently, then stream it."""
        if self._nursery is None or message.to in self._outgoing_snapshots:
            self.raw_node.report_snapshot(message.to, True)
            return
        index = message.snapshot.metadata.index if message.snapshot else 0
        copy = self.storage.paths.snap / f"send-{message.to:x}-{index:016x}"
        self._outgoing_snapshots[message.to] = copy
        self._tracer.snapshot_sending(message.to, index)
        self._nursery.start_soon(self._send_backend_snapshot, message, copy, index)

    async def _send_backend_snapshot(self, message: Message, copy: Path, index: int) -> None:
        try:
            async with self._backend_lock:
                with fatal_storage_errors(COMMIT_TX, self._log):
                    self._backend().commit()  # the copy is of committed data
                await trio.to_thread.run_sync(self._copy_backend, copy)
        except (OSError, BackendWriteError) as exc:
            self._log.error("member %x: cannot copy the backend for %x: %s",
                         self.storage.member_id, message.to, exc)
            self.report_snapshot(message.to, True)
            return
        self._log.info(
            "member %x: sending the backend to %x for the snapshot at index %d",
            self.storage.member_id, message.to, index,
        )
        self._transport.send_snapshot(message, copy / "data.mdb")

    def _copy_backend(self, dest: Path) -> None:
        shutil.rmtree(dest, ignore_errors=True)
        self._backend().copy_to(dest)

    async def create_snapshot(self, applied_index: int, snapshot_count: int) -> bool:
        """Take a raft snapshot at the applied index (the backend holds the data), record it,
        compact the log keeping a catch-up tail and free old WAL segments and snapshots.

        The backend is forced to disk first (etcd commits it before saving a snapshot): once
        the WAL before the snapshot is gone, nothing could replay what a crash took from it.
        """
        storage = self.storage
        raft_storage = storage.raft_storage
        if applied_index <= raft_storage.snapshot().metadata.index:
            return False
        async with self._backend_lock:
            with fatal_storage_errors(COMMIT_TX, self._log):
                self._backend().commit()
                await trio.to_thread.run_sync(self._backend().sync)
        async with self._wal_lock:
            conf_state = self.raw_node.conf_state()
            snapshot = raft_storage.create_snapshot(applied_index, conf_state, b"")
            meta = snapshot.metadata
            failpoints.hit("raftBeforeSaveSnap")
            with fatal_storage_errors(SAVE_SNAPSHOT, self._log):
                await trio.to_thread.run_sync(storage.snapshotter.save, snapshot)
                await trio.to_thread.run_sync(
                    storage.wal.save_snapshot, WalSnapshot(meta.index, meta.term)
                )
            failpoints.hit("raftAfterSaveSnap")
            self._tracer.snapshot_saved(meta, "local")
            compact_index = applied_index - catch_up_entries(snapshot_count)
            if compact_index >= raft_storage.first_index():
                failpoints.hit("raftBeforeLogCompaction")
                raft_storage.compact(compact_index)
                failpoints.hit("raftAfterLogCompaction")
                self._tracer.log_compacted(compact_index)
            await trio.to_thread.run_sync(storage.wal.release_before, meta.index)
            failpoints.hit("raftAfterWALRelease")
            await trio.to_thread.run_sync(storage.snapshotter.purge, SNAPSHOT_FILES_KEPT)
            remove_received_backends(storage.paths, meta.index)
        self.snapshot_index = meta.index
        self._log.info(
            "member %x: saved snapshot at index %d (term %d), log compacted to %d",
            storage.member_id, meta.index, meta.term, raft_storage.first_index() - 1,
        )
        self._events.publish("snapshot", action="created", index=meta.index, term=meta.term)
        return True

    def last_index(self) -> int:
        """The last index of the raft log."""
        return self.raw_node.last_index()
