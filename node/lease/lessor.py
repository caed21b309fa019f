"""The lessor: grants, revokes, renews and expires leases, modelled on etcd 3.4's lease.lessor.

Every member holds the same leases: grant, revoke and checkpoint arrive as applied raft entries.
Only the primary lessor (on the raft leader) keeps real expiries; the others hold every lease
"forever". Nothing expires locally: the owner asks `expired_leases()` and proposes a revoke for
each through raft, and asks `due_checkpoints()` and proposes them as one LeaseCheckpoint entry,
so that a leader change resumes a long lease from its checkpointed remaining TTL.

Plain synchronous code on an injected clock (seconds, monotonic); the owner drives it from its
own timer, as etcd's runLoop does every 500 ms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol

from node.lease.lease import FOREVER, Lease, lease_key
from node.lease.lease_queue import LeaseQueue
from node.messages import errors
from node.mvcc.backend import Backend

LEASE_BUCKET = b"lease"
MAX_LEASE_TTL = 9_000_000_000
DEFAULT_CHECKPOINT_INTERVAL = 300.0
DEFAULT_REVOKE_RATE = 1000
DEFAULT_EXPIRED_RETRY_INTERVAL = 3.0
MAX_CHECKPOINT_BATCH = 1000


def minimum_lease_ttl(election_ms: int, heartbeat_ms: int) -> int:
    """etcd's shortest lease TTL in whole seconds: 1.5 election timeouts, rounded up.

    As etcdserver.NewServer: election ticks = election_ms // heartbeat_ms, then
    ceil(((3 * ticks) // 2) * heartbeat) seconds; 1000 ms / 100 ms gives 2.
    """
    election_ticks = election_ms // heartbeat_ms
    min_ttl_ms = ((3 * election_ticks) // 2) * heartbeat_ms
    return -(-min_ttl_ms // 1000)


class NotPrimary(Exception):
    """Raised on a lessor that is not the primary; the server forwards the call to the leader."""

    def __init__(self) -> None:
        super().__init__("not a primary lessor")


class RangeDeleteTxn(Protocol):
    """The part of the key space's write transaction a revoke needs."""

    def delete_range(self, key: bytes, range_end: bytes = b"") -> int: ...


RangeDeleter = Callable[[], AbstractContextManager[RangeDeleteTxn]]


class TimeToLive(NamedTuple):
    """etcd's LeaseTimeToLiveResponse: granted TTL, remaining TTL (-1: no such lease), keys."""

    granted_ttl: int
    ttl: int
    keys: list[bytes]


class LeaseCheckpoint(NamedTuple):
    """One entry of etcd's LeaseCheckpointRequest: a lease's remaining TTL to record everywhere."""

    lease_id: int
    remaining_ttl: int


class Lessor:
    """Owns every lease of a member; satisfies node.mvcc.records.LeaseAttacher for the key space.

    range_deleter opens one key-space write transaction (the server passes `kv.write`), so a
    revoke deletes all of a lease's keys at one revision. revoke_rate is etcd's
    leaseRevokeRate: expired_leases() hands out at most half of it per call, and promote()
    spreads expiries so no second holds more than three quarters of it.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        min_ttl: int,
        clock: Callable[[], float] = time.monotonic,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        checkpoint_enabled: bool = True,
        range_deleter: RangeDeleter | None = None,
        revoke_rate: int = DEFAULT_REVOKE_RATE,
        expired_retry_interval: float = DEFAULT_EXPIRED_RETRY_INTERVAL,
    ) -> None:
        if revoke_rate < 2:
            raise ValueError("revoke_rate must be at least 2")
        if expired_retry_interval <= 0:
            raise ValueError("expired_retry_interval must be positive")
        self._backend = backend
        self._min_ttl = min_ttl
        self._clock = clock
        self._checkpoint_interval = checkpoint_interval
        self._checkpoint_enabled = checkpoint_enabled
        self._range_deleter = range_deleter
        self._revoke_rate = revoke_rate
        self._expired_retry_interval = expired_retry_interval
        self._primary = False
        self._leases: dict[int, Lease] = {}
        self._expiries = LeaseQueue()
        self._checkpoints = LeaseQueue()
        # Leases renewed while holding a checkpointed remaining TTL: a (lease, 0) checkpoint
        # must go through raft so every member forgets that remaining TTL (etcd's Renew).
        self._pending_resets: dict[int, None] = {}
        self._restore()

    def _restore(self) -> None:
        for _, raw in self._backend.items(LEASE_BUCKET):
            lease = Lease.decode(raw, self._clock)
            lease.ttl = max(lease.ttl, self._min_ttl)
            self._leases[lease.id] = lease

    def set_range_deleter(self, range_deleter: RangeDeleter) -> None:
        """Give the lessor the key space's write transaction (built after the lessor at start)."""
        self._range_deleter = range_deleter

    @property
    def is_primary(self) -> bool:
        return self._primary

    # -- applied on every member ----------------------------------------------------------

    def grant(self, lease_id: int, ttl: int) -> Lease:
        """Create and persist a lease; a TTL below the minimum is raised to it."""
        if lease_id == 0:
            raise errors.LeaseNotFound()
        if ttl > MAX_LEASE_TTL:
            raise errors.LeaseTTLTooLarge()
        if lease_id in self._leases:
            raise errors.LeaseExists()
        lease = Lease(lease_id, max(ttl, self._min_ttl), clock=self._clock)
        self._backend.put(LEASE_BUCKET, lease_key(lease_id), lease.encode())
        self._leases[lease_id] = lease
        if self._primary:
            self._refresh(lease, self._clock(), extend=0.0)
        return lease

    def revoke(self, lease_id: int) -> None:
        """Delete the lease's keys (sorted, one revision) and the lease, in one backend batch."""
        lease = self._leases.get(lease_id)
        if lease is None:
            raise errors.LeaseNotFound()
        # Sorted so every member deletes in the same order and their hashes agree.
        keys = sorted(lease.keys)
        with self._backend.batch():
            if keys:
                self._delete_keys(keys)
            self._backend.delete(LEASE_BUCKET, lease_key(lease_id))
        del self._leases[lease_id]
        self._expiries.remove(lease_id)
        self._checkpoints.remove(lease_id)
        self._pending_resets.pop(lease_id, None)

    def _delete_keys(self, keys: list[bytes]) -> None:
        if self._range_deleter is None:
            raise RuntimeError("the lessor has no range deleter to delete a lease's keys")
        with self._range_deleter() as txn:
            for key in keys:
                txn.delete_range(key)

    def apply_checkpoint(self, lease_id: int, remaining_ttl: int) -> None:
        """Record a checkpointed remaining TTL (persisted, so a restart keeps it too)."""
        lease = self._leases.get(lease_id)
        if lease is None:
            return
        lease.remaining_ttl = remaining_ttl
        self._backend.put(LEASE_BUCKET, lease_key(lease_id), lease.encode())
        if self._primary:
            self._schedule_checkpoint(lease, self._clock())

    # -- the key space's attachments ------------------------------------------------------

    def exists(self, lease_id: int) -> bool:
        return lease_id in self._leases

    def attach(self, lease_id: int, key: bytes) -> None:
        """Attach a key so that revoking the lease deletes it."""
        self._require(lease_id).keys.add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        self._require(lease_id).keys.discard(key)

    def _require(self, lease_id: int) -> Lease:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise errors.LeaseNotFound()
        return lease

    # -- reads ------------------------------------------------------------------------------

    def lookup(self, lease_id: int) -> Lease | None:
        return self._leases.get(lease_id)

    def leases(self) -> list[Lease]:
        """Every lease, soonest expiry first as etcd's Leases() (leasesByExpiry); ties, and
        all of a non-primary's leases (which never expire locally), in id order."""
        return sorted(self._leases.values(), key=lambda lease: (lease.expiry, lease.id))

    def time_to_live(self, lease_id: int, keys: bool = False) -> TimeToLive:
        """What etcd's LeaseTimeToLive answers; only the primary knows real expiries.

        The remaining TTL is truncated to whole seconds (Go's int64(Remaining().Seconds())).
        A missing lease gives TTL -1 with granted TTL 0, the response etcd's gRPC layer builds
        from ErrLeaseNotFound and that etcdctl prints as "lease ... already expired".
        """
        if not self._primary:
            raise NotPrimary()
        lease = self._leases.get(lease_id)
        if lease is None:
            return TimeToLive(granted_ttl=0, ttl=-1, keys=[])
        return TimeToLive(lease.ttl, int(lease.remaining()), sorted(lease.keys) if keys else [])

    # -- the primary: renewals, expiry, checkpoints -----------------------------------------

    def renew(self, lease_id: int) -> int:
        """Keep a lease alive for its full TTL from now and return that TTL (primary only).

        A lease already past its expiry is awaiting its revoke and counts as gone. A lease with
        a checkpointed remaining TTL also gets a (lease, 0) entry at the head of
        due_checkpoints(), which the owner proposes so every member forgets that remaining TTL.
        """
        if not self._primary:
            raise NotPrimary()
        lease = self._leases.get(lease_id)
        if lease is None or lease.expired():
            raise errors.LeaseNotFound()
        if self._checkpoint_enabled and lease.remaining_ttl > 0:
            self._pending_resets[lease_id] = None
        lease.expiry = self._clock() + lease.ttl
        self._expiries.schedule(lease_id, lease.expiry)
        return lease.ttl

    def expired_leases(self, limit: int | None = None) -> list[Lease]:
        """Leases past their expiry, earliest first, at most `limit` (default revoke_rate / 2).

        Each reported lease is reported again only if it still exists a retry interval later,
        i.e. when its revoke did not go through.
        """
        if not self._primary:
            return []
        limit = self._revoke_rate // 2 if limit is None else limit
        now = self._clock()
        found: list[Lease] = []
        while len(found) < limit:
            head = self._expiries.first()
            if head is None or head[0] > now:
                break
            lease = self._leases[head[1]]
            self._expiries.schedule(lease.id, now + self._expired_retry_interval)
            if lease.expiry <= now:
                found.append(lease)
        return found

    def due_checkpoints(self, limit: int = MAX_CHECKPOINT_BATCH) -> list[LeaseCheckpoint]:
        """The checkpoints to propose now as one LeaseCheckpoint entry: renew resets first.

        A scheduled lease is checkpointed only while alive and below its full TTL (etcd's
        findDueScheduledCheckpoints); its next checkpoint is scheduled when this one applies.
        """
        if not (self._primary and self._checkpoint_enabled):
            return []
        due: list[LeaseCheckpoint] = []
        while self._pending_resets and len(due) < limit:
            lease_id = next(iter(self._pending_resets))
            del self._pending_resets[lease_id]
            due.append(LeaseCheckpoint(lease_id, 0))
        now = self._clock()
        while len(due) < limit:
            head = self._checkpoints.first()
            if head is None or head[0] > now:
                break
            lease = self._leases[head[1]]
            self._checkpoints.remove(lease.id)
            if lease.expiry <= now:
                continue
            remaining_ttl = math.ceil(lease.expiry - now)
            if remaining_ttl < lease.ttl:
                due.append(LeaseCheckpoint(lease.id, remaining_ttl))
        return due

    def promote(self, extend: float) -> None:
        """Become primary: every lease expires `extend` seconds after its remaining TTL from now.

        extend is the election timeout, so a leader change never expires a lease early. With
        as many leases as revoke_rate, expiries that pile up in one second are spread out.
        """
        self._primary = True
        now = self._clock()
        for lease in self._leases.values():
            self._refresh(lease, now, extend)
        if len(self._leases) >= self._revoke_rate:
            self._spread_expiries(now, extend)

    def _spread_expiries(self, now: float, extend: float) -> None:
        """etcd's Promote pile-up avoidance: at most 3/4 of the revoke rate expire per window.

        Walking leases by expiry, a window opens at a lease more than the window's length past
        the current window's start; once a window holds its quota, each further lease is pushed
        later in proportion to how far over quota it is.
        """
        leases = sorted(self._leases.values(), key=lambda lease: (lease.expiry, lease.id))
        target_per_second = (3 * self._revoke_rate) // 4
        base_window = leases[0].expiry - now
        next_window = base_window + 1.0
        expires = 0
        for lease in leases:
            remaining = lease.expiry - now
            if remaining > next_window:
                base_window = remaining
                next_window = base_window + 1.0
                expires = 1
                continue
            expires += 1
            if expires <= target_per_second:
                continue
            # A lease already n seconds past the window's start needs n seconds less delay.
            delay = expires / target_per_second - (remaining - base_window)
            next_window = base_window + delay
            self._refresh(lease, now, delay + extend)

    def demote(self) -> None:
        """Stop being primary: no lease expires here and checkpoints stop."""
        self._primary = False
        for lease in self._leases.values():
            lease.expiry = FOREVER
        self._expiries.clear()
        self._checkpoints.clear()
        self._pending_resets.clear()

    def _refresh(self, lease: Lease, now: float, extend: float) -> None:
        lease.expiry = now + extend + lease.refresh_ttl()
        self._expiries.schedule(lease.id, lease.expiry)
        self._schedule_checkpoint(lease, now)

    def _schedule_checkpoint(self, lease: Lease, now: float) -> None:
        if self._checkpoint_enabled and lease.refresh_ttl() > self._checkpoint_interval:
            self._checkpoints.schedule(lease.id, now + self._checkpoint_interval)
