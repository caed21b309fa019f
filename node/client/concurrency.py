"""Locks and leader elections on the client side, as etcd's clientv3/concurrency package.

A Session holds a lease and keeps it alive. A Mutex or Election contender puts the key
`<prefix>/<lease id in hex>` under that lease; whoever's key under the prefix was created
first holds the lock (or leads), and each other contender watches only the key created just
before its own until it is deleted. The layout is etcd's, so these recipes contend with the
members' Lock and Election services and with `etcdctl lock` and `etcdctl elect`.

    async with Session(client, ttl=10) as session:
        async with Mutex(session, "printer"):
            ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Self

import anyio

from node.client.requests import (
    Bytes,
    compare_create_revision,
    op_delete,
    op_get,
    op_put,
    to_bytes,
)
from node.client.response import Response
from node.messages import errors
from node.messages.kv import SortOrder, SortTarget

if TYPE_CHECKING:
    from types import TracebackType

    from node.client.client import Client

DEFAULT_SESSION_TTL = 60
"""Seconds of a session's lease unless told otherwise (etcd's defaultSessionTTL)."""

_DELETE = 1
"""mvccpb.Event.EventType DELETE, as a watch event's `type`."""

_FIRST_CREATED: dict[str, Any] = {
    "prefix": True,
    "sort_target": SortTarget.CREATE,
    "sort_order": SortOrder.ASCEND,
    "limit": 1,
}
"""Range options selecting the key under a prefix created first (clientv3's WithFirstCreate)."""


class SessionExpired(errors.EtcdError):
    """The session's lease ended while the mutex waited: its key is gone, the lock is not held."""

    message = "mutex: session is expired"


class Locked(errors.EtcdError):
    """try_lock found the mutex held by another session."""

    message = "mutex: Locked by another session"


class Session(anyio.AsyncContextManagerMixin):
    """A lease kept alive for as long as the `async with Session(client)` block runs.

    Grants a lease of `ttl` seconds (or adopts `lease_id`), renews it from a background task,
    and revokes it on exit, which deletes every lock and election key made under it.
    `done` is set once the lease is no longer renewed: lost, unreachable, orphaned or closed.
    """

    def __init__(self, client: Client, ttl: int = DEFAULT_SESSION_TTL, lease_id: int = 0) -> None:
        self.client = client
        self.ttl = ttl if ttl > 0 else DEFAULT_SESSION_TTL
        self.lease_id = lease_id
        self.done = anyio.Event()
        self._orphaned = False
        self._renewing = anyio.CancelScope()

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        if not self.lease_id:
            self.lease_id = (await self.client.lease_grant(self.ttl)).ID
        try:
            async with anyio.create_task_group() as renewing:
                renewing.start_soon(self._keep_alive)
                yield self
                renewing.cancel_scope.cancel()
        finally:
            if not self._orphaned:
                await self._revoke()

    async def _keep_alive(self) -> None:
        """Renew the lease until it is gone, the client gives up reaching the cluster, or the
        session stops renewing."""
        try:
            with self._renewing:
                async with self.client.lease_keep_alive(self.lease_id) as renewals:
                    async for _ in renewals:
                        pass
        except* errors.EtcdError:
            pass  # the lease is lost or unreachable: `done` tells the session's users
        finally:
            self.done.set()

    async def _revoke(self) -> None:
        # A revoke that outlasts the TTL is moot: the lease has expired by then.
        with anyio.move_on_after(self.ttl, shield=True), contextlib.suppress(errors.LeaseNotFound):
            await self.client.lease_revoke(self.lease_id)

    async def orphan(self) -> None:
        """Stop renewing the lease but leave it (and its keys) to live out its TTL; leaving
        the block then no longer revokes it."""
        self._orphaned = True
        self._renewing.cancel()
        await self.done.wait()


def _raise_if_canceled(response: Response) -> None:
    """A watch the member canceled ends the wait with its reason (Compacted, most often)."""
    if response.canceled:
        if response.compact_revision:
            raise errors.Compacted()
        raise errors.EtcdError(response.cancel_reason or "watch canceled")


async def _wait_deleted(client: Client, key: bytes, revision: int) -> None:
    """Until `key` is deleted at or after `revision` (etcd's waitDelete)."""
    async with client.watch(key, start_revision=revision) as changes:
        async for response in changes:
            _raise_if_canceled(response)
            if any(event.type == _DELETE for event in response.events):
                return
    raise errors.EtcdError("lost watcher waiting for delete")


async def _wait_deletes(client: Client, prefix: bytes, max_create_revision: int) -> Response:
    """Until no key under `prefix` was created at or before `max_create_revision`, watching
    only the newest such key each time (etcd's waitDeletes); the header of the last look."""
    while True:
        older = await client.get(
            prefix,
            prefix=True,
            sort_target=SortTarget.CREATE,
            sort_order=SortOrder.DESCEND,
            limit=1,
            max_create_revision=max_create_revision,
        )
        if not older.kvs:
            return older.header
        await _wait_deleted(client, older.kvs[0].key, older.header.revision)


def _contender_key(prefix: bytes, session: Session) -> bytes:
    return prefix + b"%x" % session.lease_id


async def _best_effort(call: Callable[[], Awaitable[None]], grace: float) -> None:
    """Run a clean-up call even while cancelled, for at most `grace` seconds; the lease bounds
    a failure."""
    with anyio.move_on_after(grace, shield=True), contextlib.suppress(errors.EtcdError):
        await call()


class Mutex:
    """A lock held by at most one session at a time; waiters get it in the order they asked.

    `async with Mutex(session, "name"):` locks and unlocks. `key` is ours while we hold or
    wait (empty otherwise); `header` is the reply header of the moment the lock was taken.
    """

    def __init__(self, session: Session, prefix: Bytes) -> None:
        self.session = session
        self.prefix = to_bytes(prefix) + b"/"
        self._key = b""
        self._revision = -1
        self._header: Response | None = None

    @property
    def key(self) -> bytes:
        """Our key under the prefix (`prefix/<lease hex>`), or b"" when not locking."""
        return self._key

    @property
    def header(self) -> Response | None:
        """The response header from when the lock was acquired."""
        return self._header

    async def __aenter__(self) -> Self:
        await self.lock()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with anyio.fail_after(self.session.client.timeout, shield=True):
            await self.unlock()

    async def _try_acquire(self) -> Response:
        """Put our key unless the session already has one, and read who holds the lock.

        Sets our key's create revision; the reply's second response is the holder's key.
        """
        client = self.session.client
        self._key = _contender_key(self.prefix, self.session)
        holder = op_get(self.prefix, **_FIRST_CREATED)
        attempt = await client.txn(
            compare=[compare_create_revision(self._key, "=", 0)],
            success=[op_put(self._key, b"", lease=self.session.lease_id), holder],
            failure=[op_get(self._key), holder],
        )
        self._revision = attempt.header.revision
        if not attempt.succeeded:
            self._revision = attempt.responses[0].response_range.kvs[0].create_revision
        return attempt

    def _holds(self, attempt: Response) -> bool:
        holders = attempt.responses[1].response_range.kvs
        return not holders or holders[0].create_revision == self._revision

    async def lock(self) -> None:
        """Wait until the lock is ours. Failing or cancelled while waiting, we delete our key;
        SessionExpired if our lease ended while we waited."""
        attempt = await self._try_acquire()
        if self._holds(attempt):
            self._header = attempt.header
            return
        client = self.session.client
        try:
            await _wait_deletes(client, self.prefix, self._revision - 1)
            ours = await client.get(self._key)
        except BaseException:
            await _best_effort(self.unlock, client.timeout)
            raise
        if not ours.kvs:
            self._key, self._revision = b"", -1
            raise SessionExpired()
        self._header = ours.header

    async def try_lock(self) -> None:
        """Take the lock if nobody holds it; otherwise withdraw our key and raise Locked."""
        attempt = await self._try_acquire()
        if self._holds(attempt):
            self._header = attempt.header
            return
        await self.unlock()
        raise Locked()

    async def unlock(self) -> None:
        """Release the lock (or stop waiting for it) by deleting our key; nothing if we have
        none."""
        if not self._key:
            return
        await self.session.client.delete(self._key)
        self._key = b""
        self._revision = -1

    def is_owner(self) -> dict[str, Any]:
        """A txn compare that holds only while this mutex holds the lock (etcd's IsOwner), to
        make writes conditional on still holding it."""
        return compare_create_revision(self._key, "=", self._revision)


class LeaderObservation(anyio.AsyncContextManagerMixin):
    """The successive leaders' key-values of an election, from `async with election.observe()`.

    Yields the current leader (waiting for one if there is none), then each value it
    proclaims, then the next leader when it resigns or its lease ends, and so on. As etcd's
    Observe it may skip values that were replaced before it looked, never the latest.
    """

    def __init__(self, client: Client, prefix: bytes) -> None:
        self._client = client
        self._prefix = prefix
        self._send, self._leaders = anyio.create_memory_object_stream[Response]()
        self._failure: Exception | None = None

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        try:
            async with anyio.create_task_group() as observing:
                observing.start_soon(self._observe)
                yield self
                observing.cancel_scope.cancel()
        finally:
            self._leaders.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Response:
        try:
            return await self._leaders.receive()
        except anyio.EndOfStream:
            if self._failure is not None:
                raise self._failure from None
            raise StopAsyncIteration from None

    async def _observe(self) -> None:
        """Send leaders and their values to the iterator; a failure ends the iteration with it."""
        async with self._send:
            try:
                while True:
                    leader, revision = await self._current_leader()
                    await self._send.send(leader)
                    await self._follow(leader.key, revision + 1)
            except Exception as exc:
                self._failure = exc

    async def _current_leader(self) -> tuple[Response, int]:
        """The leader's key-value and the revision it was read at; waits for a first
        contender when nobody leads."""
        first = await self._client.get(self._prefix, **_FIRST_CREATED)
        if first.kvs:
            return first.kvs[0], first.header.revision
        start = first.header.revision
        async with self._client.watch(self._prefix, prefix=True, start_revision=start) as puts:
            async for response in puts:
                _raise_if_canceled(response)
                for event in response.events:
                    if event.type != _DELETE:
                        return event.kv, event.kv.mod_revision
        raise errors.EtcdError("lost watcher waiting for a leader")

    async def _follow(self, key: bytes, revision: int) -> None:
        """Send each new value of the leader's key from `revision` until the key is deleted."""
        async with self._client.watch(key, start_revision=revision) as changes:
            async for response in changes:
                _raise_if_canceled(response)
                for event in response.events:
                    if event.type == _DELETE:
                        return
                    await self._send.send(event.kv)
        raise errors.EtcdError("lost watcher following the leader")


class Election:
    """One session's part in a leader election: campaign, proclaim values, resign, observe.

    `key` and `rev` are our leader key and its create revision while we lead or campaign.
    """

    def __init__(self, session: Session, prefix: Bytes) -> None:
        self.session = session
        self.prefix = to_bytes(prefix) + b"/"
        self._key = b""
        self._revision = 0
        self._leading = False
        self._header: Response | None = None

    @property
    def key(self) -> bytes:
        """Our leader key (`prefix/<lease hex>`), or b"" when we are not in the election."""
        return self._key

    @property
    def rev(self) -> int:
        """The create revision of our leader key."""
        return self._revision

    @property
    def header(self) -> Response | None:
        """The response header of the last successful campaign, proclaim or resign."""
        return self._header

    async def campaign(self, value: Bytes) -> None:
        """Stand with `value` and wait until we lead. Cancelled while waiting, we resign; a
        session already standing takes the new value."""
        client = self.session.client
        key = _contender_key(self.prefix, self.session)
        stood = await client.txn(
            compare=[compare_create_revision(key, "=", 0)],
            success=[op_put(key, value, lease=self.session.lease_id)],
            failure=[op_get(key)],
        )
        self._key, self._revision, self._leading = key, stood.header.revision, True
        if not stood.succeeded:
            ours = stood.responses[0].response_range.kvs[0]
            self._revision = ours.create_revision
            if ours.value != to_bytes(value):
                try:
                    await self.proclaim(value)
                except BaseException:
                    await _best_effort(self.resign, client.timeout)
                    raise
        try:
            await _wait_deletes(client, self.prefix, self._revision - 1)
        except anyio.get_cancelled_exc_class():
            await _best_effort(self.resign, client.timeout)
            raise
        except BaseException:
            self._leading = False
            raise
        self._header = stood.header

    async def proclaim(self, value: Bytes) -> None:
        """Publish a new value without a new election; ElectionNotLeader unless we lead."""
        if not self._leading:
            raise errors.ElectionNotLeader()
        proclaimed = await self.session.client.txn(
            compare=[compare_create_revision(self._key, "=", self._revision)],
            success=[op_put(self._key, value, lease=self.session.lease_id)],
        )
        if not proclaimed.succeeded:
            self._key, self._leading = b"", False
            raise errors.ElectionNotLeader()
        self._header = proclaimed.header

    async def resign(self) -> None:
        """Step down (or stop campaigning) so the next contender leads; nothing if not in it."""
        if not self._leading:
            return
        resigned = await self.session.client.txn(
            compare=[compare_create_revision(self._key, "=", self._revision)],
            success=[op_delete(self._key)],
        )
        self._header = resigned.header
        self._key, self._leading = b"", False

    async def leader(self) -> Response:
        """The Range reply whose `kvs[0]` is the leader's key-value; ElectionNoLeader when
        nobody leads."""
        first = await self.session.client.get(self.prefix, **_FIRST_CREATED)
        if not first.kvs:
            raise errors.ElectionNoLeader()
        return first

    def observe(self) -> LeaderObservation:
        """`async with election.observe() as leaders: async for kv in leaders:` each leader's
        key-value as leaders and their values change."""
        return LeaderObservation(self.session.client, self.prefix)
