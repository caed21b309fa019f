"""Members of ours as a data source: node.client calls, and each member's Admin.Events stream.

Keys and watches go through one client of the whole cluster, which follows the membership
(auto-sync). Each followed member gets a client of its own (events must come from that
member, never from another one the client failed over to). A status call every second both
refreshes what events do not carry (db size, alarms) and notices a member that stopped
answering, such as a paused process whose connection stays open."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from console.timeline import dropped_text
from console.tui.cluster_view import ClusterView, LiveMember, StatusReport
from console.tui.records import KeyPage, KeyRecord, WatchEvent, WatchSpec
from console.tui.source import SourceUnavailable, WatchCanceled, WatchDelivery
from node.client import (
    Client,
    ClientTls,
    MemberEndpoints,
    Response,
    as_dict,
    default_member_endpoints,
)
from node.messages.errors import EtcdError
from node.messages.member_events import ALL_TRACE, STATE_KINDS

CALL_TIMEOUT = 2.0
"""Seconds one call to a member may take before the member counts as unreachable."""
STATUS_INTERVAL = 1.0
RECONNECT_INTERVAL = 0.5
SYNC_INTERVAL = 1.0
"""Seconds between two looks at the member list by the cluster client."""
READY_TIMEOUT = 5.0
"""Seconds a call waits for the cluster client to be running before giving up."""
DASHBOARD_KINDS = (*sorted(STATE_KINDS), ALL_TRACE)
"""What the dashboard asks each member for: its state events, and every trace event."""
FAILURES = (EtcdError, OSError, TimeoutError, anyio.BrokenResourceError)


def describe_failure(error: BaseException) -> str:
    """One line saying why a call failed (the first failure of a group)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    if isinstance(error, TimeoutError):
        return "no answer"
    if isinstance(error, EtcdError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def status_report(reply: Response) -> StatusReport:
    """A native Maintenance.Status reply as the dashboard's record."""
    return StatusReport(
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


class NativeSource:
    """Members of ours, reached through their native endpoints."""

    streams_logs = True
    streams_trace = True

    def __init__(
        self,
        endpoints: list[str],
        member_endpoints: MemberEndpoints = default_member_endpoints,
        tls: ClientTls | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self._endpoints = list(endpoints)
        self._tls = tls
        self._user, self._password = user, password
        self._member_endpoints = member_endpoints
        self._client: Client | None = None
        self._running: anyio.Event | None = None
        self.label = f"native {','.join(endpoints)}"

    @property
    def endpoints(self) -> list[str]:
        """The members' endpoints, as the cluster client last synced them."""
        return self._endpoints if self._client is None else self._client.endpoints

    def _running_event(self) -> anyio.Event:
        if self._running is None:
            self._running = anyio.Event()
        return self._running

    async def run(self) -> None:
        """Run the cluster client (it fails over and follows the members) until cancelled."""
        client = Client(
            self._endpoints,
            timeout=CALL_TIMEOUT,
            auto_sync_interval=SYNC_INTERVAL,
            member_endpoints=self._member_endpoints,
            tls=self._tls,
            user=self._user,
            password=self._password,
        )
        async with client:
            self._client = client
            self._running_event().set()
            try:
                await anyio.sleep_forever()
            finally:
                self._endpoints, self._client = client.endpoints, None

    async def _connected(self) -> Client:
        with anyio.move_on_after(READY_TIMEOUT):
            await self._running_event().wait()
        if self._client is None:
            raise SourceUnavailable(f"no member answers at {', '.join(self.endpoints)}")
        return self._client

    # -- members --------------------------------------------------------------------------------

    async def follow(self, member: LiveMember, cluster: ClusterView) -> None:
        """Follow one member's status and event stream, reconnecting after each loss."""
        while True:
            try:
                with anyio.fail_after(CALL_TIMEOUT):
                    client = await Client.connect(
                        [member.endpoint], timeout=CALL_TIMEOUT, tls=self._tls
                    )
            except FAILURES as error:
                member.lose(describe_failure(error))
            else:
                try:
                    async with client:
                        await self._follow_connected(client, member, cluster)
                except* FAILURES as lost:
                    member.lose(describe_failure(lost))
            await anyio.sleep(RECONNECT_INTERVAL)

    async def _follow_connected(
        self, client: Client, member: LiveMember, cluster: ClusterView
    ) -> None:
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                report = status_report(await client.status())
                members = await client.member_list()
        except FAILURES as error:
            member.lose(describe_failure(error))
            return
        member.apply_status(report)
        cluster.learn_names({m.ID: m.name for m in members.members})
        async with anyio.create_task_group() as group:
            group.start_soon(self._poll_status, client, member, group.cancel_scope)
            group.start_soon(self._read_events, client, member, cluster, group.cancel_scope)

    async def _poll_status(
        self, client: Client, member: LiveMember, scope: anyio.CancelScope
    ) -> None:
        while True:
            await anyio.sleep(STATUS_INTERVAL)
            try:
                with anyio.fail_after(CALL_TIMEOUT):
                    report = status_report(await client.status())
            except FAILURES as error:
                member.lose(describe_failure(error))
                scope.cancel()
                return
            member.apply_status(report)

    async def _read_events(
        self, client: Client, member: LiveMember, cluster: ClusterView, scope: anyio.CancelScope
    ) -> None:
        """Take in the member's events until its stream ends or the member is lost (a failed
        status call cancels this too); either way the timeline marks the gap that begins."""
        dropped, streaming = 0, False
        try:
            async with client.events(DASHBOARD_KINDS) as events:
                streaming = True
                async for event in events:
                    if event.dropped > dropped:
                        why = "the console fell behind this member"
                        text = dropped_text(event.dropped - dropped, why)
                        cluster.mark_gap(member, text, event.time)
                        dropped = event.dropped
                    fields = as_dict(event.fields)
                    cluster.take_event(member, event.kind, fields, event.time)
                    if event.kind == "membership":
                        cluster.learn_names({entry[0]: entry[1] for entry in fields["members"]})
            member.lose("its event stream ended")
        except FAILURES as error:
            member.lose(describe_failure(error))
        finally:
            if streaming and not member.reachable:
                cluster.mark_gap(member, f"events missing from here on: {member.problem}")
        scope.cancel()

    # -- keys and watches -------------------------------------------------------------------------

    async def keys(self, start: bytes, end: bytes, limit: int) -> KeyPage:
        """A keys-only range page."""
        client = await self._connected()
        reply = await client.get(start, end, keys_only=True, limit=limit)
        return KeyPage([kv.key for kv in reply.kvs], bool(reply.more))

    async def get(self, key: bytes, revision: int = 0) -> KeyRecord | None:
        """One key at a revision."""
        client = await self._connected()
        reply = await client.get(key, revision=revision)
        if not reply.kvs:
            return None
        kv = reply.kvs[0]
        return KeyRecord(
            kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease
        )

    async def lease_remaining(self, lease_id: int) -> int:
        """The lease's remaining TTL."""
        client = await self._connected()
        return (await client.lease_time_to_live(lease_id)).TTL

    async def watch(
        self, spec: WatchSpec, created: Callable[[], None], deliver: WatchDelivery
    ) -> None:
        """Run one watch, delivering each response's events."""
        client = await self._connected()
        watch = client.watch(
            spec.key, spec.range_end, prefix=spec.prefix, start_revision=spec.start_revision
        )
        async with watch:
            created()
            async for response in watch:
                if response.canceled:
                    reason = response.cancel_reason or "the watch was canceled"
                    if response.compact_revision:
                        reason += f" (compacted at revision {response.compact_revision})"
                    raise WatchCanceled(reason)
                if response.events:
                    deliver([_watch_event(event) for event in response.events])


def _watch_event(event: Response) -> WatchEvent:
    kind = "DELETE" if event.type in (1, "DELETE") else "PUT"
    return WatchEvent(kind, event.kv.key, event.kv.value, event.kv.mod_revision)
