"""The v3 API of a member: etcd's v3_server.go (KV, Lease) with the Cluster and Maintenance
calls, as methods EtcdServer inherits.

Each method checks what it must, then reads through a ReadIndex barrier or proposes through
raft with the primitives of etcdserver.py (the lifecycle and the raft loop), which declares
them; V3Server names what it uses of them for the type checker.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from node.lease import MAX_LEASE_TTL, LeaseIdGenerator, NotPrimary
from node.messages import errors
from node.messages.cluster import (
    Member,
    MemberAddRequest,
    MemberAddResponse,
    MemberListRequest,
    MemberListResponse,
    MemberPromoteRequest,
    MemberPromoteResponse,
    MemberRemoveRequest,
    MemberRemoveResponse,
    MemberUpdateRequest,
    MemberUpdateResponse,
)
from node.messages.faults import FaultRequest, FaultResponse
from node.messages.header import ResponseHeader
from node.messages.kv import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from node.messages.lease import (
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
)
from node.messages.maintenance import (
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    DefragmentRequest,
    DefragmentResponse,
    HashKVRequest,
    HashKVResponse,
    HashRequest,
    HashResponse,
    MoveLeaderRequest,
    MoveLeaderResponse,
    SnapshotRequest,
    SnapshotResponse,
    StatusRequest,
    StatusResponse,
)
from node.messages.member_events import STATE_KINDS, chosen_kinds
from node.messages.raft_status import RaftStatusRequest, RaftStatusResponse
from node.messages.step_mode import StepAction, StepRequest, StepResponse
from node.mvcc.backend import Backend, BackendWriteError
from node.raft import (
    ConfChange,
    ConfChangeType,
)
from node.server import txn, validation
from node.server.auth_checks import check_txn
from node.server.auth_tokens import AuthInfo
from node.server.cluster import (
    ConfChangeContext,
    added_member_id,
    member_from_wire,
    member_to_wire,
)
from node.server.config import ServerConfig
from node.server.events import EventBus, EventSubscription
from node.server.faults import MemberFaults
from node.server.flag_values import FlagValueError, parse_url
from node.server.maintenance import backend_hash, backend_snapshot_chunks
from node.server.member_state import MemberState
from node.server.peer_api import PeerUnavailable, call_peer, peer_address
from node.server.raft_node import RaftNode
from node.server.raft_request import RaftBody, RequestIdGenerator
from node.server.step_mode import MemberStepMode
from node.server.trace import Tracer
from node.server.v3_auth import AuthServer
from node.server.wait import IndexWaiter
from node.server.watch_stream import ServerWatchStream

SERVER_VERSION = "3.4.27"
"""What Status reports: an etcd 3.4 version, so etcdctl and clients treat us as 3.4."""
CLUSTER_VERSION = "3.4.0"
"""The cluster version a 3.4 cluster settles on, as /version reports it."""
KV_OVERHEAD = 256
LEASE_OVERHEAD = 64
"""etcd's quota cost estimates for a key's metadata and a lease."""
LEARNER_READY_PERCENT = 0.9
STATE_CAPACITY = 1024
TRACE_CAPACITY = 16384
"""Events an event subscription holds by default (then it drops the oldest)."""

T = TypeVar("T")


class V3Server(AuthServer):
    """etcd's v3 API over the member's raft loop and state; EtcdServer is the one subclass.

    Every client method takes the caller's `auth` (None: no token); with auth off nothing
    looks at it."""

    if TYPE_CHECKING:  # what EtcdServer (etcdserver.py) provides
        config: ServerConfig
        member_id: int
        cluster_id: int
        logger: logging.Logger
        events: EventBus
        request_timeout: float
        peer_dial_context: ssl.SSLContext | None
        _lead: int
        _leader_changed: trio.Event
        _stopping: bool
        _active_peers: set[int]
        _applied: IndexWaiter
        _backend_lock: trio.Lock
        _faults: MemberFaults
        _step_mode: MemberStepMode
        _lease_ids: LeaseIdGenerator
        _ids: RequestIdGenerator
        _raft_node: RaftNode
        _tracer: Tracer
        _watch_streams: set[ServerWatchStream]
        _watch_sync_wanted: trio.Event

        @property
        def _state_now(self) -> MemberState: ...

        @property
        def _tasks(self) -> trio.Nursery: ...

        @property
        def is_leader(self) -> bool: ...

        @property
        def is_learner(self) -> bool: ...

        @property
        def term(self) -> int: ...

        @property
        def applied_index(self) -> int: ...

        @property
        def committed_index(self) -> int: ...

        def header(self, revision: int | None = None) -> ResponseHeader: ...

        async def _raft_request(self, body: RaftBody, auth: AuthInfo | None = None) -> Any: ...

        async def _replicate(self, request_id: int, propose: Callable[[], None]) -> Any: ...

        async def _linearizable(self) -> None: ...

        async def _wait_for_leader(self, deadline: float) -> int: ...

    def _check_not_learner(self) -> None:
        if self.is_learner:
            raise errors.NotSupportedForLearner()

    async def _conf_change(
        self, cc_type: ConfChangeType, member: Member, promote: bool = False
    ) -> list[Member]:
        request_id = self._ids.next()
        context = ConfChangeContext(member, promote, request_id)
        cc = ConfChange(cc_type, member.id, context.encode())
        return await self._replicate(request_id, lambda: self._raft_node.propose_conf_change(cc))

    def _check_quota(self, cost: int) -> None:
        """etcd's backend quota: past it, raise the NOSPACE alarm and refuse the write."""
        quota = self.config.backend_quota_bytes
        state = self._state_now
        if state.alarms.is_raised(AlarmType.NOSPACE):
            raise errors.NoSpace()
        if quota is None or cost == 0 or state.backend.size() + cost < quota:
            return
        self.logger.warning(
            "member %x: backend size %d + %d exceeds the quota %d: raising NOSPACE",
            self.member_id,
            state.backend.size(),
            cost,
            quota,
        )
        self._tasks.start_soon(self._raise_nospace)
        raise errors.NoSpace()

    async def _raise_nospace(self) -> None:
        request = AlarmRequest(AlarmAction.ACTIVATE, self.member_id, AlarmType.NOSPACE)
        try:
            await self._raft_request(request)
        except errors.EtcdError as exc:
            self.logger.warning("member %x: could not raise NOSPACE: %s", self.member_id, exc)

    # -- KV -----------------------------------------------------------------------------------

    async def range(
        self, req: RangeRequest, auth: AuthInfo | None = None
    ) -> RangeResponse:
        """etcd's Range: linearizable unless `serializable`."""
        validation.check_range(req)
        if self._auth_store.enabled:
            self._auth_store.check_range(auth, req.key, req.range_end)
        if not req.serializable:
            self._check_not_learner()
            await self._linearizable()
        state = self._state_now
        if state.alarms.is_raised(AlarmType.CORRUPT):
            raise errors.Corrupt()
        return txn.range(state.kv, req)

    async def put(
        self, req: PutRequest, auth: AuthInfo | None = None
    ) -> PutResponse:
        """etcd's Put, through raft; answered once applied."""
        validation.check_put(req)
        self._check_not_learner()
        self._check_quota(KV_OVERHEAD + len(req.key) + len(req.value))
        return await self._raft_request(req, auth)

    async def delete_range(
        self, req: DeleteRangeRequest, auth: AuthInfo | None = None
    ) -> DeleteRangeResponse:
        """etcd's DeleteRange, through raft."""
        validation.check_delete_range(req)
        self._check_not_learner()
        return await self._raft_request(req, auth)

    async def txn(
        self, req: TxnRequest, auth: AuthInfo | None = None
    ) -> TxnResponse:
        """etcd's Txn; a read-only one is served as a linearizable read."""
        validation.check_txn(req, self.config.max_txn_ops)
        self._check_not_learner()
        if txn.is_read_only(req):
            if self._auth_store.enabled:
                check_txn(self._auth_store, auth, req)
            await self._linearizable()
            return txn.txn(self._state_now.kv, req)
        self._check_quota(_txn_cost(req))
        return await self._raft_request(req, auth)

    async def compact(
        self, req: CompactionRequest, auth: AuthInfo | None = None
    ) -> CompactionResponse:
        """etcd's Compact, through raft: history before `revision` is dropped."""
        self._check_not_learner()
        resp = await self._raft_request(CompactionRequest(req.revision, req.physical), auth)
        resp.header = self.header()
        return resp

    async def _auto_compact(self, revision: int) -> None:
        await self._raft_request(CompactionRequest(revision))

    # -- Lease --------------------------------------------------------------------------------

    async def lease_grant(
        self, req: LeaseGrantRequest, auth: AuthInfo | None = None
    ) -> LeaseGrantResponse:
        """etcd's LeaseGrant, through raft; id 0 lets the server pick one."""
        self._check_not_learner()
        if req.ttl > MAX_LEASE_TTL:
            raise errors.LeaseTTLTooLarge()
        lease_id = req.id or self._lease_ids.next_id()
        self._check_quota(LEASE_OVERHEAD)
        resp = await self._raft_request(LeaseGrantRequest(req.ttl, lease_id), auth)
        resp.header = self.header()
        return resp

    async def lease_revoke(
        self, req: LeaseRevokeRequest, auth: AuthInfo | None = None
    ) -> LeaseRevokeResponse:
        """etcd's LeaseRevoke, through raft: the lease and its keys go."""
        self._check_not_learner()
        resp = await self._raft_request(LeaseRevokeRequest(req.id), auth)
        resp.header = self.header()
        return resp

    async def lease_renew(
        self, req: LeaseKeepAliveRequest, auth: AuthInfo | None = None
    ) -> LeaseKeepAliveResponse:
        """One keep-alive, answered by the leader's lessor (forwarded there from a follower)."""
        self._check_not_learner()
        ttl = await self._on_leader(lambda: self._renew_here(req.id), "lease_renew", {"id": req.id})
        return LeaseKeepAliveResponse(self.header(), req.id, ttl)

    async def _renew_here(self, lease_id: int) -> int:
        await self._wait_applied_caught_up()
        ttl = self._state_now.lessor.renew(lease_id)
        self._tracer.lease("renew", lease_id, ttl)
        return ttl

    async def lease_time_to_live(
        self, req: LeaseTimeToLiveRequest, auth: AuthInfo | None = None
    ) -> LeaseTimeToLiveResponse:
        """etcd's LeaseTimeToLive, answered by the leader; ttl -1 for an unknown lease."""
        self._check_not_learner()
        granted, ttl, keys = await self._on_leader(
            lambda: self._time_to_live_here(req.id, req.keys),
            "lease_ttl",
            {"id": req.id, "keys": req.keys},
        )
        return LeaseTimeToLiveResponse(self.header(), req.id, ttl, granted, list(keys))

    async def _time_to_live_here(self, lease_id: int, keys: bool) -> list:
        await self._wait_applied_caught_up()
        found = self._state_now.lessor.time_to_live(lease_id, keys)
        return [found.granted_ttl, found.ttl, found.keys]

    async def lease_leases(
        self, req: LeaseLeasesRequest, auth: AuthInfo | None = None
    ) -> LeaseLeasesResponse:
        """etcd's LeaseLeases after a ReadIndex barrier."""
        self._check_not_learner()
        await self._linearizable()
        leases = [LeaseStatus(lease.id) for lease in self._state_now.lessor.leases()]
        return LeaseLeasesResponse(self.header(), leases)

    async def _wait_applied_caught_up(self) -> None:
        """The leader answers lease calls only once it applied all it committed (etcd 3.4's
        waitAppliedIndex), so a just-granted lease is known."""
        with trio.move_on_after(self.request_timeout):
            await self._applied.wait_for(self.committed_index)
            return
        raise errors.Timeout()

    async def _on_leader(
        self, here: Callable[[], Awaitable[T]], method: str, body: dict[str, Any]
    ) -> T:
        """Run `here` if this member leads, else ask the leader's peer API; retried across
        leader changes until the request timeout."""
        deadline = trio.current_time() + self.request_timeout
        while True:
            if self.is_leader:
                try:
                    return await here()
                except NotPrimary:
                    pass
            else:
                leader = await self._wait_for_leader(deadline)
                member = self._state_now.cluster.member(leader)
                if member is not None and member.peer_urls:
                    try:
                        return await call_peer(
                            peer_address(member.peer_urls[0]),
                            method,
                            {**body, "cluster_id": self.cluster_id},
                            max(0.01, deadline - trio.current_time()),
                            tls=self.peer_dial_context,
                        )
                    except (PeerUnavailable, errors.NotLeader):
                        pass
            if trio.current_time() >= deadline:
                raise errors.Timeout()
            await trio.sleep(min(0.05, max(0.0, deadline - trio.current_time())))

    # -- Cluster ------------------------------------------------------------------------------

    async def member_add(
        self, req: MemberAddRequest, auth: AuthInfo | None = None
    ) -> MemberAddResponse:
        """etcd's MemberAdd: the new id comes from the peer URLs and the current second, then
        etcd's strict reconfiguration checks (mayAddMember) run before proposing; the applied
        membership's checks (ValidateConfigurationChange) run when the entry is applied."""
        self._check_not_learner()
        self._check_admin(auth)
        urls = _checked_urls(req.peer_urls)
        member = Member(added_member_id(urls, time.time()), "", urls, [], req.is_learner)
        if not req.is_learner and not self._state_now.cluster.is_ready_to_add_voting_member():
            raise errors.MemberNotEnoughStarted()
        if not self._connected_to_voters():
            raise errors.Unhealthy()
        cc_type = ConfChangeType.ADD_LEARNER_NODE if req.is_learner else ConfChangeType.ADD_NODE
        members = await self._conf_change(cc_type, member)
        return MemberAddResponse(self.header(), member, members)

    def _connected_to_voters(self) -> bool:
        voters = [v.id for v in self._state_now.cluster.voting_members() if v.id != self.member_id]
        return all(v in self._active_peers for v in voters)

    async def member_remove(
        self, req: MemberRemoveRequest, auth: AuthInfo | None = None
    ) -> MemberRemoveResponse:
        """etcd's MemberRemove; the removed member stops itself. A leader to be removed first
        hands leadership to another voter, so the cluster is never without one (below).

        As etcd, an id this member does not know is not refused here but when the change is
        applied: a member still catching up would otherwise say "member not found" of one
        the cluster has."""
        self._check_not_learner()
        self._check_admin(auth)
        cluster = self._state_now.cluster
        target = cluster.member(req.id)
        if target is None or not target.is_learner:
            if not cluster.is_ready_to_remove_voting_member(req.id):
                raise errors.MemberNotEnoughStarted()
            if req.id != self.member_id and req.id in self._active_peers:
                voters = cluster.voting_members()
                active = 1 + sum(1 for v in voters if v.id in self._active_peers)
                if active - 1 < 1 + (len(voters) - 1) // 2:
                    raise errors.Unhealthy()
        if target is not None and not target.is_learner and req.id == self._lead:
            await self._on_leader(
                lambda: self._hand_off_leadership(req.id),
                "hand_off_leadership",
                {"id": req.id},
            )
        members = await self._conf_change(ConfChangeType.REMOVE_NODE, Member(req.id))
        return MemberRemoveResponse(self.header(), members)

    async def _hand_off_leadership(self, leaving: int) -> None:
        """The leader about to be removed hands leadership to the most up-to-date voter
        connected to it and waits until that one leads; then the removal commits in the new
        leader's term, and a write right after it finds a leader in place.

        A removed leader left alone steps down when it applies its removal, and the rest wait
        an election timeout before electing one (etcd-io/raft's switchToConfig leaves asking
        the follower with the largest match to campaign as a TODO; etcd's graceful Stop does
        the same hand-off, TransferLeadership). A hand-off that fails is logged and the removal
        goes ahead, as etcd's Stop goes ahead."""
        if leaving != self.member_id:  # leadership moved since the caller looked
            return
        progress = self._raft_node.raw_node.status().progress
        others = [
            v.id
            for v in self._state_now.cluster.voting_members()
            if v.id != self.member_id and v.id in self._active_peers and v.id in progress
        ]
        if not others:
            return
        transferee = max(others, key=lambda member_id: (progress[member_id].match, -member_id))
        self.logger.info(
            "member %x: handing leadership to %x before its removal", self.member_id, transferee
        )
        self._raft_node.transfer_leader(transferee)
        with trio.move_on_after(self.request_timeout):
            while self._lead != transferee:
                if self._stopping:
                    raise errors.Stopped()
                await self._leader_changed.wait()
            return
        self.logger.warning(
            "member %x: leadership transfer to %x before removal failed: %s",
            self.member_id,
            transferee,
            errors.TimeoutLeaderTransfer.message,
        )

    async def member_update(
        self, req: MemberUpdateRequest, auth: AuthInfo | None = None
    ) -> MemberUpdateResponse:
        """etcd's MemberUpdate: new peer URLs for a member."""
        self._check_not_learner()
        self._check_admin(auth)
        urls = _checked_urls(req.peer_urls)
        members = await self._conf_change(
            ConfChangeType.UPDATE_NODE, Member(req.id, peer_urls=urls)
        )
        return MemberUpdateResponse(self.header(), members)

    async def member_list(
        self, req: MemberListRequest, auth: AuthInfo | None = None
    ) -> MemberListResponse:
        """The applied membership, from this member (etcd 3.4 answers locally)."""
        self._check_not_learner()
        return MemberListResponse(self.header(), self._state_now.cluster.members())

    async def member_promote(
        self, req: MemberPromoteRequest, auth: AuthInfo | None = None
    ) -> MemberPromoteResponse:
        """Promote a learner; the leader checks it is in sync (a follower forwards)."""
        self._check_not_learner()
        self._check_admin(auth)
        wires = await self._on_leader(
            lambda: self._promote_here(req.id), "member_promote", {"id": req.id}
        )
        return MemberPromoteResponse(self.header(), [member_from_wire(w) for w in wires])

    async def _promote_here(self, member_id: int) -> list[list]:
        cluster = self._state_now.cluster
        member = cluster.member(member_id)
        if member is None:
            raise errors.MemberNotFound()
        if not member.is_learner:
            raise errors.MemberNotLearner()
        if not cluster.is_ready_to_promote_member(member_id):
            raise errors.MemberNotEnoughStarted()
        progress = self._raft_node.raw_node.status().progress
        if not progress:
            raise errors.NotLeader()
        learner = progress.get(member_id)
        leader = progress.get(self.member_id)
        if (
            learner is not None
            and leader is not None
            and learner.match < leader.match * LEARNER_READY_PERCENT
        ):
            raise errors.LearnerNotReady()
        members = await self._conf_change(ConfChangeType.ADD_NODE, Member(member_id), promote=True)
        return [member_to_wire(mb) for mb in members]

    # -- Maintenance --------------------------------------------------------------------------

    async def status(
        self, req: StatusRequest, auth: AuthInfo | None = None
    ) -> StatusResponse:
        """etcd's Status of this member (answered by learners too)."""
        state = self._state_now
        resp = StatusResponse(
            header=self.header(),
            version=SERVER_VERSION,
            db_size=state.backend.size(),
            leader=self._lead,
            raft_index=self.committed_index,
            raft_term=self.term,
            raft_applied_index=self.applied_index,
            db_size_in_use=state.backend.size_in_use(),
            is_learner=self.is_learner,
        )
        if self._lead == 0:
            resp.errors.append(errors.NoLeader.message)
        resp.errors.extend(str(alarm) for alarm in state.alarms.get())
        return resp

    def active_alarms(self) -> list[AlarmMember]:
        """The alarms raised in the cluster, as this member has applied them (etcd's Alarms())."""
        return self._state_now.alarms.get()

    async def raft_status(
        self, req: RaftStatusRequest, auth: AuthInfo | None = None
    ) -> RaftStatusResponse:
        """Ours: this member's role, term, vote, leader and log indexes, as raft sees them."""
        raw_node = self._raft_node.raw_node
        status = raw_node.status()
        return RaftStatusResponse(
            header=self.header(),
            role=status.raft_state.name.lower(),
            term=status.term,
            vote=status.vote,
            leader=status.lead,
            last_index=raw_node.last_index(),
            commit=status.commit,
            applied=self.applied_index,
        )

    async def hash(
        self, req: HashRequest, auth: AuthInfo | None = None
    ) -> HashResponse:
        """etcd's Hash: CRC-32C of this member's whole backend."""
        self._check_not_learner()
        self._check_maintenance_admin(auth)
        return HashResponse(self.header(), backend_hash(self._state_now.backend))

    async def hash_kv(
        self, req: HashKVRequest, auth: AuthInfo | None = None
    ) -> HashKVResponse:
        """etcd's HashKV: the key space's hash at a revision (0: current)."""
        self._check_not_learner()
        self._check_maintenance_admin(auth)
        found = self._state_now.kv.hash_kv(req.revision)
        # etcd reports -1 until the first compaction (its compactMainRev starts there).
        compacted = found.compact_revision if found.compact_revision > 0 else -1
        return HashKVResponse(self.header(found.revision), found.hash, compacted)

    def snapshot(
        self, req: SnapshotRequest, auth: AuthInfo | None = None
    ) -> AsyncIterator[SnapshotResponse]:
        """A consistent copy of the backend as etcd's Snapshot stream (see maintenance.py)."""
        self._check_not_learner()
        self._check_maintenance_admin(auth)
        return self._snapshot_stream(self._state_now.backend)

    async def _snapshot_stream(self, backend: Backend) -> AsyncIterator[SnapshotResponse]:
        header = self.header()
        async with aclosing(backend_snapshot_chunks(backend, self._backend_lock)) as chunks:
            async for chunk in chunks:
                chunk.header = header
                yield chunk

    async def alarm(
        self, req: AlarmRequest, auth: AuthInfo | None = None
    ) -> AlarmResponse:
        """etcd's Alarm: GET, ACTIVATE or DEACTIVATE, through raft."""
        self._check_not_learner()
        resp = await self._raft_request(AlarmRequest(req.action, req.member_id, req.alarm), auth)
        resp.header = self.header()
        return resp

    async def defragment(
        self, req: DefragmentRequest, auth: AuthInfo | None = None
    ) -> DefragmentResponse:
        """Rewrite this member's backend file without free pages (blocks the member briefly)."""
        self._check_not_learner()
        self._check_maintenance_admin(auth)
        state = self._state_now
        async with self._backend_lock:
            before = state.backend.size()
            try:
                state.backend.defragment()
            except BackendWriteError as exc:
                # As etcd, a defragment that does not fit fails and the member goes on.
                raise errors.EtcdError(str(exc)) from exc
        self.logger.info(
            "member %x: defragmented the backend from %d to %d bytes",
            self.member_id,
            before,
            state.backend.size(),
        )
        return DefragmentResponse(self.header())

    async def move_leader(
        self, req: MoveLeaderRequest, auth: AuthInfo | None = None
    ) -> MoveLeaderResponse:
        """Hand leadership to `target_id` and wait until it leads (on the leader only)."""
        self._check_not_learner()
        self._check_maintenance_admin(auth)
        if not self.is_leader:
            raise errors.NotLeader()
        target = self._state_now.cluster.member(req.target_id)
        if target is None or target.is_learner:
            raise errors.BadLeaderTransferee()
        self._raft_node.transfer_leader(req.target_id)
        with trio.move_on_after(self.request_timeout):
            while self._lead != req.target_id:
                await self._leader_changed.wait()
            return MoveLeaderResponse(self.header())
        raise errors.TimeoutLeaderTransfer()

    def watch_permitted(self, auth: AuthInfo | None, key: bytes, range_end: bytes) -> bool:
        """Whether `auth` may watch the key or range (checked when a watch is created)."""
        store = self._auth_store
        if not store.enabled:
            return True
        try:
            store.check_range(auth, key, range_end)
        except errors.EtcdError:
            return False
        return True

    def new_watch_stream(self) -> ServerWatchStream:
        """A watch stream on this member's key space (see watch_stream.py)."""
        self._check_not_learner()
        stream = ServerWatchStream(
            self._state_now.watchable.new_stream(),
            self._watch_sync_wanted.set,
            self._watch_streams.discard,
        )
        self._watch_streams.add(stream)
        return stream

    def subscribe_events(
        self, capacity: int | None = None, kinds: Iterable[str] | None = None
    ) -> EventSubscription:
        """A bounded subscription to this member's events of `kinds` (node.messages.
        member_events.chosen_kinds: the state kinds by default, `trace` for every trace kind);
        it holds `capacity` events, by default 1024, or 16384 when it takes trace events."""
        chosen = chosen_kinds(kinds)
        if capacity is None:
            capacity = STATE_CAPACITY if chosen <= STATE_KINDS else TRACE_CAPACITY
        return self.events.subscribe(capacity, chosen)

    async def inject_fault(
        self, req: FaultRequest, auth: AuthInfo | None = None
    ) -> FaultResponse:
        """Isolate, degrade links, delay fsync, pause apply, or heal (fault injection only;
        root only while auth is on)."""
        self._check_admin(auth)
        faults = self._faults.inject(req)
        self.logger.warning(
            "member %x: fault injected: %s %s", self.member_id, req.kind.name.lower(), faults
        )
        return FaultResponse(self.header(), faults)

    async def step(self, req: StepRequest, auth: AuthInfo | None = None) -> StepResponse:
        """Ours: step mode: hold, deliver, drop, tick or release (fault injection only; root
        only while auth is on)."""
        self._check_admin(auth)
        resp = self._step_mode.act(req)
        resp.header = self.header()
        if req.action != StepAction.HELD:
            self.logger.info(
                "member %x: step mode %s: %d done, %d held",
                self.member_id, req.action.name.lower(), len(resp.done), len(resp.held),
            )
        return resp


def _txn_cost(req: TxnRequest) -> int:
    cost = 0
    for op in (*req.success, *req.failure):
        if op.request_put is not None:
            cost += KV_OVERHEAD + len(op.request_put.key) + len(op.request_put.value)
        elif op.request_txn is not None:
            cost += _txn_cost(op.request_txn)
    return cost


def _checked_urls(urls: list[str]) -> list[str]:
    if not urls:
        raise errors.MemberBadURLs()
    try:
        return sorted(parse_url(url) for url in urls)
    except FlagValueError:
        raise errors.MemberBadURLs() from None
