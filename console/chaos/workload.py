"""The chaos workload: concurrent clients colliding on a small key set, through both doors.

Each client runs one operation at a time, back to back, chosen from a seeded generator: put,
linearizable get, compare-and-set (a Txn comparing the value or the mod_revision), delete,
put with a lease, lease grant, keep-alive and revoke. Every written value is unique, so the
watch history tells where a timed-out write landed. Client i starts on member i (modulo the
members) and moves to the next member whenever a call fails or times out; even clients use
the native door, odd ones the gRPC door. A compactor compacts now and then, never past what
every watcher has already seen, so compaction does not cut into their streams.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import anyio

from checker.model.history import Operation, OpKind, Request
from console.chaos.doors import DOOR_FAILURES, DOORS, Door, GrpcDoor, NativeDoor
from console.chaos.recorder import Recorder
from node.client import ClientTls

_RECONNECT_DELAY = 0.1
_BENIGN_ERRORS = ("lease not found", "has been compacted")
"""Errors that say nothing about the member's health: the client stays where it is."""


@dataclass(slots=True, frozen=True)
class MemberEndpoints:
    """Where one member serves: its native endpoint and its gRPC client URL."""

    name: str
    native: str
    grpc: str


@dataclass(slots=True)
class WorkloadConfig:
    """The shape of the workload."""

    clients: int = 8
    keys: int = 8
    op_timeout: float = 2.0
    """Seconds before a call is given up (and recorded as indeterminate)."""
    lease_ttl: int = 8
    max_leases: int = 4
    lease_cyclers: int = 2
    expiring_lease_ttl: int = 3
    """The lease cycler's TTL: short, so its leases expire often (etcd's minimum is 1.5
    election timeouts; the playground's is 1 s)."""
    compact_every: float = 5.0
    """Seconds between compactions."""
    compact_margin: int = 100
    """Revisions kept below the oldest revision every watcher has seen."""


_MIX: tuple[tuple[OpKind, int], ...] = (
    (OpKind.GET, 30),
    (OpKind.PUT, 20),
    (OpKind.CAS, 16),
    (OpKind.DELETE, 7),
    (OpKind.PUT_WITH_LEASE, 10),
    (OpKind.LEASE_GRANT, 4),
    (OpKind.LEASE_KEEPALIVE, 9),
    (OpKind.LEASE_REVOKE, 4),
)


@dataclass(slots=True)
class SharedView:
    """What the clients know together: each key's latest value and mod_revision they saw
    (to aim compare-and-sets at), and the leases granted and not yet revoked."""

    seen: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    leases: list[int] = field(default_factory=list)

    def learn(self, op: Operation) -> None:
        """Update from one completed operation."""
        request, response = op.request, op.response
        if response is None:
            if "lease not found" in op.error and request.lease_id in self.leases:
                self.leases.remove(request.lease_id)
            return
        match request.kind:
            case OpKind.GET:
                kv = response.kv
                self.seen[request.key] = None if kv is None else (kv.value, kv.mod_revision)
            case OpKind.PUT | OpKind.PUT_WITH_LEASE:
                self.seen[request.key] = (request.value, response.revision)
            case OpKind.CAS if response.succeeded:
                self.seen[request.key] = (request.value, response.revision)
            case OpKind.DELETE:
                self.seen[request.key] = None
            case OpKind.LEASE_GRANT:
                self.leases.append(response.lease_id)
            case _:
                pass

    def learn_private(self, op: Operation) -> None:
        """Update from an operation on a lease the clients must not share (the lease
        cycler's): what it wrote is seen, its lease is not offered to the others."""
        if op.request.kind is not OpKind.LEASE_GRANT:
            self.learn(op)


class Workload:
    """The clients and the compactor; `run` goes on until cancelled."""

    def __init__(
        self,
        config: WorkloadConfig,
        seed: int,
        recorder: Recorder,
        members: Callable[[], list[MemberEndpoints]],
        compact_floor: Callable[[], int],
        tls: ClientTls | None = None,
    ) -> None:
        self.config = config
        self._tls = tls
        """How the clients dial members that serve TLS (the playground's client certificate)."""
        self._seed = seed
        self._recorder = recorder
        self._members = members
        self._compact_floor = compact_floor
        self._view = SharedView()
        self._keys = [f"k{i}" for i in range(config.keys)]
        self.compacted_to = 0
        """The highest revision a compaction was asked for (whether or not it answered)."""

    async def run(self) -> None:
        """Run every client and the compactor until cancelled."""
        async with anyio.create_task_group() as group:
            for client_id in range(self.config.clients):
                group.start_soon(self._client, client_id)
            group.start_soon(self._compactor)
            for cycler in range(self.config.lease_cyclers):
                group.start_soon(self._lease_cycler, self.config.clients + 1 + cycler)

    def _door(self, client_id: int, turn: int) -> Door | None:
        """Client `client_id`'s door on its `turn`-th connection: to the next member each
        time (the native door lists the others after it, to fail over)."""
        members = self._members()
        if not members:
            return None
        first = (client_id + turn) % len(members)
        if DOORS[client_id % len(DOORS)] == "grpc":
            return GrpcDoor(members[first].grpc, self._tls)
        rotated = members[first:] + members[:first]
        return NativeDoor([m.native for m in rotated], self.config.op_timeout, self._tls)

    async def _client(self, client_id: int) -> None:
        rng = random.Random(f"{self._seed}/client/{client_id}")
        sequence = itertools.count(1)
        timeout = self.config.op_timeout
        turn = 0
        while True:
            door = self._door(client_id, turn)
            turn += 1
            if door is None:
                await anyio.sleep(_RECONNECT_DELAY)
                continue
            try:
                async with door:
                    while True:
                        request = self._next_request(rng, client_id, next(sequence))
                        op = await self._recorder.call(
                            client_id, request, partial(door.execute, request), timeout
                        )
                        self._view.learn(op)
                        if op.indeterminate and not _benign(op.error):
                            break
            except* DOOR_FAILURES:
                pass
            await anyio.sleep(_RECONNECT_DELAY)

    def _next_request(self, rng: random.Random, client_id: int, sequence: int) -> Request:
        kinds, weights = zip(*_MIX, strict=True)
        kind = rng.choices(kinds, weights)[0]
        key = rng.choice(self._keys)
        value = f"c{client_id}-{sequence}"
        leases = self._view.leases
        if kind in (OpKind.PUT_WITH_LEASE, OpKind.LEASE_KEEPALIVE, OpKind.LEASE_REVOKE):
            if not leases:
                kind = OpKind.LEASE_GRANT
        elif kind is OpKind.LEASE_GRANT and len(leases) >= self.config.max_leases:
            kind = OpKind.PUT
        match kind:
            case OpKind.PUT | OpKind.GET | OpKind.DELETE:
                return Request(kind, key, value if kind is OpKind.PUT else "")
            case OpKind.CAS:
                return self._cas(rng, key, value)
            case OpKind.PUT_WITH_LEASE:
                return Request(kind, key, value, lease_id=rng.choice(leases))
            case OpKind.LEASE_GRANT:
                return Request(kind, ttl=self.config.lease_ttl)
            case OpKind.LEASE_KEEPALIVE:
                return Request(kind, lease_id=rng.choice(leases))
            case _:
                lease_id = rng.choice(leases)
                leases.remove(lease_id)
                return Request(OpKind.LEASE_REVOKE, lease_id=lease_id)

    def _cas(self, rng: random.Random, key: str, value: str) -> Request:
        seen = self._view.seen.get(key)
        if rng.random() < 0.5:
            compare = seen[0] if seen is not None else f"never-{value}"
            return Request(OpKind.CAS, key, value, compare_value=compare)
        mod_revision = seen[1] if seen is not None else 0
        return Request(OpKind.CAS, key, value, compare_mod_revision=mod_revision)

    async def _lease_cycler(self, client_id: int) -> None:
        """Lease after lease, each kept alive a few times and then left to expire."""
        rng = random.Random(f"{self._seed}/lease-cycler/{client_id}")
        sequence = itertools.count(1)
        turn = 0
        while True:
            door = self._door(client_id, turn)
            turn += 1
            if door is not None:
                try:
                    async with door:
                        while await self._lease_cycle(door, client_id, rng, sequence):
                            pass
                except* DOOR_FAILURES:
                    pass
            await anyio.sleep(_RECONNECT_DELAY)

    async def _lease_cycle(
        self, door: Door, client_id: int, rng: random.Random, sequence: Iterator[int]
    ) -> bool:
        """One lease's life: grant, attach a key, keep alive 1-4 times at 40-70% of its TTL,
        then wait past its TTL and ask once more (it should be gone). False when a call
        failed in a way that calls for another member."""

        async def record(request: Request) -> Operation:
            call = partial(door.execute, request)
            op = await self._recorder.call(client_id, request, call, self.config.op_timeout)
            self._view.learn_private(op)
            return op

        grant = await record(Request(OpKind.LEASE_GRANT, ttl=self.config.expiring_lease_ttl))
        if grant.response is None:
            return _benign(grant.error)
        lease_id, ttl = grant.response.lease_id, grant.response.ttl
        key, value = rng.choice(self._keys), f"c{client_id}-{next(sequence)}"
        put = await record(Request(OpKind.PUT_WITH_LEASE, key, value, lease_id=lease_id))
        if put.indeterminate and not _benign(put.error):
            return False
        keep_alive = Request(OpKind.LEASE_KEEPALIVE, lease_id=lease_id)
        for _ in range(rng.randint(1, 4)):
            await anyio.sleep(ttl * rng.uniform(0.4, 0.7))
            renewed = await record(keep_alive)
            if renewed.indeterminate:
                if not _benign(renewed.error):
                    return False
                break
        await anyio.sleep(ttl + 1.5)
        gone = await record(keep_alive)
        return not gone.indeterminate or _benign(gone.error)

    async def _compactor(self) -> None:
        """Compact every `compact_every` seconds below what every watcher has seen."""
        client_id = self.config.clients
        timeout = self.config.op_timeout
        turn = 0
        while True:
            await anyio.sleep(self.config.compact_every)
            revision = self._compact_floor() - self.config.compact_margin
            if revision <= self.compacted_to:
                continue
            door = self._door(0, turn)
            turn += 1
            if door is None:
                continue
            request = Request(OpKind.COMPACT, revision=revision)
            # counted as done even if it fails: a timed-out compaction may still apply
            self.compacted_to = revision
            try:
                async with door:
                    call = partial(door.execute, request)
                    await self._recorder.call(client_id, request, call, timeout)
            except* DOOR_FAILURES:
                pass


def _benign(error: str) -> bool:
    return any(text in error for text in _BENIGN_ERRORS)
