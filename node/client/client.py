"""The Python client of etcd's v3 API: one method per RPC, over anyio.

It speaks our members' native protocol, or etcd's own gRPC API with `door="grpc"` (the only
door a real etcd has; grpc.aio, so under asyncio only); every method and stream means the same
through either. It runs under trio and under asyncio. Given several endpoints it keeps one
connection in use and fails over to the next endpoint when that one breaks. Like clientv3, it
retries a call that surely never reached a member, and retries calls that are safe to repeat
(reads, lease and status calls) when they fail with an Unavailable error (no leader, leader changed,
connection lost); a write that may have been sent is never silently repeated.

Every call has a deadline, the client's `timeout` unless the call says otherwise (clientv3's
context; etcdctl's 5 s command timeout): past it the call fails with DeadlineExceeded. If the
member sent nothing at all on that connection meanwhile (paused, or cut off without TCP
noticing), the connection is suspect and the next calls go to another endpoint.

With `user` and `password` the client authenticates when it connects (a member with auth
off is used without a token, as clientv3 does) and sends its token with every call and
stream; when a member says the token is invalid (expired, or issued before a restart) or was
checked at an old auth revision, it authenticates again and repeats the call once (without a
token, if auth has been turned off meanwhile).

The endpoints can follow the cluster, as clientv3's SetEndpoints and Sync: `set_endpoints`
replaces them (a connection to an endpoint that is no longer listed is closed, so what ran on
it fails over to a listed one), `sync` takes them from MemberList, and `auto_sync_interval`
syncs every so many seconds while the client is entered.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Self

import anyio
import anyio.abc

from node.client.client_tls import ClientTls
from node.client.connection import Connection, NotSent
from node.client.failures import (
    ClientClosed,
    ConnectionLost,
    DeadlineExceeded,
    NoEndpointAvailable,
)
from node.client.grpc_connection import GrpcConnection
from node.client.member_connection import Door, MemberConnection, MemberStream
from node.client.member_endpoints import (
    MemberEndpoints,
    client_url_endpoints,
    default_member_endpoints,
    started_member_endpoints,
)
from node.client.requests import (
    Bytes,
    delete_body,
    key_range,
    put_body,
    range_body,
    to_bytes,
    txn_body,
)
from node.client.response import Response, as_dict
from node.client.streams import LeaseKeepAlive, ReplyStream, SnapshotStream, Watch
from node.messages import errors
from node.messages.auth import PermissionType
from node.messages.faults import FaultKind
from node.messages.kv import SortOrder, SortTarget
from node.messages.maintenance import AlarmAction, AlarmType
from node.messages.step_mode import StepAction
from node.messages.watch import WatchFilter

DEFAULT_TIMEOUT = 5.0
_FIRST_BACKOFF = 0.025
_MAX_BACKOFF = 0.5
_UNAVAILABLE = "UNAVAILABLE"
_STALE_TOKEN = (errors.InvalidAuthToken.message, errors.AuthOldRevision.message)
"""Refusals that a fresh token cures (clientv3's shouldRefreshToken)."""

logger = logging.getLogger(__name__)


class _Retry:
    """Backoff between attempts of one call, until its deadline passes."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._delay = _FIRST_BACKOFF

    async def wait_or_raise(self, error: Exception) -> None:
        if anyio.current_time() + self._delay > self._deadline:
            if isinstance(error, NotSent):
                raise NoEndpointAvailable() from error
            raise error
        await anyio.sleep(self._delay)
        self._delay = min(self._delay * 2, _MAX_BACKOFF)


class Client(anyio.AsyncContextManagerMixin):
    """A connection to a cluster through any of its members' native endpoints (or, with
    `door="grpc"`, their client URLs: etcd's gRPC API).

    Use as `async with await Client.connect(["127.0.0.1:32379", ...]) as client:`; `timeout`
    bounds connecting and each call, its retries included (Lock and Campaign wait as long as
    it takes). Replies are `Response`s: the wire body with etcd's field names as attributes
    (`(await client.get("k")).kvs[0].value`).

    With `auto_sync_interval` (seconds) the client replaces its endpoints by the started
    members' every so often (clientv3's AutoSyncInterval); `member_endpoints` says which
    endpoints a MemberList member serves (by default: through the native door its client
    ports + 10000, through the gRPC door its client URLs).
    """

    def __init__(
        self,
        endpoints: Iterable[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        auto_sync_interval: float | None = None,
        member_endpoints: MemberEndpoints | None = None,
        tls: ClientTls | None = None,
        user: str | None = None,
        password: str | None = None,
        door: Door = "native",
    ) -> None:
        self.endpoints = _distinct(endpoints)
        self.door: Door = door
        self.tls = tls
        """How it dials (etcdctl's TLS files), for clients of single members made from it."""
        self._tls = None if tls is None or door == "grpc" else tls.ssl_context()
        self._grpc_credentials = (
            None
            if tls is None or door == "native" or tls.insecure_skip_tls_verify
            else tls.grpc_credentials()
        )
        self.user = user
        self._password = password
        self.token: str | None = None
        """The auth token calls carry (None: calls are made without one)."""
        self.timeout = timeout
        self.auto_sync_interval = auto_sync_interval
        if member_endpoints is None:
            member_endpoints = client_url_endpoints if door == "grpc" else default_member_endpoints
        self._member_endpoints = member_endpoints
        self._current = 0
        self._connections: dict[str, MemberConnection] = {}
        self._connect_lock = anyio.Lock()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False

    @classmethod
    async def connect(
        cls,
        endpoints: Iterable[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - each call's limit, kept by the client
        auto_sync_interval: float | None = None,
        member_endpoints: MemberEndpoints | None = None,
        tls: ClientTls | None = None,
        user: str | None = None,
        password: str | None = None,
        door: Door = "native",
    ) -> Client:
        """A client whose first reachable endpoint answered a TCP connect (and its TLS
        handshake, with `tls`); enter it to use it (with `user` and `password`, entering
        authenticates: AuthFailed when they are wrong)."""
        client = cls(
            endpoints,
            timeout=timeout,
            auto_sync_interval=auto_sync_interval,
            member_endpoints=member_endpoints,
            tls=tls,
            user=user,
            password=password,
            door=door,
        )
        await client._dial()
        return client

    async def _refresh_token(self, connection: MemberConnection) -> None:
        """Authenticate as the client's user on `connection` and keep the token; none once
        the cluster has turned auth off."""
        deadline = anyio.current_time() + self.timeout
        body = {"name": self.user, "password": self._password}
        try:
            reply = await connection.call("Auth.Authenticate", body, deadline)
        except errors.AuthNotEnabled:
            self.token = None
            raise
        self.token = reply.token

    async def authenticate(self, user: str, password: str) -> Response:
        """Auth.Authenticate: from now on, calls are made as `user`."""
        reply = await self.call(
            "Auth.Authenticate", {"name": user, "password": password}, repeatable=True
        )
        self.user, self._password, self.token = user, password, reply.token
        return reply

    @asynccontextmanager
    async def member_client(
        self,
        endpoint: str,
        *,
        timeout: float,  # noqa: ASYNC109 - each call's limit, kept by the client
    ) -> AsyncIterator[Client]:
        """A client of the member at `endpoint` alone, entered, dialing as this one does (door,
        TLS, user and its token): for calls asked of each member (status, hash, move-leader)."""
        client = await Client.connect(
            [endpoint],
            timeout=timeout,
            tls=self.tls,
            user=self.user,
            password=self._password,
            door=self.door,
        )
        client.token = self.token
        async with client:
            yield client

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        refused: errors.EtcdError | None = None
        failure: Exception | None = None
        async with anyio.create_task_group() as readers:
            self._task_group = readers
            for connection in self._connections.values():
                readers.start_soon(connection.run)
            if self.auto_sync_interval is not None:
                readers.start_soon(self._sync_every, self.auto_sync_interval)
            try:
                refused = await self._log_in()
                if refused is None:
                    try:
                        yield self
                    except Exception as exc:  # the caller's own: raised after the group
                        failure = exc
            finally:
                await self.aclose()
                readers.cancel_scope.cancel()
                self._task_group = None
        # raised here, not inside the task group, so that it reaches the caller as it is
        # (`except EtcdError` around the block works) rather than in an exception group
        if refused is not None:
            raise refused
        if failure is not None:
            raise failure

    async def _log_in(self) -> errors.EtcdError | None:
        """Authenticate as the client's user, if it has one (a member with auth off is used
        without a token, as clientv3 does); the refusal, if refused."""
        if not (self.user and self._password) or self.token is not None:
            return None
        try:
            await self._refresh_token(await self._connection())
        except errors.AuthNotEnabled:
            pass
        except errors.EtcdError as exc:
            return exc
        return None

    async def aclose(self) -> None:
        """Close every connection; calls still waiting fail with ConnectionLost."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            for connection in self._connections.values():
                await connection.aclose()

    @property
    def endpoint(self) -> str:
        """The endpoint calls go to now."""
        return self.endpoints[self._current]

    # -- following the cluster ------------------------------------------------------------

    async def set_endpoints(self, endpoints: Iterable[str]) -> None:
        """Use `endpoints` from now on (clientv3's SetEndpoints). Calls keep going to the
        current endpoint if it is still listed; a connection to an endpoint no longer listed
        is closed, so its repeatable calls and its watches go on through a listed one."""
        listed = _distinct(endpoints)
        current = self.endpoint
        self.endpoints = listed
        self._current = listed.index(current) if current in listed else 0
        left = [e for e in self._connections if e not in listed]
        with anyio.CancelScope(shield=True):
            for endpoint in left:
                await self._connections.pop(endpoint).aclose()

    async def sync(self) -> None:
        """Take the endpoints of the cluster's started voting members from MemberList
        (clientv3's Sync); an empty list leaves the endpoints as they are."""
        members = await self.member_list()
        listed = started_member_endpoints(members.members, self._member_endpoints)
        if listed and listed != self.endpoints:
            await self.set_endpoints(listed)

    async def _sync_every(self, interval: float) -> None:
        """Sync every `interval` seconds; a failed sync is logged and tried again later."""
        while True:
            await anyio.sleep(interval)
            try:
                await self.sync()
            except errors.EtcdError as failure:
                logger.debug("auto-sync of the endpoints failed: %s", failure)

    # -- connections and retries ------------------------------------------------------------

    async def _dial(self) -> MemberConnection:
        """The connection to the current endpoint, or the next ones in turn: one still usable,
        else a new one (replacing a broken or suspect one); NoEndpointAvailable when no
        endpoint accepts."""
        last_error: Exception | None = None
        start = self._current
        tried = self.endpoints
        for step in range(len(tried)):
            endpoint = tried[(start + step) % len(tried)]
            replaced = self._connections.get(endpoint)
            if replaced is not None and replaced.usable and endpoint in self.endpoints:
                self._current = self.endpoints.index(endpoint)
                return replaced
            try:
                with anyio.fail_after(self.timeout):
                    connection = await self._open(endpoint)
            except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
                last_error = exc
                continue
            if endpoint not in self.endpoints:  # set_endpoints dropped it meanwhile
                await connection.aclose()
                continue
            self._current = self.endpoints.index(endpoint)
            replaced = self._connections.get(endpoint)
            self._connections[endpoint] = connection
            if replaced is not None:
                await replaced.aclose()
            if self._task_group is not None:
                self._task_group.start_soon(connection.run)
            return connection
        raise NoEndpointAvailable() from last_error

    async def _open(self, endpoint: str) -> MemberConnection:
        if self.door == "grpc":
            if self.tls is not None and self.tls.insecure_skip_tls_verify:
                return await GrpcConnection.open_trusting_any(endpoint, self.tls)
            return await GrpcConnection.open(endpoint, self._grpc_credentials)
        return await Connection.open(endpoint, self._tls)

    async def _connection(self) -> MemberConnection:
        if self._closed:
            raise ClientClosed()
        connection = self._connections.get(self.endpoint)
        if connection is not None and connection.usable:
            return connection
        async with self._connect_lock:
            connection = self._connections.get(self.endpoint)
            if connection is not None and connection.usable:
                return connection
            return await self._dial()

    def _move_on_from(self, connection: MemberConnection) -> None:
        """Send the next calls to another endpoint than `connection`'s."""
        if self._connections.get(self.endpoint) is connection:
            self._current = (self._current + 1) % len(self.endpoints)

    async def call(
        self,
        method: str,
        body: dict[str, Any],
        *,
        repeatable: bool,
        time_limit: float | None = None,
    ) -> Response:
        """Run one unary RPC by its native method name, retrying as clientv3 would; it fails
        with DeadlineExceeded once `time_limit` (default: the
        client's timeout) has passed. Retries stop at the client's timeout even for a call
        allowed to wait longer (Lock, Campaign)."""
        now = anyio.current_time()
        deadline = now + (self.timeout if time_limit is None else time_limit)
        retry = _Retry(min(deadline, now + self.timeout))
        refreshed = False
        while True:
            connection: MemberConnection | None = None
            try:
                connection = await self._connection()
                return await connection.call(method, body, deadline, self.token)
            except DeadlineExceeded:
                if connection is not None and connection.suspect:
                    self._move_on_from(connection)
                raise
            except (NotSent, NoEndpointAvailable) as exc:
                error: Exception = exc
            except ConnectionLost as exc:
                assert connection is not None
                self._move_on_from(connection)
                if not repeatable:
                    raise
                error = exc
            except errors.EtcdError as exc:
                if self._can_refresh(exc) and not refreshed and connection is not None:
                    refreshed = True
                    with contextlib.suppress(errors.AuthNotEnabled):  # then without a token
                        await self._refresh_token(connection)
                    continue
                if not (repeatable and exc.code == _UNAVAILABLE):
                    raise
                error = exc
                if connection is not None:
                    self._move_on_from(connection)
            await retry.wait_or_raise(error)

    def _can_refresh(self, error: errors.EtcdError) -> bool:
        """Whether a new token may cure `error` (the call was refused, nothing done)."""
        return bool(self.user and self._password) and error.message in _STALE_TOKEN

    async def open_stream(self, method: str, body: dict[str, Any]) -> MemberStream:
        """Open a stream by its native method name with its first message."""
        retry = _Retry(anyio.current_time() + self.timeout)
        while True:
            try:
                connection = await self._connection()
                return await connection.open_stream(method, body, self.token)
            except (NotSent, NoEndpointAvailable, ConnectionLost) as exc:
                await retry.wait_or_raise(exc)

    async def open_stream_with_reply(
        self, method: str, body: dict[str, Any]
    ) -> tuple[MemberStream, Response]:
        """Open a stream that is safe to reopen and wait for its first reply."""
        retry = _Retry(anyio.current_time() + self.timeout)
        while True:
            stream = await self.open_stream(method, body)
            try:
                reply = await stream.receive()
            except ConnectionLost as exc:
                await retry.wait_or_raise(exc)
                continue
            if reply is None:
                await retry.wait_or_raise(ConnectionLost())
                continue
            return stream, reply

    # -- KV ------------------------------------------------------------------------------------

    async def get(
        self,
        key: Bytes,
        range_end: Bytes = b"",
        *,
        prefix: bool = False,
        revision: int = 0,
        limit: int = 0,
        serializable: bool = False,
        keys_only: bool = False,
        count_only: bool = False,
        sort_order: SortOrder | int = SortOrder.NONE,
        sort_target: SortTarget | int = SortTarget.KEY,
        min_mod_revision: int = 0,
        max_mod_revision: int = 0,
        min_create_revision: int = 0,
        max_create_revision: int = 0,
    ) -> Response:
        """KV.Range: the keys in [key, range_end), or every key under `key` with prefix=True."""
        body = range_body(
            key,
            range_end,
            prefix=prefix,
            revision=revision,
            limit=limit,
            serializable=serializable,
            keys_only=keys_only,
            count_only=count_only,
            sort_order=sort_order,
            sort_target=sort_target,
            min_mod_revision=min_mod_revision,
            max_mod_revision=max_mod_revision,
            min_create_revision=min_create_revision,
            max_create_revision=max_create_revision,
        )
        return await self.call("KV.Range", body, repeatable=True)

    async def put(
        self,
        key: Bytes,
        value: Bytes,
        *,
        lease: int = 0,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
    ) -> Response:
        """KV.Put: set key to value, attached to `lease` unless 0."""
        body = put_body(
            key,
            value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
        return await self.call("KV.Put", body, repeatable=False)

    async def delete(
        self, key: Bytes, range_end: Bytes = b"", *, prefix: bool = False, prev_kv: bool = False
    ) -> Response:
        """KV.DeleteRange: delete the keys in [key, range_end) (or under `key` with prefix)."""
        body = delete_body(key, range_end, prefix=prefix, prev_kv=prev_kv)
        return await self.call("KV.DeleteRange", body, repeatable=False)

    async def txn(
        self,
        compare: Iterable[dict[str, Any]] = (),
        success: Iterable[dict[str, Any]] = (),
        failure: Iterable[dict[str, Any]] = (),
    ) -> Response:
        """KV.Txn: if every compare holds run `success`, else `failure` (built with
        node.client.compare_* and op_*). Retried like a read only when it writes nothing."""
        body = txn_body(list(compare), list(success), list(failure))
        return await self.call("KV.Txn", body, repeatable=_reads_only(body))

    async def compact(self, revision: int, *, physical: bool = False) -> Response:
        """KV.Compact: drop history at or below `revision`."""
        body = {"revision": revision, "physical": physical}
        return await self.call("KV.Compact", body, repeatable=True)

    # -- Watch ---------------------------------------------------------------------------------

    def watch(
        self,
        key: Bytes,
        range_end: Bytes = b"",
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
        filters: Iterable[WatchFilter | int] = (),
        fragment: bool = False,
    ) -> Watch:
        """Watch.Watch: `async with client.watch("k") as w: async for resp in w: ...`."""
        begin, end = key_range(key, range_end, prefix)
        create = {
            "key": begin,
            "range_end": end,
            "start_revision": start_revision,
            "progress_notify": progress_notify,
            "filters": [int(f) for f in filters],
            "prev_kv": prev_kv,
            "watch_id": 0,
            "fragment": fragment,
        }
        return Watch(self, create)

    # -- Lease ---------------------------------------------------------------------------------

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Response:
        """Lease.LeaseGrant: a lease of `ttl` seconds (its ID chosen by the member if 0)."""
        return await self.call("Lease.LeaseGrant", {"TTL": ttl, "ID": lease_id}, repeatable=True)

    async def lease_revoke(self, lease_id: int) -> Response:
        """Lease.LeaseRevoke: end the lease and delete its keys."""
        return await self.call("Lease.LeaseRevoke", {"ID": lease_id}, repeatable=True)

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> Response:
        """Lease.LeaseTimeToLive: remaining TTL (-1 if gone), granted TTL, and keys if asked."""
        body = {"ID": lease_id, "keys": keys}
        return await self.call("Lease.LeaseTimeToLive", body, repeatable=True)

    async def lease_leases(self) -> Response:
        """Lease.LeaseLeases: every lease's ID."""
        return await self.call("Lease.LeaseLeases", {}, repeatable=True)

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAlive:
        """Lease.LeaseKeepAlive in a background task: `async with client.lease_keep_alive(id):`."""
        return LeaseKeepAlive(self, lease_id)

    async def keep_alive_once(self, lease_id: int) -> Response:
        """Renew a lease once; LeaseNotFound if it is gone."""
        stream, reply = await self.open_stream_with_reply("Lease.LeaseKeepAlive", {"ID": lease_id})
        with anyio.CancelScope(shield=True):
            await stream.close()
        if reply.TTL <= 0:
            raise errors.LeaseNotFound()
        return reply

    # -- Cluster -------------------------------------------------------------------------------

    async def member_add(self, peer_urls: Iterable[str], *, is_learner: bool = False) -> Response:
        """Cluster.MemberAdd: a new member (voter, or learner) with these peer URLs."""
        body = {"peerURLs": list(peer_urls), "isLearner": is_learner}
        return await self.call("Cluster.MemberAdd", body, repeatable=False)

    async def member_remove(self, member_id: int) -> Response:
        """Cluster.MemberRemove."""
        return await self.call("Cluster.MemberRemove", {"ID": member_id}, repeatable=False)

    async def member_update(self, member_id: int, peer_urls: Iterable[str]) -> Response:
        """Cluster.MemberUpdate: replace a member's peer URLs."""
        body = {"ID": member_id, "peerURLs": list(peer_urls)}
        return await self.call("Cluster.MemberUpdate", body, repeatable=False)

    async def member_list(self) -> Response:
        """Cluster.MemberList."""
        return await self.call("Cluster.MemberList", {}, repeatable=True)

    async def member_promote(self, member_id: int) -> Response:
        """Cluster.MemberPromote: make an in-sync learner a voter."""
        return await self.call("Cluster.MemberPromote", {"ID": member_id}, repeatable=False)

    # -- Maintenance ---------------------------------------------------------------------------

    async def status(self) -> Response:
        """Maintenance.Status of the member this client is connected to."""
        return await self.call("Maintenance.Status", {}, repeatable=True)

    async def raft_status(self) -> Response:
        """Admin.RaftStatus (ours): role, term, vote, leader and log indexes of the member this
        client is connected to."""
        return await self.call("Admin.RaftStatus", {}, repeatable=True)

    async def hash_kv(self, revision: int = 0) -> Response:
        """Maintenance.HashKV: hash of the key space up to `revision` (0: the current one)."""
        return await self.call("Maintenance.HashKV", {"revision": revision}, repeatable=True)

    async def alarm(
        self,
        action: AlarmAction | int = AlarmAction.GET,
        *,
        member_id: int = 0,
        alarm: AlarmType | int = AlarmType.NONE,
    ) -> Response:
        """Maintenance.Alarm: list (GET), raise or disarm alarms."""
        body = {"action": int(action), "memberID": member_id, "alarm": int(alarm)}
        return await self.call("Maintenance.Alarm", body, repeatable=True)

    async def defragment(self) -> Response:
        """Maintenance.Defragment of the member this client is connected to."""
        return await self.call("Maintenance.Defragment", {}, repeatable=False)

    async def move_leader(self, target_id: int) -> Response:
        """Maintenance.MoveLeader: hand leadership to `target_id` (ask the leader)."""
        return await self.call("Maintenance.MoveLeader", {"targetID": target_id}, repeatable=True)

    def snapshot(self) -> SnapshotStream:
        """Maintenance.Snapshot: `async with client.snapshot() as chunks: async for blob in ...`."""
        return SnapshotStream(self, "Maintenance.Snapshot", {})

    # -- Auth ----------------------------------------------------------------------------------

    async def _auth(self, method: str, body: dict[str, Any] | None = None) -> Response:
        return await self.call(f"Auth.{method}", body or {}, repeatable=False)

    async def auth_enable(self) -> Response:
        """Auth.AuthEnable: needs a root user holding the root role."""
        return await self._auth("AuthEnable")

    async def auth_disable(self) -> Response:
        """Auth.AuthDisable (root only)."""
        return await self._auth("AuthDisable")

    async def user_add(
        self, name: str, password: str = "", *, no_password: bool = False
    ) -> Response:
        """Auth.UserAdd; a `no_password` user can only be used with TLS client certificates."""
        options = {"no_password": no_password} if no_password else None
        return await self._auth("UserAdd", {"name": name, "password": password, "options": options})

    async def user_get(self, name: str) -> Response:
        """Auth.UserGet: the user's roles."""
        return await self._auth("UserGet", {"name": name})

    async def user_list(self) -> Response:
        """Auth.UserList."""
        return await self._auth("UserList")

    async def user_delete(self, name: str) -> Response:
        """Auth.UserDelete."""
        return await self._auth("UserDelete", {"name": name})

    async def user_change_password(self, name: str, password: str) -> Response:
        """Auth.UserChangePassword."""
        return await self._auth("UserChangePassword", {"name": name, "password": password})

    async def user_grant_role(self, user: str, role: str) -> Response:
        """Auth.UserGrantRole."""
        return await self._auth("UserGrantRole", {"user": user, "role": role})

    async def user_revoke_role(self, name: str, role: str) -> Response:
        """Auth.UserRevokeRole."""
        return await self._auth("UserRevokeRole", {"name": name, "role": role})

    async def role_add(self, name: str) -> Response:
        """Auth.RoleAdd."""
        return await self._auth("RoleAdd", {"name": name})

    async def role_get(self, role: str) -> Response:
        """Auth.RoleGet: the role's key permissions."""
        return await self._auth("RoleGet", {"role": role})

    async def role_list(self) -> Response:
        """Auth.RoleList."""
        return await self._auth("RoleList")

    async def role_delete(self, role: str) -> Response:
        """Auth.RoleDelete."""
        return await self._auth("RoleDelete", {"role": role})

    async def role_grant_permission(
        self, name: str, perm_type: PermissionType | int, key: Bytes, range_end: Bytes = b""
    ) -> Response:
        """Auth.RoleGrantPermission of READ, WRITE or READWRITE on a key or [key, range_end)
        (range_end b"\\0": every key from `key` on)."""
        perm = {"permType": int(perm_type), "key": to_bytes(key), "range_end": to_bytes(range_end)}
        return await self._auth("RoleGrantPermission", {"name": name, "perm": perm})

    async def role_revoke_permission(
        self, role: str, key: Bytes, range_end: Bytes = b""
    ) -> Response:
        """Auth.RoleRevokePermission of exactly (key, range_end)."""
        body = {"role": role, "key": to_bytes(key), "range_end": to_bytes(range_end)}
        return await self._auth("RoleRevokePermission", body)

    # -- Lock and Election ---------------------------------------------------------------------

    async def lock(self, name: Bytes, *, lease: int = 0) -> Response:
        """Lock.Lock: wait until `name` is held under `lease`; the reply's key unlocks it."""
        body = {"name": to_bytes(name), "lease": lease}
        return await self.call("Lock.Lock", body, repeatable=False, time_limit=math.inf)

    async def unlock(self, key: Bytes) -> Response:
        """Lock.Unlock: release the lock whose key Lock returned."""
        return await self.call("Lock.Unlock", {"key": to_bytes(key)}, repeatable=False)

    async def campaign(self, name: Bytes, value: Bytes, *, lease: int) -> Response:
        """Election.Campaign: wait to become leader of `name`; the reply's leader is the key."""
        body = {"name": to_bytes(name), "lease": lease, "value": to_bytes(value)}
        return await self.call("Election.Campaign", body, repeatable=False, time_limit=math.inf)

    async def proclaim(self, leader: Response | dict[str, Any], value: Bytes) -> Response:
        """Election.Proclaim: publish a new value as the leader `leader` (a LeaderKey)."""
        body = {"leader": _leader_key(leader), "value": to_bytes(value)}
        return await self.call("Election.Proclaim", body, repeatable=False)

    async def leader(self, name: Bytes) -> Response:
        """Election.Leader: the current leader's key-value of election `name`."""
        return await self.call("Election.Leader", {"name": to_bytes(name)}, repeatable=True)

    def observe(self, name: Bytes) -> ReplyStream:
        """Election.Observe: each new leader value of `name`, as a stream."""
        return ReplyStream(self, "Election.Observe", {"name": to_bytes(name)})

    async def resign(self, leader: Response | dict[str, Any]) -> Response:
        """Election.Resign: give up leadership held as `leader` (a LeaderKey)."""
        body = {"leader": _leader_key(leader)}
        return await self.call("Election.Resign", body, repeatable=False)

    # -- Admin (ours, for the console) ---------------------------------------------------------

    def events(self, kinds: Iterable[str] | None = None) -> ReplyStream:
        """Admin.Events: the member's event stream. By default its state events (role, term,
        indexes, peers, log lines); `kinds` names others (node.messages.member_events: `trace`
        is every trace event). Each reply: kind, time, monotonic, fields, dropped (so far)."""
        body = {} if kinds is None else {"kinds": list(kinds)}
        return ReplyStream(self, "Admin.Events", body)

    async def fault(
        self,
        kind: FaultKind | str,
        *,
        peer_ids: Iterable[int] = (),
        drop_ratio: float = 0.0,
        delay_ms: int = 0,
        failpoint: str = "",
        terms: str = "",
    ) -> Response:
        """Admin.Fault: inject a fault into this member (refused unless it enables them).

        kind: "isolate" (from peer_ids), "link" (drop_ratio and/or delay_ms on the links to
        peer_ids), "fsync_delay" (delay_ms), "pause_apply", "resume_apply", "failpoint" (arm
        crash point `failpoint` with gofail `terms`: "1*panic", "sleep(100)", "return",
        "off"), "heal" (undo all, failpoints disarmed).
        """
        fault = FaultKind[kind.upper()] if isinstance(kind, str) else kind
        body = {
            "kind": int(fault),
            "peer_ids": list(peer_ids),
            "drop_ratio": float(drop_ratio),
            "delay_ms": delay_ms,
            "failpoint": failpoint,
            "terms": terms,
        }
        return await self.call("Admin.Fault", body, repeatable=False)

    async def step(
        self,
        action: StepAction | str,
        *,
        ids: Iterable[int] = (),
        all: bool = False,
        to: int = 0,
        ticks: int = 0,
    ) -> Response:
        """Admin.Step (ours): step mode on this member (refused unless it enables faults).

        action: "hold" (stop its raft clock, hold its outgoing messages), "held" (list them),
        "deliver" / "drop" the held messages `ids` (or `all`; deliver only those to member
        `to` when given), "tick" (`ticks` ticks, 0: to its next timeout), "release" (real
        time again, delivering what is held). The reply lists the messages the call delivered
        or dropped (`done`) and those still held (`held`).
        """
        step = StepAction[action.upper()] if isinstance(action, str) else action
        body = {"action": int(step), "ids": list(ids), "all": all, "to": to, "ticks": ticks}
        return await self.call("Admin.Step", body, repeatable=step == StepAction.HELD)


def _leader_key(leader: Response | dict[str, Any]) -> dict[str, Any]:
    """A LeaderKey body from Campaign's reply field or a plain map."""
    return as_dict(leader) if isinstance(leader, Response) else dict(leader)


def _reads_only(txn: dict[str, Any]) -> bool:
    for op in (*txn["success"], *txn["failure"]):
        if "request_put" in op or "request_delete_range" in op:
            return False
        nested = op.get("request_txn")
        if nested is not None and not _reads_only(nested):
            return False
    return True


def _distinct(endpoints: Iterable[str]) -> list[str]:
    listed = list(dict.fromkeys(endpoints))
    if not listed:
        raise ValueError("at least one endpoint is needed")
    return listed


@asynccontextmanager
async def connect_client(
    endpoints: Iterable[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - each call's limit, kept by the client
    auto_sync_interval: float | None = None,
    member_endpoints: MemberEndpoints | None = None,
    tls: ClientTls | None = None,
    user: str | None = None,
    password: str | None = None,
    door: Door = "native",
) -> AsyncIterator[Client]:
    """`async with connect_client([...]) as client:` — Client.connect and enter in one step."""
    client = await Client.connect(
        endpoints,
        timeout=timeout,
        auto_sync_interval=auto_sync_interval,
        member_endpoints=member_endpoints,
        tls=tls,
        user=user,
        password=password,
        door=door,
    )
    async with client:
        yield client
