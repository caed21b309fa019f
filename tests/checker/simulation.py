"""Valid chaos histories by construction: clients run against a sequential etcd-like store.

Each client issues one operation at a time with a random latency; every operation takes
effect at a random instant inside its interval, in that global order, against one store
with etcd's revision rules. Some calls become indeterminate (their response is dropped;
half of them never took effect). Leases may expire on their own. Watchers replay the
store's event log in responses of a few revisions, with progress notifications and a
reconnection that resumes from the last revision + 1.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace

from checker.model.history import (
    EventType,
    History,
    KeyValue,
    Operation,
    OpKind,
    Request,
    Response,
    ResponseKind,
    StoreSnapshot,
    WatchEvent,
    WatchRequest,
    WatchResponse,
)


@dataclass(slots=True)
class Workload:
    """The shape of a simulated run."""

    clients: int = 8
    keys: int = 5
    operations: int = 200
    indeterminate_rate: float = 0.05
    watchers: int = 3
    max_latency_ns: int = 5_000_000


@dataclass(slots=True)
class SimulatedStore:
    """A sequential store with etcd's revisions, leases and event log."""

    revision: int = 1
    kvs: dict[str, KeyValue] = field(default_factory=dict)
    leases: dict[int, set[str]] = field(default_factory=dict)
    next_lease: int = 0x100
    log: list[tuple[int, tuple[WatchEvent, ...]]] = field(default_factory=list)

    def get(self, key: str) -> Response:
        return Response(self.revision, kv=self.kvs.get(key))

    def put(self, key: str, value: str, lease_id: int = 0) -> Response:
        self.revision += 1
        old = self.kvs.get(key)
        if old is not None and old.lease_id:
            self.leases[old.lease_id].discard(key)
        if old is None:
            kv = KeyValue(key, value, self.revision, self.revision, 1, lease_id)
        else:
            kv = KeyValue(key, value, old.create_revision, self.revision, old.version + 1, lease_id)
        self.kvs[key] = kv
        if lease_id:
            self.leases[lease_id].add(key)
        self.log.append((self.revision, (WatchEvent(EventType.PUT, kv, old),)))
        return Response(self.revision)

    def delete(self, key: str) -> Response:
        if key not in self.kvs:
            return Response(self.revision, deleted=0)
        self.revision += 1
        self.log.append((self.revision, (self._remove(key),)))
        return Response(self.revision, deleted=1)

    def cas(self, request: Request) -> Response:
        kv = self.kvs.get(request.key)
        if request.compare_value is not None:
            holds = kv is not None and kv.value == request.compare_value
        else:
            holds = (kv.mod_revision if kv else 0) == request.compare_mod_revision
        if not holds:
            return Response(self.revision, succeeded=False)
        return replace(self.put(request.key, request.value), succeeded=True)

    def grant(self, ttl: int) -> Response:
        lease_id = self.next_lease
        self.next_lease += 1
        self.leases[lease_id] = set()
        return Response(self.revision, lease_id=lease_id, ttl=ttl)

    def revoke(self, lease_id: int) -> Response | None:
        """None when the lease is gone (etcd answers an error)."""
        keys = self.leases.pop(lease_id, None)
        if keys is None:
            return None
        if keys:
            self.revision += 1
            events = tuple(self._remove(key) for key in sorted(keys))
            self.log.append((self.revision, events))
        return Response(self.revision)

    def snapshot(self) -> StoreSnapshot:
        return StoreSnapshot(self.revision, tuple(self.kvs[k] for k in sorted(self.kvs)))

    def _remove(self, key: str) -> WatchEvent:
        old = self.kvs.pop(key)
        if old.lease_id and old.lease_id in self.leases:
            self.leases[old.lease_id].discard(key)
        return WatchEvent(EventType.DELETE, KeyValue(key, "", 0, self.revision, 0), old)


@dataclass(slots=True)
class _Client:
    client_id: int
    rng: random.Random
    leases: list[int] = field(default_factory=list)
    seen: dict[str, KeyValue | None] = field(default_factory=dict)
    written: int = 0

    def next_request(self, keys: list[str]) -> Request:
        key = self.rng.choice(keys)
        self.written += 1
        value = f"c{self.client_id}-{self.written}"
        roll = self.rng.random()
        if roll < 0.35:
            return Request(OpKind.GET, key)
        if roll < 0.55:
            return Request(OpKind.PUT, key, value)
        if roll < 0.70:
            last = self.seen.get(key)
            if self.rng.random() < 0.5:
                return Request(
                    OpKind.CAS, key, value, compare_mod_revision=last.mod_revision if last else 0
                )
            return Request(OpKind.CAS, key, value, compare_value=last.value if last else "none")
        if roll < 0.78:
            return Request(OpKind.DELETE, key)
        if roll < 0.84 and self.leases:
            return Request(OpKind.PUT_WITH_LEASE, key, value, lease_id=self.rng.choice(self.leases))
        if roll < 0.90:
            return Request(OpKind.LEASE_GRANT, ttl=5)
        if roll < 0.94 and self.leases:
            return Request(OpKind.LEASE_REVOKE, lease_id=self.leases.pop(0))
        if self.leases:
            return Request(OpKind.LEASE_KEEPALIVE, lease_id=self.rng.choice(self.leases))
        return Request(OpKind.GET, key)


def simulate(seed: int, workload: Workload | None = None) -> History:
    """A valid history of `workload`, reproducible from `seed`."""
    workload = workload or Workload()
    rng = random.Random(seed)
    store = SimulatedStore()
    keys = [f"k{i}" for i in range(workload.keys)]
    clients = [_Client(c, random.Random(rng.random())) for c in range(workload.clients)]
    # (effect time, tie-break, client id or -1 for an expiry, invoked, completed, lease)
    timeline: list[tuple[int, int, int, int, int, int]] = []
    sequence = 0

    def schedule(client_id: int, invoked: int) -> None:
        nonlocal sequence
        completed = invoked + rng.randint(1, workload.max_latency_ns)
        effect = rng.randint(invoked, completed)
        heapq.heappush(timeline, (effect, sequence, client_id, invoked, completed, 0))
        sequence += 1

    for client in clients:
        schedule(client.client_id, rng.randint(0, workload.max_latency_ns))
    operations: list[Operation] = []
    while len(operations) < workload.operations:
        effect, _, client_id, invoked, completed, lease = heapq.heappop(timeline)
        if client_id < 0:
            store.revoke(lease)
            continue
        client = clients[client_id]
        request = client.next_request(keys)
        lost = rng.random() < workload.indeterminate_rate
        response = None if lost and rng.random() < 0.5 else _execute(store, request)
        if request.kind is OpKind.LEASE_GRANT and response is not None and rng.random() < 0.3:
            expiry = effect + rng.randint(1, 10 * workload.max_latency_ns)
            heapq.heappush(timeline, (expiry, sequence, -1, 0, 0, response.lease_id))
            sequence += 1
        if lost:
            response = None
        elif response is not None:
            _remember(client, request, response)
        operations.append(
            Operation(len(operations), client_id, request, invoked, completed, response)
        )
        schedule(client_id, completed + rng.randint(0, workload.max_latency_ns // 4))
    requests, responses = _watch_streams(store, workload.watchers, rng)
    return History(operations, requests, responses, None, store.snapshot())


def _execute(store: SimulatedStore, request: Request) -> Response | None:
    match request.kind:
        case OpKind.GET:
            return store.get(request.key)
        case OpKind.PUT:
            return store.put(request.key, request.value)
        case OpKind.PUT_WITH_LEASE:
            if request.lease_id not in store.leases:
                return None
            return store.put(request.key, request.value, request.lease_id)
        case OpKind.CAS:
            return store.cas(request)
        case OpKind.DELETE:
            return store.delete(request.key)
        case OpKind.LEASE_GRANT:
            return store.grant(request.ttl)
        case OpKind.LEASE_REVOKE:
            return store.revoke(request.lease_id)
        case _:
            alive = request.lease_id in store.leases
            return Response(store.revision, ttl=5 if alive else 0)


def _remember(client: _Client, request: Request, response: Response) -> None:
    if request.kind is OpKind.GET:
        client.seen[request.key] = response.kv
    elif request.kind is OpKind.LEASE_GRANT:
        client.leases.append(response.lease_id)


def _watch_streams(
    store: SimulatedStore, watchers: int, rng: random.Random
) -> tuple[list[WatchRequest], list[WatchResponse]]:
    requests: list[WatchRequest] = []
    responses: list[WatchResponse] = []
    for w in range(watchers):
        watcher_id = f"m{w}"
        stream, index, last = 0, 0, 0
        requests.append(WatchRequest(watcher_id, 0, "\0", "\0", 1, prev_kv=True))
        break_at = rng.randint(1, max(1, len(store.log)))
        position = 0
        while position < len(store.log):
            size = rng.randint(1, 3)
            batch = store.log[position : position + size]
            events = tuple(e for _, group in batch for e in group)
            responses.append(
                WatchResponse(watcher_id, stream, index, ResponseKind.EVENTS, batch[-1][0], events)
            )
            index += 1
            position += size
            last = batch[-1][0]
            if rng.random() < 0.2:
                responses.append(
                    WatchResponse(watcher_id, stream, index, ResponseKind.PROGRESS, last)
                )
                index += 1
            if position >= break_at and stream == 0:
                stream = 1
                requests.append(WatchRequest(watcher_id, 1, "\0", "\0", last + 1, prev_kv=True))
    return requests, responses
