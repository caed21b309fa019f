"""etcd's watch guarantees, checked over every watcher's recorded responses.

Per watcher, in arrival order over all its streams (etcd's "API guarantees" page and its
robustness tests): ordered, unique, atomic, bookmarkable, resumable, filter and prev_kv
correct. Across watchers, the union of their events (and the acknowledged writes) is the
reference history of revisions: every watcher must deliver every revision it covers
(reliable), all watchers must agree on each revision's events, create flags and versions
must follow the key's previous event, and every acknowledged write must appear at its
revision with its key and value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from checker.model.history import (
    EventType,
    KeyValue,
    Operation,
    OpKind,
    ResponseKind,
    StoreSnapshot,
    WatchEvent,
    WatchRequest,
    WatchResponse,
)
from checker.validate.violation import Violation


@dataclass(slots=True)
class MergedEvents:
    """The union of all watchers' events: the reference history of revisions.

    `complete` is True when a watcher over all keys started at the store's first revision,
    so a key with no earlier event held its `initial` value (the store read before the run);
    such watchers delivered every revision up to `covered_to`.
    """

    by_revision: dict[int, dict[str, WatchEvent]] = field(default_factory=dict)
    complete: bool = False
    covered_to: int = 0
    initial: dict[str, KeyValue] = field(default_factory=dict)
    by_key: dict[str, list[WatchEvent]] = field(default_factory=dict)

    def previous(self, key: str, revision: int) -> tuple[bool, KeyValue | None]:
        """(known, kv): the key's value just before `revision`, None when absent; known is
        False when nothing tells."""
        latest: WatchEvent | None = None
        for event in self.by_key.get(key, []):
            if event.revision >= revision:
                break
            latest = event
        if latest is not None:
            return True, latest.kv if latest.type is EventType.PUT else None
        return self.complete, self.initial.get(key)


@dataclass(slots=True)
class WatchReport:
    """The watch verdict: every violation found, and the merged history it judged by."""

    violations: list[Violation] = field(default_factory=list)
    merged: MergedEvents = field(default_factory=MergedEvents)

    @property
    def revisions(self) -> int:
        """How many revisions the watchers delivered between them."""
        return len(self.merged.by_revision)

    @property
    def summary(self) -> str:
        """`watch OK` or `N violations`."""
        if not self.violations:
            return "watch OK"
        count = len(self.violations)
        return f"{count} violation{'s' if count > 1 else ''}"

    def describe(self) -> str:
        """The summary followed by one line per violation."""
        return "\n".join([self.summary, *(v.describe() for v in self.violations)])


def check_watches(
    requests: Iterable[WatchRequest],
    responses: Iterable[WatchResponse],
    operations: Iterable[Operation] = (),
    initial: StoreSnapshot | None = None,
) -> WatchReport:
    """Check every watcher's responses against etcd's watch guarantees and each other.

    `operations` is every operation of the run: acknowledged writes must appear, and every
    event must come from some operation. `initial` is the store read before the run
    (default: an empty store at revision 1).
    """
    operations = list(operations)
    first_revision = initial.revision + 1 if initial else 2
    scans = _scan_all(requests, responses, first_revision)
    report = WatchReport()
    for scan in scans:
        report.violations.extend(scan.violations)
    merged = _merge(scans, initial, first_revision, report.violations)
    writes = [op for op in operations if op.write_revision is not None]
    compacted_through = max(
        (op.request.revision for op in operations if op.request.kind is OpKind.COMPACT),
        default=0,
    )
    for scan in scans:
        report.violations.extend(_reliable(scan, merged, writes, first_revision))
        report.violations.extend(_resumable(scan, merged))
        report.violations.extend(_prev_kv(scan, merged, compacted_through))
    report.violations.extend(_key_history(merged))
    report.violations.extend(_acknowledged_writes(writes, merged, scans))
    report.violations.extend(_phantoms(operations, merged))
    report.merged = merged
    return report


def merge_watch_events(
    requests: Iterable[WatchRequest],
    responses: Iterable[WatchResponse],
    initial: StoreSnapshot | None = None,
) -> MergedEvents:
    """The union of all watchers' events, for checks that need the revision history."""
    first_revision = initial.revision + 1 if initial else 2
    return _merge(_scan_all(requests, responses, first_revision), initial, first_revision, [])


def _scan_all(
    requests: Iterable[WatchRequest], responses: Iterable[WatchResponse], first_revision: int
) -> list[_WatcherScan]:
    streams = {(r.watcher_id, r.stream): r for r in requests}
    per_watcher: dict[str, list[WatchResponse]] = defaultdict(list)
    for response in responses:
        per_watcher[response.watcher_id].append(response)
    scans = []
    for watcher_id in sorted(per_watcher):
        scan = _WatcherScan(watcher_id, streams, first_revision)
        for response in sorted(per_watcher[watcher_id], key=lambda r: r.index):
            scan.receive(response)
        scans.append(scan)
    return scans


class _WatcherScan:
    """One watcher's responses in order: the per-watcher guarantees, and what it
    delivered and covered for the cross-watcher checks."""

    def __init__(
        self,
        watcher_id: str,
        streams: dict[tuple[str, int], WatchRequest],
        first_revision: int,
    ) -> None:
        self.watcher_id = watcher_id
        self.subject = f"watcher {watcher_id}"
        self.streams = streams
        self.first_request = streams.get(
            (watcher_id, 0), WatchRequest(watcher_id, 0, "\0", "\0", first_revision)
        )
        self.request = self.first_request
        self.stream = 0
        self.violations: list[Violation] = []
        self.delivered: dict[int, list[WatchEvent]] = defaultdict(list)
        self.delivered_by: dict[int, WatchRequest] = {}
        self.stream_events: dict[int, list[WatchEvent]] = defaultdict(list)
        self.seen: set[tuple[int, str]] = set()
        self.last_event_revision = 0
        self.last_progress_revision = 0
        self.excused: list[tuple[int, int]] = []
        self.compacted_at = 0

    @property
    def covers_all_keys(self) -> bool:
        """True when every stream of this watcher watches all keys unfiltered."""
        return (
            all(r.covers_all_keys for (w, _), r in self.streams.items() if w == self.watcher_id)
            and self.first_request.covers_all_keys
        )

    @property
    def covered_to(self) -> int:
        """Every selected revision up to this one must have been delivered."""
        return max(self.last_event_revision, self.last_progress_revision)

    def violation(self, check: str, revision: int, detail: str) -> None:
        self.violations.append(Violation(check, self.subject, revision, detail))

    def receive(self, response: WatchResponse) -> None:
        if response.stream != self.stream:
            self._resume(response.stream)
        match response.kind:
            case ResponseKind.EVENTS:
                self._events(response)
            case ResponseKind.PROGRESS:
                self.last_progress_revision = max(
                    self.last_progress_revision, response.header_revision
                )
            case ResponseKind.COMPACTED:
                self.excused.append((self.covered_to + 1, response.compact_revision - 1))
                self.compacted_at = response.compact_revision

    def _resume(self, stream: int) -> None:
        self.stream = stream
        request = self.streams.get((self.watcher_id, stream))
        if request is None:
            return
        self.request = request
        if self.last_event_revision:
            low = self.last_event_revision + 1
        else:
            low = self.first_request.start_revision
        high = max(low, self.covered_to + 1)
        start = request.start_revision
        if not (low <= start <= high or (self.compacted_at and start == self.compacted_at)):
            self.violation(
                "resumable",
                start,
                f"stream {stream} resumed from revision {start}, expected {low} "
                f"(last event seen at revision {self.last_event_revision})",
            )

    def _events(self, response: WatchResponse) -> None:
        events = response.events
        if not events:
            return
        first = events[0].revision
        if first == self.last_event_revision and (first, events[0].key) not in self.seen:
            self.violation(
                "atomic",
                first,
                f"revision {first} split over responses (response {response.index} continues it)",
            )
        for event in events:
            revision = event.revision
            if revision < self.last_event_revision:
                self.violation(
                    "ordered",
                    revision,
                    f"event {event.describe()} in response {response.index} after "
                    f"revision {self.last_event_revision} was delivered",
                )
            if (revision, event.key) in self.seen:
                self.violation(
                    "unique",
                    revision,
                    f"event {event.describe()} delivered twice (response {response.index})",
                )
            if revision <= self.last_progress_revision:
                self.violation(
                    "bookmarkable",
                    revision,
                    f"event {event.describe()} delivered after a progress notification "
                    f"at revision {self.last_progress_revision}",
                )
            if not self.request.selects(event):
                self.violation(
                    "filter",
                    revision,
                    f"event {event.describe()} is outside the watch "
                    f"[{self.request.key!r}, {self.request.range_end!r}) "
                    f"filters {[f.value for f in self.request.filters]}",
                )
            if event.prev_kv is not None and not self.request.prev_kv:
                self.violation(
                    "prev_kv", revision, f"event {event.describe()} has a prev_kv not asked for"
                )
            self.seen.add((revision, event.key))
            self.delivered[revision].append(event)
            self.delivered_by[revision] = self.request
            self.stream_events[self.stream].append(event)
            self.last_event_revision = max(self.last_event_revision, revision)

    def excuses(self, revision: int) -> bool:
        """True when a compaction response released the watcher from `revision`."""
        return any(low <= revision <= high for low, high in self.excused)


def _without_prev(event: WatchEvent) -> tuple[EventType, KeyValue]:
    return event.type, event.kv


def _merge(
    scans: list[_WatcherScan],
    initial: StoreSnapshot | None,
    first_revision: int,
    violations: list[Violation],
) -> MergedEvents:
    from_start = [
        s for s in scans if s.covers_all_keys and s.first_request.start_revision <= first_revision
    ]
    merged = MergedEvents(
        initial=initial.by_key() if initial else {},
        complete=bool(from_start),
        covered_to=max((s.covered_to for s in from_start), default=0),
    )
    first_seen_by: dict[tuple[int, str], str] = {}
    for scan in scans:
        for revision, events in scan.delivered.items():
            slot = merged.by_revision.setdefault(revision, {})
            for event in events:
                known = slot.get(event.key)
                if known is None:
                    slot[event.key] = WatchEvent(event.type, event.kv)
                    first_seen_by[(revision, event.key)] = scan.watcher_id
                elif _without_prev(known) != _without_prev(event):
                    violations.append(
                        Violation(
                            "agreement",
                            scan.subject,
                            revision,
                            f"saw {event.describe()} but watcher "
                            f"{first_seen_by[(revision, event.key)]} saw {known.describe()}",
                        )
                    )
    by_key: dict[str, list[WatchEvent]] = defaultdict(list)
    for revision in sorted(merged.by_revision):
        for event in merged.by_revision[revision].values():
            by_key[event.key].append(event)
    merged.by_key = dict(by_key)
    return merged


def _write_event(op: Operation) -> WatchEvent:
    """The event an acknowledged write must produce (value only for puts)."""
    revision = op.write_revision or 0
    event_type = EventType.DELETE if op.request.kind is OpKind.DELETE else EventType.PUT
    value = op.request.value if event_type is EventType.PUT else ""
    return WatchEvent(event_type, KeyValue(op.request.key, value, 0, revision, 0))


def _ranges(revisions: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs of sorted revisions as (first, last)."""
    start = previous = None
    for revision in revisions:
        if previous is not None and revision == previous + 1:
            previous = revision
            continue
        if start is not None and previous is not None:
            yield start, previous
        start = previous = revision
    if start is not None and previous is not None:
        yield start, previous


def _reliable(
    scan: _WatcherScan,
    merged: MergedEvents,
    writes: list[Operation],
    first_revision: int,
) -> list[Violation]:
    """Revisions the watcher covered (from its first start to its last event or progress
    notification) but did not deliver; an unfiltered watcher over all keys must deliver
    every revision, since each revision is one write with at least one event."""
    low = max(scan.first_request.start_revision, first_revision)
    high = scan.covered_to
    expected: set[int] = set()
    if scan.covers_all_keys:
        expected.update(range(low, high + 1))
    for revision, events in merged.by_revision.items():
        if low <= revision <= high and any(scan.first_request.selects(e) for e in events.values()):
            expected.add(revision)
    for op in writes:
        revision = op.write_revision or 0
        if low <= revision <= high and scan.first_request.selects(_write_event(op)):
            expected.add(revision)
    missing = sorted(r for r in expected if r not in scan.delivered and not scan.excuses(r))
    violations = []
    for first, last in _ranges(missing):
        span = f"revision {first}" if first == last else f"revisions {first}..{last}"
        known = [
            e.describe()
            for r in range(first, min(last, first + 2) + 1)
            for e in merged.by_revision.get(r, {}).values()
        ]
        nobody = " (no watcher saw it)" if first == last else " (no watcher saw them)"
        seen = f" (others saw {'; '.join(known)})" if known else nobody
        violations.append(
            Violation(
                "reliable",
                scan.subject,
                first,
                f"{span} missing although the watcher delivered up to revision {high}{seen}",
            )
        )
    partial = []
    for revision, delivered in scan.delivered.items():
        request = scan.delivered_by[revision]
        wanted = {k for k, e in merged.by_revision[revision].items() if request.selects(e)}
        got = {e.key for e in delivered}
        if wanted - got:
            partial.append(
                Violation(
                    "atomic",
                    scan.subject,
                    revision,
                    f"revision {revision} delivered without the events of "
                    f"{sorted(wanted - got)} that other watchers saw",
                )
            )
    return violations + partial


def _resumable(scan: _WatcherScan, merged: MergedEvents) -> list[Violation]:
    """Each resumed stream's first event must be the first selected revision at or after
    the revision it resumed from."""
    violations = []
    for stream, events in scan.stream_events.items():
        request = scan.streams.get((scan.watcher_id, stream))
        if stream == 0 or request is None or not events:
            continue
        expected = next(
            (
                r
                for r in sorted(merged.by_revision)
                if r >= request.start_revision
                and any(request.selects(e) for e in merged.by_revision[r].values())
            ),
            None,
        )
        if expected is not None and events[0].revision != expected:
            violations.append(
                Violation(
                    "resumable",
                    scan.subject,
                    events[0].revision,
                    f"stream {stream} from revision {request.start_revision} began with "
                    f"revision {events[0].revision}, expected {expected}",
                )
            )
    return violations


def _prev_kv(
    scan: _WatcherScan, merged: MergedEvents, compacted_through: int
) -> list[Violation]:
    """prev_kv, when asked for, is the key's value just before the event.

    As etcd's watch server, which reads prev_kv when it sends the event, it may be left out
    when that value's revision was compacted by then (at most `compacted_through`, the
    highest compaction any client asked for).
    """
    violations = []
    for revision, events in sorted(scan.delivered.items()):
        if not scan.delivered_by[revision].prev_kv:
            continue
        for event in events:
            known, previous = merged.previous(event.key, revision)
            if not known or event.prev_kv == previous:
                continue
            if (
                event.prev_kv is None
                and previous is not None
                and previous.mod_revision <= compacted_through
            ):
                continue
            have = event.prev_kv.describe() if event.prev_kv else "none"
            want = previous.describe() if previous else "none (key absent)"
            violations.append(
                Violation(
                    "prev_kv",
                    scan.subject,
                    revision,
                    f"event {event.describe()} has prev_kv {have}, expected {want}",
                )
            )
    return violations


def _key_history(merged: MergedEvents) -> list[Violation]:
    """Create flags, versions and deletes follow each key's previous event."""
    violations = []
    for key, events in sorted(merged.by_key.items()):
        for event in events:
            known, previous = merged.previous(key, event.revision)
            if not known:
                continue
            subject = f"key {key!r}"
            if event.type is EventType.DELETE:
                if previous is None:
                    violations.append(
                        Violation("kv history", subject, event.revision, "delete of an absent key")
                    )
                continue
            should_create = previous is None
            if event.is_create != should_create:
                state = "absent" if previous is None else f"holding {previous.describe()}"
                violations.append(
                    Violation(
                        "is_create",
                        subject,
                        event.revision,
                        f"event {event.describe()} has is_create={event.is_create} but the "
                        f"key was {state}",
                    )
                )
                continue
            version = 1 if previous is None else previous.version + 1
            create = event.revision if previous is None else previous.create_revision
            if (event.kv.version, event.kv.create_revision) != (version, create):
                violations.append(
                    Violation(
                        "kv history",
                        subject,
                        event.revision,
                        f"event {event.describe()} should have version {version}, "
                        f"create revision {create}",
                    )
                )
    return violations


def _acknowledged_writes(
    writes: list[Operation], merged: MergedEvents, scans: list[_WatcherScan]
) -> list[Violation]:
    """Every acknowledged write appears at its revision with its key and value."""
    violations = []
    for op in writes:
        revision = op.write_revision or 0
        expected = _write_event(op)
        subject = f"operation #{op.op_id}"
        seen = merged.by_revision.get(revision)
        if seen is None:
            if any(
                s.first_request.start_revision <= revision <= s.covered_to
                and not s.excuses(revision)
                and s.first_request.selects(expected)
                for s in scans
            ):
                violations.append(
                    Violation(
                        "durability",
                        subject,
                        revision,
                        f"acknowledged {op.request.describe()} missing from every watch stream",
                    )
                )
            continue
        event = seen.get(op.request.key)
        if (
            event is None
            or event.type is not expected.type
            or (event.type is EventType.PUT and event.kv.value != expected.kv.value)
        ):
            others = "; ".join(e.describe() for e in seen.values())
            violations.append(
                Violation(
                    "durability",
                    subject,
                    revision,
                    f"acknowledged {op.request.describe()} but the watchers saw {others}",
                )
            )
    return violations


def _phantoms(operations: list[Operation], merged: MergedEvents) -> list[Violation]:
    """Events no operation of the history can have produced: a put of a value nobody
    wrote to that key, or a delete with no delete call and no lease behind it."""
    if not operations:
        return []
    written = {
        (op.request.key, op.request.value)
        for op in operations
        if op.request.kind in (OpKind.PUT, OpKind.PUT_WITH_LEASE, OpKind.CAS)
    }
    deleted: set[tuple[str, int | None]] = set()
    for op in operations:
        if op.request.kind is OpKind.DELETE and (op.response is None or op.write_revision):
            deleted.add((op.request.key, op.write_revision))
    violations = []
    for key, events in sorted(merged.by_key.items()):
        for event in events:
            if event.type is EventType.PUT:
                explained = (key, event.kv.value) in written
            else:
                _, previous = merged.previous(key, event.revision)
                explained = (
                    (key, event.revision) in deleted
                    or (key, None) in deleted
                    or (previous is not None and previous.lease_id != 0)
                )
            if not explained:
                violations.append(
                    Violation(
                        "phantom",
                        f"key {key!r}",
                        event.revision,
                        f"event {event.describe()} matches no operation of the history",
                    )
                )
    return violations
