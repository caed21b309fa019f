"""EtcdServer: one cluster member (etcd 3.4's etcdserver.EtcdServer, its server.go part).

open_etcd_server bootstraps it; the class composes the raft loop (raft_node.py), the apply
task (apply.py), batched linearizable reads (read_index.py), the lessor's duties and the
peers, runs their tasks, and offers the primitives requests go through (propose and wait,
the ReadIndex barrier). The v3 API methods the front doors call are in v3_server.py, which
EtcdServer inherits; README.md in this directory is the API's description.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import trio

from node.lease import LeaseIdGenerator, minimum_lease_ttl
from node.messages import errors
from node.messages.cluster import (
    Member,
)
from node.messages.header import ResponseHeader
from node.messages.lease import (
    LeaseCheckpoint,
    LeaseCheckpointRequest,
    LeaseRevokeRequest,
)
from node.raft import (
    Config,
    ProposalDropped,
    RawNode,
    Snapshot,
    SoftState,
    StateType,
)
from node.server import validation
from node.server.apply import Applier, MembershipHooks
from node.server.auth_store import AuthStore
from node.server.auth_tokens import AuthInfo, token_provider
from node.server.bootstrap import bootstrap
from node.server.cluster import (
    member_to_wire,
)
from node.server.compactor import AutoCompactor
from node.server.config import ServerConfig
from node.server.events import EventBus, EventLogHandler, JsonLineFormatter
from node.server.faults import MemberFaults
from node.server.member_state import MemberState
from node.server.member_storage import DataPaths, MemberStorage, make_data_dir
from node.server.metrics import MemberGauges, MemberMetrics
from node.server.peer_api import answer_peer_request, peer_address
from node.server.raft_node import ApplyBatch, LatencyWindow, RaftNode
from node.server.raft_request import (
    MemberAttrSetRequest,
    RaftBody,
    RaftRequest,
    RequestIdGenerator,
)
from node.server.read_index import ReadIndexLoop
from node.server.step_mode import MemberStepMode
from node.server.storage_failure import COMMIT_TX, fatal_storage_errors
from node.server.trace import Tracer
from node.server.v3_server import CLUSTER_VERSION, SERVER_VERSION, V3Server
from node.server.wait import IndexWaiter, WaitRegistry
from node.server.watch_stream import ServerWatchStream
from node.transport import Transport
from node.wal import SEGMENT_SIZE

LEASE_LOOP_INTERVAL = 0.5
"""etcd's lessor revoke/checkpoint loop period."""
MAX_SIZE_PER_MSG = 1 << 20
MAX_INFLIGHT_MSGS = 512
MAX_UNCOMMITTED_ENTRIES_SIZE = 1 << 30
STATS_INTERVAL = 0.1
PEER_STATS_INTERVAL = 1.0
WATCH_SYNC_INTERVAL = 0.1
WATCH_VICTIM_INTERVAL = 0.01
WATCH_PROGRESS_INTERVAL = 600.0


@asynccontextmanager
async def open_etcd_server(
    config: ServerConfig,
    *,
    wal_segment_size: int = SEGMENT_SIZE,
    capture_all_logs: bool = False,
) -> AsyncIterator[EtcdServer]:
    """etcd's bootstrap: open (or create, or join) the member's storage and state from its data
    dir and flags and build a ready EtcdServer on them, for `run` to serve; closes the storage
    and state on exit.

    `wal_segment_size`: bytes per WAL segment (tests shrink it); `capture_all_logs`: send
    every `node.*` logger to node.log and the event bus, not only this member's (for a process
    that runs one member)."""
    paths = DataPaths(Path(config.data_dir))
    logger = logging.getLogger(f"node.server.member.{config.name}")
    events = EventBus()
    targets = [logging.getLogger("node") if capture_all_logs else logger]
    with _member_logging(config, paths, logger, targets, events):
        booted = await bootstrap(config, paths, wal_segment_size)
        try:
            state = MemberState(
                booted.backend,
                min_lease_ttl=minimum_lease_ttl(
                    config.election_timeout_ms, config.heartbeat_interval_ms
                ),
                checkpoint_enabled=config.experimental_enable_lease_checkpoint,
                tokens=token_provider(config.auth_token, config.auth_token_ttl),
            )
        except BaseException:
            booted.backend.close()
            booted.storage.close()
            raise
        server = EtcdServer(config, paths, booted.storage, state, events, logger)
        try:
            yield server
        finally:
            server.close()


@contextmanager
def _member_logging(
    config: ServerConfig,
    paths: DataPaths,
    logger: logging.Logger,
    targets: list[logging.Logger],
    events: EventBus,
) -> Iterator[None]:
    """The member's log lines go to its node.log (JSON lines) and its event bus meanwhile."""
    make_data_dir(paths.data_dir)
    file_handler = logging.FileHandler(paths.log_file)
    file_handler.setFormatter(JsonLineFormatter())
    handlers: list[logging.Handler] = [file_handler, EventLogHandler(events)]
    level = {"warn": "WARNING", "panic": "CRITICAL", "fatal": "CRITICAL"}.get(
        config.log_level, config.log_level.upper()
    )
    logger.setLevel(level)
    for target in targets:
        for handler in handlers:
            target.addHandler(handler)
    try:
        yield
    finally:
        for target in targets:
            for handler in handlers:
                target.removeHandler(handler)
        for handler in handlers:
            handler.close()


class EtcdServer(V3Server):
    """A cluster member, built by `open_etcd_server` and served with `nursery.start(run)`."""

    def __init__(
        self,
        config: ServerConfig,
        paths: DataPaths,
        storage: MemberStorage,
        state: MemberState,
        events: EventBus,
        logger: logging.Logger,
    ) -> None:
        """Every part of the member over its opened storage and state: the raft node, the
        transport, the applier, the read-index loop; `run` starts their tasks."""
        self.config = config
        self.name = config.name
        self.paths = paths
        self.member_id, self.cluster_id = storage.member_id, storage.cluster_id
        self.logger = logger
        self.events = events
        self._tracer = Tracer(events, self.member_id, self.name)
        self._heartbeat = config.heartbeat_interval_ms / 1000
        self._election_timeout = config.election_timeout_ms / 1000
        self.request_timeout = 5.0 + 2 * self._election_timeout
        """etcd's ReqTimeout: 5 s plus two election timeouts."""
        self._storage = storage
        self._state = state
        self._wait = WaitRegistry()
        self._applied = IndexWaiter()
        self._backend_lock = trio.Lock()
        self._lead = 0
        self._leader_epoch = 0
        self._leader_changed = trio.Event()
        self._role = StateType.FOLLOWER
        self._stopping = False
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._peer_addresses: dict[int, tuple[str, int]] = {}
        self._active_peers: set[int] = set()
        self._watch_sync_wanted = trio.Event()
        self._watch_streams: set[ServerWatchStream] = set()
        self._apply_latency = LatencyWindow()
        self.metrics = MemberMetrics()
        """etcd's Prometheus series for this member, served by the HTTP door's /metrics."""
        self._ids = RequestIdGenerator(self.member_id)
        self._lease_ids = LeaseIdGenerator(self.member_id)
        self.peer_port = 0

        consistent = state.consistent_index
        hard_state, _ = storage.raft_storage.initial_state()
        applied = min(consistent, hard_state.commit, storage.raft_storage.last_index())
        self._applied_at_start = max(applied, storage.raft_storage.snapshot().metadata.index)
        self._applied.advance(max(consistent, self._applied_at_start))
        raw_node = RawNode(
            Config(
                id=self.member_id,
                storage=storage.raft_storage,
                election_tick=config.election_ticks,
                heartbeat_tick=config.heartbeat_ticks,
                applied=self._applied_at_start,
                max_size_per_msg=MAX_SIZE_PER_MSG,
                max_inflight_msgs=MAX_INFLIGHT_MSGS,
                max_uncommitted_entries_size=MAX_UNCOMMITTED_ENTRIES_SIZE,
                check_quorum=True,
                pre_vote=config.pre_vote,
                seed=self.member_id,
            )
        )
        # Unbounded: a slow (or paused) apply never stalls raft's heartbeats; committed entries
        # wait here instead, and the applied index visibly lags the commit index.
        send_apply, self._apply_batches = trio.open_memory_channel[ApplyBatch](math.inf)
        host, port = config.peer_host_ports[0]
        peer_tls = config.peer_tls()
        self.peer_dial_context = None if peer_tls is None else peer_tls.client_context()
        self._transport = Transport(
            self.member_id,
            self.cluster_id,
            host,
            port,
            on_messages=lambda msgs: self._raft_node.on_messages(msgs),
            report_unreachable=lambda peer: self._raft_node.report_unreachable(peer),
            # The transport reports whether the snapshot arrived; raft wants whether it failed.
            report_snapshot=lambda peer, ok: self._raft_node.report_snapshot(peer, not ok),
            on_snapshot=lambda msg: self._raft_node.on_snapshot(msg),
            on_peer_active=self._on_peer_active,
            on_request=functools.partial(answer_peer_request, self._answer_peer),
            seed=self.member_id,
            tls=peer_tls,
        )
        self._raft_node = RaftNode(
            raw_node,
            storage,
            self._transport,
            send_apply,
            heartbeat=self._heartbeat,
            backend=lambda: state.backend,
            backend_lock=self._backend_lock,
            read_states=lambda states: self._read_index_loop.on_read_states(states),
            on_soft_state=self._on_soft_state,
            events=self.events,
            tracer=self._tracer,
            metrics=self.metrics,
            log=self.logger,
        )
        self._faults = MemberFaults(config.enable_fault_injection, self._transport, self._raft_node)
        self._step_mode = MemberStepMode(
            config.enable_fault_injection, self._transport, self._raft_node
        )
        self._read_index_loop = ReadIndexLoop(
            self._raft_node.read_index,
            lambda: self._leader_changed,
            self._applied,
            self._ids.next,
            lambda: self.request_timeout,
            self._tracer,
        )
        self._applier = Applier(
            state,
            self._wait,
            MembershipHooks(
                apply_to_raft=self._raft_node.apply_conf_change,
                add_peer=self._add_peer,
                update_peer=self._add_peer,
                remove_peer=self._remove_peer,
                removed_self=self._removed_self,
            ),
            self.member_id,
            storage.seeds,
            self._tracer,
            self.logger,
        )
        state.backend.batch_limit = config.backend_writes_per_commit
        state.backend.on_commit = self.metrics.backend_commit.observe
        self.metrics.read_gauges(
            MemberGauges(
                has_leader=lambda: self._lead != 0,
                committed_index=lambda: self.committed_index,
                applied_index=lambda: self.applied_index,
                proposals_pending=lambda: len(self._wait),
                db_total_size=lambda: self._state_now.backend.size(),
                db_size_in_use=lambda: self._state_now.backend.size_in_use(),
                server_version=SERVER_VERSION,
                cluster_version=CLUSTER_VERSION.rpartition(".")[0],
            )
        )
        self._compactor = AutoCompactor(
            config.compaction_retention(),
            current_revision=lambda: self._state_now.kv.current_revision,
            compacted_revision=lambda: self._state_now.kv.compact_revision,
            is_leader=lambda: self.is_leader,
            compact=self._auto_compact,
        )
        for member in state.cluster.members():
            self._add_peer(member)
        for member in storage.seeds.values():
            self._add_peer(member)

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[EtcdServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until stop() or cancellation; then waiting requests fail with Stopped."""
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                await self._serve(task_status)
        finally:
            self._stop_serving()

    async def _serve(self, task_status: trio.TaskStatus[EtcdServer]) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.peer_port = await nursery.start(self._transport.serve)
            nursery.start_soon(self._apply_loop, self._apply_batches)
            await nursery.start(self._raft_node.run)
            nursery.start_soon(self._read_index_loop.run)
            nursery.start_soon(self._lease_loop)
            nursery.start_soon(self._watch_loop)
            nursery.start_soon(self._stats_loop)
            nursery.start_soon(self._publish)
            nursery.start_soon(self._compactor.run)
            nursery.start_soon(self._backend_commit_loop)
            self.logger.info(
                "member %x (%s) of cluster %x started: peers on port %d, applied index %d",
                self.member_id,
                self.name,
                self.cluster_id,
                self.peer_port,
                self._applied_at_start,
            )
            task_status.started(self)

    def stop(self) -> None:
        """Stop the member (run() returns after shutting down)."""
        if self._scope is not None:
            self._scope.cancel()

    def _stop_serving(self) -> None:
        self._stopping = True
        stopped = errors.Stopped()
        self._wait.fail_all(stopped)
        self._read_index_loop.fail_waiting(stopped)
        self._leader_changed.set()
        for stream in list(self._watch_streams):
            stream.close()

    def close(self) -> None:
        """Close the member's storage and state (open_etcd_server does, on leaving)."""
        if not self._stopping:
            self._stop_serving()
        self._storage.close()
        self._state.close()
        self.logger.info("member %x stopped", self.member_id)
        self.events.close()

    # -- small accessors ----------------------------------------------------------------------

    @property
    def _state_now(self) -> MemberState:
        if self._stopping:
            raise errors.Stopped()
        return self._state

    @property
    def _auth_store(self) -> AuthStore:
        return self._state_now.auth

    @property
    def _tasks(self) -> trio.Nursery:
        """The nursery of the member's tasks, while it runs."""
        if self._nursery is None:
            raise errors.Stopped()
        return self._nursery

    @property
    def leader_id(self) -> int:
        """The current leader's member id, 0 when none is known."""
        return self._lead

    @property
    def is_leader(self) -> bool:
        """Whether this member leads now."""
        return self._lead == self.member_id and self._role == StateType.LEADER

    @property
    def term(self) -> int:
        """The current raft term."""
        return self._raft_node.raw_node.term

    @property
    def is_learner(self) -> bool:
        """Whether this member is a learner (it then serves status and serializable ranges only).

        As etcd, the membership says so (a joiner knows it from the members it fetched before
        it applied any); raft's tracker only if neither knows this member yet."""
        member = self._state.cluster.member(self.member_id)
        if member is None:
            member = self._storage.seeds.get(self.member_id)
        if member is not None:
            return member.is_learner
        return self._raft_node.raw_node.is_learner(self.member_id)

    @property
    def applied_index(self) -> int:
        """The raft index the state machine has applied."""
        return self._applied.index

    @property
    def committed_index(self) -> int:
        """The raft commit index this member knows."""
        return self._raft_node.raw_node.committed

    @property
    def state(self) -> MemberState:
        """The replicated state machine (key space, lessor, membership); for tests and tools."""
        return self._state_now

    def header(self, revision: int | None = None) -> ResponseHeader:
        """The ResponseHeader of a response at `revision` (default: the current revision)."""
        if revision is None:
            revision = self._state.kv.current_revision
        return ResponseHeader(self.cluster_id, self.member_id, revision, self.term)

    # -- raft callbacks -----------------------------------------------------------------------

    def _on_soft_state(self, soft: SoftState) -> None:
        was_leader = self.is_leader
        if soft.lead != self._lead:
            self._lead = soft.lead
            self._leader_epoch += 1
            self._leader_changed.set()
            self._leader_changed = trio.Event()
            if soft.lead:
                self.metrics.leader_changes.inc()
                self.logger.info(
                    "member %x: leader is now %x (term %d)", self.member_id, soft.lead, self.term
                )
            else:
                self.logger.info("member %x: lost the leader (term %d)", self.member_id, self.term)
        self._role = soft.raft_state
        if self.is_leader and not was_leader:
            self._state.lessor.promote(self._election_timeout)
        elif was_leader and not self.is_leader:
            self._state.lessor.demote()
        self.events.publish(
            "role", role=soft.raft_state.name.lower(), leader=soft.lead, term=self.term
        )

    def _on_peer_active(self, peer_id: int, active: bool) -> None:
        if active:
            self._active_peers.add(peer_id)
        else:
            self._active_peers.discard(peer_id)

    def _add_peer(self, member: Member) -> None:
        """Reach `member` through the transport at its first peer URL (added or moved)."""
        if member.id == self.member_id or not member.peer_urls:
            return
        address = peer_address(member.peer_urls[0])
        known = self._peer_addresses.get(member.id)
        if known == address:
            return
        self._peer_addresses[member.id] = address
        if known is None:
            self._transport.add_peer(member.id, address)
        else:
            self._transport.update_peer(member.id, address)

    def _remove_peer(self, member_id: int) -> None:
        if self._peer_addresses.pop(member_id, None) is not None:
            self._transport.remove_peer(member_id)
        self._active_peers.discard(member_id)

    def _reconcile_peers(self) -> None:
        """Make the transport's peers the applied membership's (after a snapshot)."""
        members = {member.id: member for member in self._state_now.cluster.members()}
        for peer_id in list(self._peer_addresses):
            if peer_id not in members:
                self._remove_peer(peer_id)
        for member in members.values():
            self._add_peer(member)

    def _removed_self(self) -> None:
        self.logger.warning(
            "member %x: the member has been permanently removed from the cluster", self.member_id
        )
        if self._nursery is not None:
            self._nursery.start_soon(self._stop_after, 10 * self._heartbeat)

    async def _stop_after(self, delay: float) -> None:
        await trio.sleep(delay)
        self.stop()

    # -- the apply task -----------------------------------------------------------------------

    async def _apply_loop(self, batches: trio.MemoryReceiveChannel[ApplyBatch]) -> None:
        raft = self._raft_node
        snapshot_count = self.config.snapshot_count
        async with batches:
            async for batch in batches:
                await self._faults.apply_allowed()
                cluster_version = self._state_now.cluster.version
                if batch.snapshot is not None:
                    async with self._backend_lock:
                        self._install_snapshot(batch.snapshot)
                if batch.entries:
                    started = time.perf_counter()
                    self._applier.apply_entries(batch.entries)
                    self._apply_latency.add(time.perf_counter() - started)
                    self._applied.advance(batch.entries[-1].index)
                batch.done.set()
                cluster = self._state_now.cluster
                if cluster.version != cluster_version:
                    self.events.publish(
                        "membership", members=[member_to_wire(mb) for mb in cluster.members()]
                    )
                if snapshot_count and self._applied.index - raft.snapshot_index > snapshot_count:
                    await raft.create_snapshot(self._applied.index, snapshot_count)

    async def _backend_commit_loop(self) -> None:
        """Commit the backend's pending writes every --backend-batch-interval (etcd's
        backend run loop), so they reach the disk without waiting for the batch limit."""
        interval = self.config.backend_batch_interval
        while True:
            await trio.sleep(interval)
            with fatal_storage_errors(COMMIT_TX, self.logger):
                self._state_now.backend.commit()

    def _install_snapshot(self, snapshot: Snapshot) -> None:
        index = snapshot.metadata.index
        if index <= self._applied.index:
            return
        db = self.paths.snapshot_db(index)
        if not db.exists():
            raise RuntimeError(f"member {self.member_id:x}: no backend file {db} for snapshot")
        state = self._state_now
        state.install_backend(self.paths, db)
        self._reconcile_peers()
        self._applied.advance(max(index, state.consistent_index))
        self.logger.info(
            "member %x: installed the backend of the snapshot at index %d (revision %d)",
            self.member_id,
            index,
            state.kv.current_revision,
        )
        self.events.publish("snapshot", action="restored", index=index)
        self._tracer.snapshot_installed(index, state.kv.current_revision)

    # -- proposing ----------------------------------------------------------------------------

    async def _wait_for_leader(self, deadline: float) -> int:
        """The current leader's id, waiting for one until `deadline` (NoLeader then)."""
        while self._lead == 0:
            if self._stopping:
                raise errors.Stopped()
            with trio.move_on_at(deadline):
                await self._leader_changed.wait()
                continue
            raise errors.NoLeader()
        return self._lead

    async def _submit(self, propose: Callable[[], None], deadline: float) -> None:
        """Hand a proposal to raft once there is a leader, retrying dropped ones."""
        while True:
            await self._wait_for_leader(deadline)
            try:
                propose()
                return
            except ProposalDropped:
                with trio.move_on_at(min(deadline, trio.current_time() + self._heartbeat)):
                    await self._leader_changed.wait()
                if trio.current_time() >= deadline:
                    raise errors.Timeout() from None

    async def _replicate(self, request_id: int, propose: Callable[[], None]) -> Any:
        """Propose, then wait for the apply task's outcome of `request_id` (traced as a reply)."""
        try:
            result = await self._propose_and_wait(request_id, propose)
        except errors.EtcdError as exc:
            self._tracer.answered(request_id, None, exc)
            raise
        self._tracer.answered(request_id, result, None)
        return result

    async def _propose_and_wait(self, request_id: int, propose: Callable[[], None]) -> Any:
        if self._stopping:
            raise errors.Stopped()
        pending = self._wait.register(request_id)
        epoch = self._leader_epoch
        deadline = trio.current_time() + self.request_timeout
        try:
            await self._submit(propose, deadline)
            with trio.move_on_at(deadline):
                return await pending.wait()
        except (errors.NoLeader, errors.Timeout):
            self.metrics.proposals_failed.inc()
            raise
        finally:
            self._wait.forget(request_id)
        self.metrics.proposals_failed.inc()
        if self._lead == 0:
            raise errors.NoLeader()
        if self._leader_epoch != epoch:
            raise errors.TimeoutDueToLeaderFail()
        raise errors.Timeout()

    async def _raft_request(self, body: RaftBody, auth: AuthInfo | None = None) -> Any:
        request = RaftRequest(self._ids.next(), body, auth)
        data = request.encode()
        validation.check_proposal_size(data, self.config.max_request_bytes)
        return await self._replicate(request.id, lambda: self._raft_node.propose(data))

    async def _linearizable(self) -> None:
        if self._stopping:
            raise errors.Stopped()
        await self._read_index_loop.linearizable_barrier()

    async def _lease_loop(self) -> None:
        """The leader's lessor duties every 500 ms: revoke expired leases, propose checkpoints."""
        revoking: set[int] = set()
        while True:
            await trio.sleep(LEASE_LOOP_INTERVAL)
            if not self.is_leader:
                continue
            lessor = self._state_now.lessor
            for lease in lessor.expired_leases():
                if lease.id not in revoking:
                    self._tracer.lease("expire", lease.id)
                    revoking.add(lease.id)
                    self._tasks.start_soon(self._revoke_expired, lease.id, self.term, revoking)
            checkpoints = lessor.due_checkpoints()
            if checkpoints:
                request = LeaseCheckpointRequest(
                    [LeaseCheckpoint(c.lease_id, c.remaining_ttl) for c in checkpoints]
                )
                self._tasks.start_soon(self._propose_quietly, request)

    async def _revoke_expired(self, lease_id: int, term: int, revoking: set[int]) -> None:
        """Revoke a lease this leader's lessor found expired, once a ReadIndex round confirms
        it still leads in the term it found it in (etcd's ensureLeadership, etcd #15247): a
        leader that was paused or blocked wakes up believing it leads, and would revoke a
        lease the new leader has kept alive meanwhile."""
        try:
            await self._linearizable()
            if not self.is_leader or self.term != term:
                self.logger.info(
                    "member %x: not revoking expired lease %x: no longer the leader of term %d",
                    self.member_id, lease_id, term,
                )  # fmt: skip
                return
            lease = self._state_now.lessor.lookup(lease_id)
            if lease is None or not lease.expired():
                return
            # as root, as etcd's revokeExpiredLeases (WithRoot): the lease's keys may be anyone's
            await self._raft_request(LeaseRevokeRequest(lease_id), self._auth_store.as_root())
            self.logger.info("member %x: revoked expired lease %x", self.member_id, lease_id)
        except errors.EtcdError as exc:
            self.logger.warning(
                "member %x: revoking expired lease %x failed: %s",
                self.member_id,
                lease_id,
                exc.message,
            )
        finally:
            revoking.discard(lease_id)

    async def _propose_quietly(self, body: RaftBody) -> None:
        try:
            await self._raft_request(body)
        except errors.EtcdError as exc:
            self.logger.warning(
                "member %x: proposal of %s failed: %s",
                self.member_id,
                type(body).__name__,
                exc.message,
            )

    # -- Watch, events, faults ----------------------------------------------------------------

    async def _watch_loop(self) -> None:
        """etcd's syncWatchersLoop and syncVictimsLoop, plus the progress notifier."""
        next_progress = trio.current_time() + WATCH_PROGRESS_INTERVAL
        while True:
            watchable = self._state_now.watchable
            behind = watchable.sync_watchers()
            victims = watchable.sync_victims()
            if trio.current_time() >= next_progress:
                watchable.notify_progress()
                next_progress = trio.current_time() + WATCH_PROGRESS_INTERVAL
            delay = WATCH_VICTIM_INTERVAL if victims or behind else WATCH_SYNC_INTERVAL
            with trio.move_on_after(delay):
                await self._watch_sync_wanted.wait()
            self._watch_sync_wanted = trio.Event()

    async def _stats_loop(self) -> None:
        last = None
        next_peers = trio.current_time()
        while True:
            await trio.sleep(STATS_INTERVAL)
            raft = self._raft_node
            indexes = (self.committed_index, self.applied_index, raft.last_index())
            if indexes != last:
                last = indexes
                self.events.publish(
                    "commit", commit=indexes[0], applied=indexes[1], last_index=indexes[2]
                )
            if trio.current_time() >= next_peers:
                next_peers = trio.current_time() + PEER_STATS_INTERVAL
                self._publish_peer_stats()

    def _publish_peer_stats(self) -> None:
        raft = self._raft_node
        progress = raft.raw_node.status().progress
        transport_peers = self._transport.stats()["peers"]
        peers = {}
        for peer_id, stats in transport_peers.items():
            entry = {
                "address": stats["address"],
                "active": stats["active"],
                "messages_sent": stats["messages_sent"],
                "messages_received": stats["messages_received"],
            }
            pr = progress.get(peer_id)
            if pr is not None:
                entry.update(match=pr.match, next=pr.next, state=pr.state.name.lower())
            peers[f"{peer_id:x}"] = entry
        self.events.publish("peers", peers=peers)
        self.events.publish(
            "latency",
            wal_fsync=raft.fsync_latency.take(),
            apply=self._apply_latency.take(),
        )

    # -- publishing our attributes, and the peer API ------------------------------------------

    async def _publish(self) -> None:
        """etcd's publish: propose our name and client URLs until they are applied."""
        attributes = _member_attributes(self.member_id, self.name, self.config)
        while True:
            try:
                await self._raft_request(attributes)
            except errors.EtcdError as exc:
                self.logger.debug(
                    "member %x: publish failed (%s), retrying", self.member_id, exc.message
                )
                await trio.sleep(self._election_timeout)
                continue
            self.logger.info(
                "member %x: published %s %s to the cluster",
                self.member_id,
                self.name,
                attributes.client_urls,
            )
            return

    async def _answer_peer(self, method: str, body: dict[str, Any]) -> Any:
        if method == "members":
            return {
                "cluster_id": self.cluster_id,
                "members": [member_to_wire(mb) for mb in self._state_now.cluster.members()],
            }
        if body.get("cluster_id") != self.cluster_id:
            raise errors.EtcdError("peer api: cluster ID mismatch")
        if not self.is_leader:
            raise errors.NotLeader()
        if method == "lease_renew":
            return await self._renew_here(int(body["id"]))
        if method == "lease_ttl":
            return await self._time_to_live_here(int(body["id"]), bool(body["keys"]))
        if method == "member_promote":
            return await self._promote_here(int(body["id"]))
        if method == "hand_off_leadership":
            return await self._hand_off_leadership(int(body["id"]))
        raise errors.EtcdError(f"peer api: unknown method {method!r}")


def _member_attributes(member_id: int, name: str, config: ServerConfig) -> MemberAttrSetRequest:
    return MemberAttrSetRequest(member_id, name, list(config.advertise_client_urls))
