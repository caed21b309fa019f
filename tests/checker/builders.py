"""Terse builders for handcrafted histories: times are plain integers, None for an
operation that never completed (indeterminate)."""

from __future__ import annotations

from dataclasses import dataclass, field

from checker.model.history import (
    EventType,
    KeyValue,
    Operation,
    OpKind,
    Request,
    Response,
    ResponseKind,
    WatchEvent,
    WatchRequest,
    WatchResponse,
)


def kv(
    key: str, value: str, mod: int, create: int | None = None, version: int = 1, lease: int = 0
) -> KeyValue:
    """A key's version; create defaults to mod (a freshly created key)."""
    return KeyValue(key, value, mod if create is None else create, mod, version, lease)


@dataclass
class Ops:
    """Appends operations with consecutive ids; `done=None` makes one indeterminate."""

    operations: list[Operation] = field(default_factory=list)

    def _add(
        self, request: Request, at: int, done: int | None, response: Response | None, client: int
    ) -> Operation:
        op = Operation(
            len(self.operations) + 1,
            client,
            request,
            at,
            done,
            None if done is None else response,
            "" if done is not None else "context deadline exceeded",
        )
        self.operations.append(op)
        return op

    def failed(
        self, request: Request, at: int, done: int, error: str, client: int = 0
    ) -> Operation:
        """A call the server refused with `error` at `done` (so it surely did not apply)."""
        op = Operation(len(self.operations) + 1, client, request, at, done, None, error)
        self.operations.append(op)
        return op

    def put(
        self,
        key: str,
        value: str,
        at: int,
        done: int | None,
        rev: int = 0,
        client: int = 0,
        lease: int = 0,
    ) -> Operation:
        kind = OpKind.PUT_WITH_LEASE if lease else OpKind.PUT
        return self._add(Request(kind, key, value, lease_id=lease), at, done, Response(rev), client)

    def get(
        self,
        key: str,
        at: int,
        done: int | None,
        rev: int,
        found: KeyValue | None = None,
        client: int = 0,
    ) -> Operation:
        return self._add(Request(OpKind.GET, key), at, done, Response(rev, kv=found), client)

    def cas(
        self,
        key: str,
        value: str,
        at: int,
        done: int | None,
        rev: int = 0,
        succeeded: bool = True,
        if_value: str | None = None,
        if_mod: int = 0,
        client: int = 0,
    ) -> Operation:
        request = Request(
            OpKind.CAS, key, value, compare_value=if_value, compare_mod_revision=if_mod
        )
        return self._add(request, at, done, Response(rev, succeeded=succeeded), client)

    def delete(
        self, key: str, at: int, done: int | None, rev: int = 0, deleted: int = 1, client: int = 0
    ) -> Operation:
        return self._add(
            Request(OpKind.DELETE, key), at, done, Response(rev, deleted=deleted), client
        )

    def revoke(
        self, lease: int, at: int, done: int | None, rev: int = 0, client: int = 0
    ) -> Operation:
        return self._add(
            Request(OpKind.LEASE_REVOKE, lease_id=lease), at, done, Response(rev), client
        )

    def grant(
        self, lease: int, ttl: int, at: int, done: int | None, rev: int = 0, client: int = 0
    ) -> Operation:
        response = Response(rev, lease_id=lease, ttl=ttl)
        return self._add(Request(OpKind.LEASE_GRANT, ttl=ttl), at, done, response, client)

    def keep_alive(
        self, lease: int, ttl: int, at: int, done: int | None, client: int = 0
    ) -> Operation:
        response = Response(0, lease_id=lease, ttl=ttl)
        return self._add(
            Request(OpKind.LEASE_KEEPALIVE, lease_id=lease), at, done, response, client
        )

    def compact(self, revision: int, at: int, done: int | None, client: int = 0) -> Operation:
        return self._add(
            Request(OpKind.COMPACT, revision=revision), at, done, Response(revision), client
        )


def put_event(
    key: str,
    value: str,
    rev: int,
    create: int | None = None,
    version: int = 1,
    prev: KeyValue | None = None,
    lease: int = 0,
) -> WatchEvent:
    return WatchEvent(EventType.PUT, kv(key, value, rev, create, version, lease), prev)


def delete_event(key: str, rev: int, prev: KeyValue | None = None) -> WatchEvent:
    return WatchEvent(EventType.DELETE, KeyValue(key, "", 0, rev, 0), prev)


@dataclass
class Watcher:
    """One watcher's streams and responses, recorded in arrival order."""

    watcher_id: str
    start: int = 1
    key: str = "\0"
    range_end: str = "\0"
    prev_kv: bool = True
    requests: list[WatchRequest] = field(default_factory=list)
    responses: list[WatchResponse] = field(default_factory=list)
    stream: int = 0

    def __post_init__(self) -> None:
        self.requests.append(self._request(self.start))

    def _request(self, start: int) -> WatchRequest:
        return WatchRequest(
            self.watcher_id, self.stream, self.key, self.range_end, start, self.prev_kv
        )

    def _respond(
        self, kind: ResponseKind, header: int, events: tuple[WatchEvent, ...] = (), compact: int = 0
    ) -> None:
        self.responses.append(
            WatchResponse(
                self.watcher_id, self.stream, len(self.responses), kind, header, events, compact
            )
        )

    def events(self, *events: WatchEvent) -> Watcher:
        self._respond(ResponseKind.EVENTS, max(e.revision for e in events), events)
        return self

    def progress(self, revision: int) -> Watcher:
        self._respond(ResponseKind.PROGRESS, revision)
        return self

    def compacted(self, compact_revision: int) -> Watcher:
        self._respond(ResponseKind.COMPACTED, compact_revision, compact=compact_revision)
        return self

    def resume(self, start: int) -> Watcher:
        self.stream += 1
        self.requests.append(self._request(start))
        return self
