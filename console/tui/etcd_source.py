"""A real etcd as a data source, over its v3 gRPC API (node.client's GrpcClient).

etcd streams no events and no log, so each member is followed by polling Maintenance.Status:
role, term, leader, commit and applied index and db size are what etcd tells; the replication
bars and logs stay empty. Keys and watches go to the first endpoint that answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import grpc

from console.tui.cluster_view import ClusterView, LiveMember, StatusReport
from console.tui.records import KeyPage, KeyRecord, WatchEvent, WatchSpec
from console.tui.source import SourceUnavailable, WatchCanceled, WatchDelivery
from node.client.client_tls import ClientTls
from node.client.failures import NoEndpointAvailable
from node.client.grpc_client import GrpcClient, Stubs, grpc_call
from node.client.requests import key_range
from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.mvccpb import kv_pb2

CALL_TIMEOUT = 2.0
STATUS_INTERVAL = 0.5
"""etcd has no event stream: its status is asked this often (seconds)."""
_Reply = TypeVar("_Reply")


def _key_record(kv: kv_pb2.KeyValue) -> KeyRecord:
    return KeyRecord(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


class EtcdSource:
    """A real etcd cluster, reached at its client URLs (as `user` when given)."""

    streams_logs = False
    streams_trace = False

    def __init__(
        self,
        endpoints: list[str],
        tls: ClientTls | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self._grpc = GrpcClient(endpoints, tls, user=user, password=password)
        self.endpoints = self._grpc.endpoints
        self.label = f"etcd {','.join(self.endpoints)}"

    async def run(self) -> None:
        """Keep the channels until cancelled, then close them."""
        async with self._grpc:
            await anyio.sleep_forever()

    async def _call(self, call: Callable[[Stubs], Awaitable[_Reply]]) -> _Reply:
        """Run `call` on the current endpoint, moving on to the next ones while unreachable."""
        try:
            return await self._grpc.call(call)
        except NoEndpointAvailable as unreachable:
            last = unreachable.__cause__
            reason = last.details() if isinstance(last, grpc.aio.AioRpcError) else "no endpoint"
            raise SourceUnavailable(f"no etcd endpoint answers ({reason})") from None

    # -- members --------------------------------------------------------------------------------

    async def follow(self, member: LiveMember, cluster: ClusterView) -> None:
        """Poll one member's Maintenance.Status until cancelled."""
        stubs = self._grpc.stubs(member.endpoint)
        named = False
        while True:
            try:
                reply = await grpc_call(
                    stubs.maintenance.Status(rpc_pb2.StatusRequest(), timeout=CALL_TIMEOUT)
                )
                if not named:
                    members = await grpc_call(
                        stubs.cluster.MemberList(rpc_pb2.MemberListRequest(), timeout=CALL_TIMEOUT)
                    )
            except grpc.aio.AioRpcError as error:
                member.lose(error.details() or error.code().name.lower())
                named = False
            else:
                member.apply_status(
                    StatusReport(
                        member_id=reply.header.member_id,
                        leader=reply.leader,
                        term=reply.raftTerm,
                        raft_index=reply.raftIndex,
                        applied_index=reply.raftAppliedIndex,
                        db_size=reply.dbSize,
                        db_size_in_use=reply.dbSizeInUse,
                        is_learner=reply.isLearner,
                        errors=list(reply.errors),
                    )
                )
                if not named:
                    cluster.learn_names({m.ID: m.name for m in members.members})
                    named = True
            await anyio.sleep(STATUS_INTERVAL)

    # -- keys and watches -------------------------------------------------------------------------

    async def keys(self, start: bytes, end: bytes, limit: int) -> KeyPage:
        """A keys-only KV.Range page."""
        request = rpc_pb2.RangeRequest(key=start, range_end=end, limit=limit, keys_only=True)
        reply = await self._call(lambda stubs: stubs.kv.Range(request, timeout=CALL_TIMEOUT))
        return KeyPage([kv.key for kv in reply.kvs], reply.more)

    async def get(self, key: bytes, revision: int = 0) -> KeyRecord | None:
        """One key at a revision, by KV.Range."""
        request = rpc_pb2.RangeRequest(key=key, revision=revision)
        reply = await self._call(lambda stubs: stubs.kv.Range(request, timeout=CALL_TIMEOUT))
        return _key_record(reply.kvs[0]) if reply.kvs else None

    async def lease_remaining(self, lease_id: int) -> int:
        """Lease.LeaseTimeToLive's TTL."""
        request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id)
        reply = await self._call(
            lambda stubs: stubs.lease.LeaseTimeToLive(request, timeout=CALL_TIMEOUT)
        )
        return reply.TTL

    async def watch(
        self, spec: WatchSpec, created: Callable[[], None], deliver: WatchDelivery
    ) -> None:
        """One Watch.Watch stream on the current endpoint."""
        key, range_end = key_range(spec.key, spec.range_end, spec.prefix)
        create = rpc_pb2.WatchCreateRequest(
            key=key, range_end=range_end, start_revision=spec.start_revision
        )
        endpoint = self._grpc.endpoint
        call = self._grpc.stubs(endpoint).watch.Watch()
        try:
            await call.write(rpc_pb2.WatchRequest(create_request=create))
            async for response in call:
                if response.created:
                    created()
                if response.canceled:
                    reason = response.cancel_reason or "the watch was canceled"
                    if response.compact_revision:
                        reason += f" (compacted at revision {response.compact_revision})"
                    raise WatchCanceled(reason)
                if response.events:
                    deliver([_watch_event(event) for event in response.events])
        except grpc.aio.AioRpcError as error:
            raise SourceUnavailable(f"{endpoint}: {error.details()}") from None
        finally:
            call.cancel()


def _watch_event(event: kv_pb2.Event) -> WatchEvent:
    kind = "DELETE" if event.type == kv_pb2.Event.DELETE else "PUT"
    return WatchEvent(kind, event.kv.key, event.kv.value, event.kv.mod_revision)
