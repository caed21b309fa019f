"""The records of a chaos run: client operations, watch streams, store snapshots.

The workload produces them, the checkers judge them, and `to_json_lines`/`from_json_lines`
save and restore a whole run for replay and post-mortem. Keys and values are text, as the
workload writes them; times are monotonic nanoseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class OpKind(StrEnum):
    """What a client operation did."""

    PUT = "put"
    GET = "get"
    CAS = "cas"
    DELETE = "delete"
    PUT_WITH_LEASE = "put_with_lease"
    LEASE_GRANT = "lease_grant"
    LEASE_REVOKE = "lease_revoke"
    LEASE_KEEPALIVE = "lease_keepalive"
    COMPACT = "compact"


RAFT_ORDERED = frozenset(
    {
        OpKind.PUT,
        OpKind.PUT_WITH_LEASE,
        OpKind.CAS,
        OpKind.DELETE,
        OpKind.GET,
        OpKind.LEASE_GRANT,
        OpKind.LEASE_REVOKE,
    }
)
"""Kinds whose response header revision is the store's revision at a point inside the call
(applied through raft, or a linearizable read). Keep-alives are answered by the leader
without raft and compaction's header is not relied upon, so they are left out."""


@dataclass(slots=True, frozen=True)
class KeyValue:
    """One version of a key, as etcd's mvccpb.KeyValue."""

    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int
    lease_id: int = 0

    def describe(self) -> str:
        """`'v' (mod 7, create 3, ver 2, lease 5)` for reports."""
        lease = f", lease {self.lease_id:x}" if self.lease_id else ""
        return (
            f"{self.value!r} (mod {self.mod_revision}, create {self.create_revision}, "
            f"ver {self.version}{lease})"
        )


@dataclass(slots=True, frozen=True)
class Request:
    """What the client asked. Fields that do not apply to the kind keep their defaults.

    `cas` is a txn on one key: if the compare holds (value equals `compare_value`, or, when
    that is None, mod_revision equals `compare_mod_revision`, 0 meaning the key is absent)
    put `value`, else do nothing.
    """

    kind: OpKind
    key: str = ""
    value: str = ""
    lease_id: int = 0
    ttl: int = 0
    compare_value: str | None = None
    compare_mod_revision: int = 0
    revision: int = 0

    def describe(self) -> str:
        """The request in the console's command language, roughly."""
        match self.kind:
            case OpKind.PUT:
                return f"put {self.key}={self.value!r}"
            case OpKind.PUT_WITH_LEASE:
                return f"put {self.key}={self.value!r} --lease={self.lease_id:x}"
            case OpKind.GET:
                return f"get {self.key}"
            case OpKind.DELETE:
                return f"del {self.key}"
            case OpKind.CAS:
                if self.compare_value is not None:
                    cond = f"value=={self.compare_value!r}"
                else:
                    cond = f"mod_revision=={self.compare_mod_revision}"
                return f"cas {self.key} if {cond} then put {self.value!r}"
            case OpKind.LEASE_GRANT:
                return f"lease grant {self.ttl}"
            case OpKind.LEASE_REVOKE:
                return f"lease revoke {self.lease_id:x}"
            case OpKind.LEASE_KEEPALIVE:
                return f"lease keep-alive {self.lease_id:x}"
            case OpKind.COMPACT:
                return f"compact {self.revision}"


@dataclass(slots=True, frozen=True)
class Response:
    """What the server answered to a call that succeeded.

    `revision` is the response header revision; for a write that took effect (a put, a
    delete that deleted, a cas whose compare held) it is that write's own revision.
    """

    revision: int
    succeeded: bool = True
    kv: KeyValue | None = None
    deleted: int = 0
    lease_id: int = 0
    ttl: int = 0

    def describe(self, kind: OpKind) -> str:
        """The parts of the response that matter for `kind`."""
        at = f"@rev {self.revision}"
        match kind:
            case OpKind.GET:
                found = self.kv.describe() if self.kv is not None else "(absent)"
                return f"{found} {at}"
            case OpKind.CAS:
                return f"{'succeeded' if self.succeeded else 'failed'} {at}"
            case OpKind.DELETE:
                return f"deleted {self.deleted} {at}"
            case OpKind.LEASE_GRANT:
                return f"lease {self.lease_id:x} ttl {self.ttl} {at}"
            case OpKind.LEASE_KEEPALIVE:
                return f"ttl {self.ttl} {at}"
            case _:
                return f"ok {at}"


@dataclass(slots=True, frozen=True)
class Operation:
    """One client call: request, invocation and completion times, and its outcome.

    `response` is None when the call failed or timed out: the operation is indeterminate
    (it may or may not have taken effect) and the checkers treat it as never completing.
    `completed_ns` then records when the client gave up, for the post-mortem only.
    """

    op_id: int
    client_id: int
    request: Request
    invoked_ns: int
    completed_ns: int | None
    response: Response | None
    error: str = ""

    @property
    def indeterminate(self) -> bool:
        """True when the outcome is unknown."""
        return self.response is None

    @property
    def end_ns(self) -> float:
        """Completion time for the checkers: infinity for an indeterminate operation."""
        if self.response is None or self.completed_ns is None:
            return math.inf
        return self.completed_ns

    @property
    def write_revision(self) -> int | None:
        """The revision this operation's write took, when it surely wrote one key."""
        r = self.response
        if r is None:
            return None
        kind = self.request.kind
        if kind in (OpKind.PUT, OpKind.PUT_WITH_LEASE) or (kind is OpKind.CAS and r.succeeded):
            return r.revision
        if kind is OpKind.DELETE and r.deleted > 0:
            return r.revision
        return None

    def describe(self, origin_ns: int = 0) -> str:
        """One readable line: who, when (ms from `origin_ns`), what, and what came back."""
        start = (self.invoked_ns - origin_ns) / 1e6
        end = "?" if self.end_ns == math.inf else f"{(self.end_ns - origin_ns) / 1e6:.3f}"
        note = f" ({self.error})" if self.error else ""
        if self.response is None:
            outcome = f"? indeterminate{note}"
        else:
            outcome = self.response.describe(self.request.kind) + note
        who = "server" if self.client_id < 0 else f"client {self.client_id}"
        return (
            f"#{self.op_id:<5} {who:<9} [{start:.3f} .. {end} ms] "
            f"{self.request.describe()} -> {outcome}"
        )


class EventType(StrEnum):
    """Watch event type."""

    PUT = "put"
    DELETE = "delete"


@dataclass(slots=True, frozen=True)
class WatchEvent:
    """One event of a watch response. A delete's `kv` carries the key and the deletion
    revision as mod_revision, with empty value and zero create_revision and version."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        """The revision of the write that produced this event."""
        return self.kv.mod_revision

    @property
    def key(self) -> str:
        """The key the event is about."""
        return self.kv.key

    @property
    def is_create(self) -> bool:
        """etcd's Event.IsCreate: a put whose create_revision is its mod_revision."""
        return self.type is EventType.PUT and self.kv.create_revision == self.kv.mod_revision

    def describe(self) -> str:
        """`put k='v' (mod 7, ...)` or `delete k @7`."""
        if self.type is EventType.DELETE:
            return f"delete {self.key} @{self.revision}"
        return f"put {self.key}={self.kv.describe()}"


class ResponseKind(StrEnum):
    """What a watch response carried."""

    CREATED = "created"
    EVENTS = "events"
    PROGRESS = "progress"
    COMPACTED = "compacted"
    CANCELED = "canceled"


@dataclass(slots=True, frozen=True)
class WatchRequest:
    """The request that opened one stream of a watcher.

    A watcher (one per member) opens stream 0 and, each time the stream breaks, a new
    stream numbered one higher that should resume from the last revision seen + 1.
    `range_end` follows etcd: "" for the single key, "\\0" for every key >= `key`.
    `filters` lists the event types the server must not send (etcd's NOPUT / NODELETE).
    """

    watcher_id: str
    stream: int
    key: str
    range_end: str
    start_revision: int
    prev_kv: bool = False
    filters: tuple[EventType, ...] = ()
    progress_notify: bool = False
    invoked_ns: int = 0

    @property
    def covers_all_keys(self) -> bool:
        """True when the watch sees the whole key space and filters nothing out."""
        return self.range_end == "\0" and self.key in ("", "\0") and not self.filters

    def selects(self, event: WatchEvent) -> bool:
        """True when `event` belongs in this watch (key range and filters)."""
        if event.type in self.filters:
            return False
        if self.range_end == "":
            return event.key == self.key
        if self.range_end == "\0":
            return event.key >= self.key
        return self.key <= event.key < self.range_end


@dataclass(slots=True, frozen=True)
class WatchResponse:
    """One response received by a watcher, in arrival order (`index` counts over all the
    watcher's streams). `header_revision` is the progress revision of a progress
    notification; `compact_revision` is set on a compaction response."""

    watcher_id: str
    stream: int
    index: int
    kind: ResponseKind
    header_revision: int
    events: tuple[WatchEvent, ...] = ()
    compact_revision: int = 0
    cancel_reason: str = ""
    received_ns: int = 0


@dataclass(slots=True, frozen=True)
class StoreSnapshot:
    """A full range read at `revision`: the store's keys before the run or after healing."""

    revision: int
    kvs: tuple[KeyValue, ...] = ()

    def by_key(self) -> dict[str, KeyValue]:
        """The snapshot as a key -> KeyValue map."""
        return {kv.key: kv for kv in self.kvs}


@dataclass(slots=True)
class History:
    """Everything a chaos run recorded."""

    operations: list[Operation] = field(default_factory=list)
    watch_requests: list[WatchRequest] = field(default_factory=list)
    watch_responses: list[WatchResponse] = field(default_factory=list)
    initial: StoreSnapshot | None = None
    final: StoreSnapshot | None = None


def to_json_lines(history: History) -> Iterator[str]:
    """One JSON object per record, tagged by `record`, in a stable order."""
    if history.initial is not None:
        yield _dump("initial", history.initial)
    for op in history.operations:
        yield _dump("operation", op)
    for req in history.watch_requests:
        yield _dump("watch_request", req)
    for resp in history.watch_responses:
        yield _dump("watch_response", resp)
    if history.final is not None:
        yield _dump("final", history.final)


def from_json_lines(lines: Iterable[str]) -> History:
    """Rebuild a History from `to_json_lines` output; blank lines are skipped."""
    history = History()
    for line in lines:
        if not line.strip():
            continue
        data = json.loads(line)
        match data.pop("record"):
            case "operation":
                history.operations.append(_operation(data))
            case "watch_request":
                history.watch_requests.append(_watch_request(data))
            case "watch_response":
                history.watch_responses.append(_watch_response(data))
            case "initial":
                history.initial = _snapshot(data)
            case "final":
                history.final = _snapshot(data)
            case other:
                raise ValueError(f"unknown history record {other!r}")
    return history


def _dump(record: str, obj: Any) -> str:
    return json.dumps({"record": record, **asdict(obj)}, separators=(",", ":"))


def _kv(data: dict[str, Any] | None) -> KeyValue | None:
    return None if data is None else KeyValue(**data)


def _operation(data: dict[str, Any]) -> Operation:
    request = data.pop("request")
    request["kind"] = OpKind(request["kind"])
    response = data.pop("response")
    if response is not None:
        response["kv"] = _kv(response["kv"])
        response = Response(**response)
    return Operation(request=Request(**request), response=response, **data)


def _event(data: dict[str, Any]) -> WatchEvent:
    return WatchEvent(EventType(data["type"]), KeyValue(**data["kv"]), _kv(data["prev_kv"]))


def _watch_request(data: dict[str, Any]) -> WatchRequest:
    data["filters"] = tuple(EventType(f) for f in data["filters"])
    return WatchRequest(**data)


def _watch_response(data: dict[str, Any]) -> WatchResponse:
    data["kind"] = ResponseKind(data["kind"])
    data["events"] = tuple(_event(e) for e in data["events"])
    return WatchResponse(**data)


def _snapshot(data: dict[str, Any]) -> StoreSnapshot:
    return StoreSnapshot(data["revision"], tuple(KeyValue(**kv) for kv in data["kvs"]))
