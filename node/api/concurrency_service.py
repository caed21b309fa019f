"""etcd's Lock and Election services: locks and leader elections made of keys, leases and watches.

As etcd's v3lock and v3election, these are recipes over the key space rather than server state:
a contender puts `<name>/<lease id in hex>` under its lease; the contender whose key has the
lowest create revision holds the lock (or leads); the others wait, each for the deletion of
the key created just before its own. A key disappears when its owner unlocks or resigns, or
when its lease ends, so a crashed holder never blocks the rest for longer than its lease.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from node.messages import errors
from node.messages.concurrency import (
    CampaignRequest,
    CampaignResponse,
    LeaderKey,
    LeaderRequest,
    LeaderResponse,
    LockRequest,
    LockResponse,
    ProclaimRequest,
    ProclaimResponse,
    ResignRequest,
    ResignResponse,
    UnlockRequest,
    UnlockResponse,
)
from node.messages.key_value import EventType, KeyValue
from node.messages.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RangeResponse,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)
from node.messages.lease import LeaseGrantRequest

if TYPE_CHECKING:
    from node.mvcc.watcher import WatchResponse
    from node.server.auth_tokens import AuthInfo
    from node.server.etcdserver import EtcdServer
    from node.server.watch_stream import ServerWatchStream

SESSION_TTL = 60
"""Seconds of the lease a contender gets when it names none (etcd's default session TTL)."""


def _prefix_end(prefix: bytes) -> bytes:
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else b"\0"


def _first_created(prefix: bytes, max_create_revision: int = 0) -> RangeRequest:
    """The key under `prefix` created first (or, with a bound, created last up to it)."""
    order = SortOrder.DESCEND if max_create_revision else SortOrder.ASCEND
    return RangeRequest(
        key=prefix,
        range_end=_prefix_end(prefix),
        limit=1,
        sort_order=order,
        sort_target=SortTarget.CREATE,
        max_create_revision=max_create_revision,
    )


def _created_at(key: bytes, revision: int) -> Compare:
    return Compare(CompareResult.EQUAL, CompareTarget.CREATE, key, create_revision=revision)


class ConcurrencyService:
    """Lock, Unlock, Campaign, Proclaim, Leader, Observe and Resign over one EtcdServer."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    async def _lease(self, lease: int, auth: AuthInfo | None) -> int:
        if lease:
            return lease
        return (await self.server.lease_grant(LeaseGrantRequest(ttl=SESSION_TTL), auth)).id

    async def _contend(
        self, prefix: bytes, lease: int, value: bytes, auth: AuthInfo | None
    ) -> tuple[bytes, int, int]:
        """Put our key under `prefix` unless it is there; wait until it is the oldest one.

        Returns (key, its create revision, the revision the wait ended at).
        """
        key = prefix + b"%x" % lease
        created = await self.server.txn(
            TxnRequest(
                compare=[_created_at(key, 0)],
                success=[RequestOp(request_put=PutRequest(key, value, lease))],
                failure=[RequestOp(request_range=RangeRequest(key))],
            ),
            auth,
        )
        revision = created.revision
        if not created.succeeded:
            ours = created.responses[0]
            assert isinstance(ours, RangeResponse)  # the failure branch reads our key
            revision = ours.kvs[0].create_revision
        return key, revision, await self._wait_for_older_deleted(
            prefix, revision - 1, revision, auth
        )

    async def _wait_for_older_deleted(
        self, prefix: bytes, max_create: int, revision: int, auth: AuthInfo | None
    ) -> int:
        """etcd's waitDeletes: until no key under `prefix` was created at or before max_create."""
        while True:
            older: RangeResponse = await self.server.range(
                _first_created(prefix, max_create), auth
            )
            if not older.kvs:
                return max(revision, older.revision)
            await self._wait_deleted(older.kvs[0].key, older.revision)

    async def _wait_deleted(self, key: bytes, revision: int) -> None:
        stream = self.server.new_watch_stream()
        try:
            stream.watch(key, start_revision=revision)
            while True:
                for response in await _received(stream):
                    if response.compact_revision:
                        raise errors.Compacted()
                    if any(event.type is EventType.DELETE for event in response.events):
                        return
        finally:
            stream.close()

    # -- Lock ----------------------------------------------------------------------------------

    async def lock(self, request: LockRequest, auth: AuthInfo | None = None) -> LockResponse:
        """Wait until the lock `name` is ours; its key is the proof (and what Unlock takes)."""
        lease = await self._lease(request.lease, auth)
        key, _, revision = await self._contend(request.name + b"/", lease, b"", auth)
        return LockResponse(self.server.header(revision), key)

    async def unlock(self, request: UnlockRequest, auth: AuthInfo | None = None) -> UnlockResponse:
        deleted = await self.server.delete_range(DeleteRangeRequest(request.key), auth)
        return UnlockResponse(self.server.header(deleted.revision))

    # -- Election ------------------------------------------------------------------------------

    async def campaign(
        self, request: CampaignRequest, auth: AuthInfo | None = None
    ) -> CampaignResponse:
        """Wait until we lead election `name`; a contender already in it proclaims its value."""
        lease = await self._lease(request.lease, auth)
        prefix = request.name + b"/"
        key = prefix + b"%x" % lease
        created = await self.server.txn(
            TxnRequest(
                compare=[_created_at(key, 0)],
                success=[RequestOp(request_put=PutRequest(key, request.value, lease))],
                failure=[RequestOp(request_range=RangeRequest(key))],
            ),
            auth,
        )
        revision = created.revision
        if not created.succeeded:
            ours = created.responses[0]
            assert isinstance(ours, RangeResponse)  # the failure branch reads our key
            existing = ours.kvs[0]
            revision = existing.create_revision
            if existing.value != request.value:
                leader = LeaderKey(request.name, key, revision, lease)
                await self.proclaim(ProclaimRequest(leader, request.value), auth)
        await self._wait_for_older_deleted(prefix, revision - 1, revision, auth)
        leader = LeaderKey(request.name, key, revision, lease)
        return CampaignResponse(self.server.header(created.revision), leader)

    async def proclaim(
        self, request: ProclaimRequest, auth: AuthInfo | None = None
    ) -> ProclaimResponse:
        """Publish a new value as leader; ElectionNotLeader if `leader` no longer leads."""
        leader = request.leader or LeaderKey()
        put = PutRequest(leader.key, request.value, ignore_lease=True)
        proclaimed = await self.server.txn(
            TxnRequest(
                compare=[_created_at(leader.key, leader.rev)],
                success=[RequestOp(request_put=put)],
            ),
            auth,
        )
        if not proclaimed.succeeded:
            raise errors.ElectionNotLeader()
        return ProclaimResponse(self.server.header(proclaimed.revision))

    async def leader(self, request: LeaderRequest, auth: AuthInfo | None = None) -> LeaderResponse:
        """The current leader's key-value; ElectionNoLeader when nobody leads."""
        first = await self.server.range(_first_created(request.name + b"/"), auth)
        if not first.kvs:
            raise errors.ElectionNoLeader()
        return LeaderResponse(self.server.header(first.revision), first.kvs[0])

    async def resign(self, request: ResignRequest, auth: AuthInfo | None = None) -> ResignResponse:
        """Step down: delete the leader key if it is still the one `leader` names."""
        leader = request.leader or LeaderKey()
        resigned = await self.server.txn(
            TxnRequest(
                compare=[_created_at(leader.key, leader.rev)],
                success=[RequestOp(request_delete_range=DeleteRangeRequest(leader.key))],
            ),
            auth,
        )
        return ResignResponse(self.server.header(resigned.revision))

    async def observe(
        self,
        request: LeaderRequest,
        send: Callable[[LeaderResponse], Awaitable[None]],
        auth: AuthInfo | None = None,
    ) -> None:
        """Send the leader's key-value, then every new value and every new leader, as etcd."""
        prefix = request.name + b"/"
        while True:
            first = await self.server.range(_first_created(prefix), auth)
            if first.kvs:
                leader, revision = first.kvs[0], first.revision
            else:
                leader, revision = await self._first_put(prefix, first.revision)
            await send(LeaderResponse(self.server.header(revision), leader))
            await self._follow(leader.key, revision + 1, send)

    async def _first_put(self, prefix: bytes, revision: int) -> tuple[KeyValue, int]:
        stream = self.server.new_watch_stream()
        try:
            stream.watch(prefix, _prefix_end(prefix), start_revision=revision)
            while True:
                for response in await _received(stream):
                    for event in response.events:
                        if event.type is EventType.PUT:
                            return event.kv, event.kv.mod_revision
        finally:
            stream.close()

    async def _follow(
        self, key: bytes, revision: int, send: Callable[[LeaderResponse], Awaitable[None]]
    ) -> None:
        """Send each new value of the leader's key until it is deleted."""
        stream = self.server.new_watch_stream()
        try:
            stream.watch(key, start_revision=revision)
            while True:
                for response in await _received(stream):
                    for event in response.events:
                        if event.type is EventType.DELETE:
                            return
                        await send(LeaderResponse(self.server.header(response.revision), event.kv))
        finally:
            stream.close()


async def _received(stream: ServerWatchStream) -> list[WatchResponse]:
    """The next watch responses; Stopped when the member closed the stream."""
    responses = await stream.receive()
    if not responses:
        raise errors.Stopped()
    return responses
