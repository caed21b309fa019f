"""The message sequence chart of a cluster, built from its members' trace events.

Pure bookkeeping, shared by the dashboard's timeline panel and `etcd-console diagram`: a send
and its receive become one Arrow (matched per link in order by type, from, to, term, log_term,
index and commit, as node/server/README.md says); role changes, votes and injected faults
become Marks on a member's lane, a chaos run's violations Marks on a lane of their own;
proposals, Readys, WAL saves, applies and replies are kept to tell one log entry's life on
every member. Events arrive from independent streams, so rows are
kept sorted by time, not by arrival.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HEARTBEATS = frozenset({"MsgHeartbeat", "MsgHeartbeatResp"})
"""Folded by default: they are most of the traffic of an idle cluster and say little."""
ROWS_KEPT = 50_000
"""Arrows and marks remembered (older ones drop off, as the logs panel's lines)."""
ENTRY_EVENTS_KEPT = 20_000
"""Proposals, Readys, WAL saves, applies and replies remembered per member."""
_ENTRY_KINDS = frozenset({"propose", "reply", "ready", "wal_save", "apply"})
_MATCH_FIELDS = ("type", "from", "to", "term", "log_term", "index", "commit")
GAP = "gap"
"""The kind of the event (and mark) that says events of a member are missing from here: its
queue dropped the oldest while the console fell behind, or the console lost its stream."""
_MARK_KINDS = frozenset({"fault", "violation", GAP})


def dropped_text(lost: int, why: str) -> str:
    """A gap mark's text for `lost` events a member's queue dropped, and `why` it did."""
    noun = "event" if lost == 1 else "events"
    return f"{lost} {noun} dropped here: {why}"


@dataclass(slots=True)
class TraceEvent:
    """One trace (or state) event of one member: its name, wall-clock time, kind and fields."""

    member: str
    t: float
    kind: str
    fields: dict[str, Any]

    def line(self) -> dict[str, Any]:
        """The event as one JSON object, the form of `etcd-console trace` and recordings."""
        return {"member": self.member, "t": self.t, "kind": self.kind, **self.fields}

    @classmethod
    def from_line(cls, line: dict[str, Any]) -> TraceEvent:
        """The inverse of `line` (the event takes `line` over as its fields)."""
        fields = line
        return cls(
            str(fields.pop("member")), float(fields.pop("t")), str(fields.pop("kind")), fields
        )


@dataclass(slots=True)
class Arrow:
    """One raft message: sent by `source` at `sent`, received by `target` at `received`
    (None while no receive matched it: in flight, or lost)."""

    source: str
    target: str
    type: str
    sent: float
    fields: dict[str, Any]
    received: float | None = None

    @property
    def t(self) -> float:
        """Where the arrow sits in time: when it was sent."""
        return self.sent

    @property
    def folded(self) -> bool:
        """A heartbeat or its response that carries no ReadIndex context."""
        return self.type in HEARTBEATS and not self.fields.get("context")

    def label(self) -> str:
        """A few words for the chart: the type, and what it carries."""
        f = self.fields
        words = [self.type]
        if f.get("entries") and self.type in ("MsgApp", "MsgProp"):
            first = f.get("index", 0) + 1
            last = first + f["entries"] - 1
            words.append(f"[{first}]" if first == last else f"[{first}-{last}]")
        elif self.type in ("MsgAppResp",) and not f.get("reject"):
            words.append(f"i{f.get('index', 0)}")
        if f.get("reject"):
            words.append("rej")
        if self.type in ("MsgVoteResp", "MsgPreVoteResp") and not f.get("reject"):
            words.append("ok")
        if f.get("snapshot_index"):
            words.append(f"snap@{f['snapshot_index']}")
        return " ".join(words)

    def describe(self, names: dict[str, str] | None = None) -> list[str]:
        """Every field, one `name: value` a line (member ids with their `names`), and the
        time in flight."""
        names = names or {}
        lines = [f"{self.type}  {self.source} -> {self.target}"]
        if self.received is None:
            lines.append("received: never (in flight, or lost)")
        else:
            lines.append(f"in flight: {(self.received - self.sent) * 1000:.2f} ms")
        for name, value in self.fields.items():
            if name in ("from", "to") and value in names:
                lines.append(f"{name}: {names[value]} ({value})")
            elif name != "text":
                lines.append(f"{name}: {value}")
        if "text" in self.fields:
            lines.append(self.fields["text"])
        return lines


@dataclass(slots=True)
class Mark:
    """Something that happened on one lane: a role change, a vote, a fault (on a member's),
    a violation (on the lane of violations)."""

    member: str
    t: float
    kind: str
    """`role`, `vote`, `fault`, `gap` (events missing), or a chaos run's `violation`."""
    text: str

    def describe(self) -> list[str]:
        """The mark as the detail pane shows it."""
        return [f"{self.kind} on {self.member}", self.text]


Row = Arrow | Mark


@dataclass(slots=True)
class EntryStep:
    """One step of a log entry's life on one member, and when."""

    member: str
    step: str
    """proposed, appended, fsynced, committed, applied or answered."""
    t: float


STEPS = ("proposed", "appended", "fsynced", "committed", "applied", "answered")


@dataclass(slots=True)
class RowFilter:
    """What the chart shows: message types (empty: all), members (empty: all), heartbeats."""

    types: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    show_heartbeats: bool = False

    def passes(self, row: Row) -> bool:
        """Whether the chart shows `row`."""
        if isinstance(row, Mark):
            return not self.members or row.member in self.members
        if row.folded and not self.show_heartbeats:
            return False
        if self.types and row.type not in self.types:
            return False
        return not self.members or row.source in self.members or row.target in self.members


class Timeline:
    """Every arrow and mark of a cluster, sorted by time, and the events an entry's life needs."""

    def __init__(self, rows_kept: int = ROWS_KEPT) -> None:
        self._rows_kept = rows_kept
        self._filter = RowFilter()
        self.clear()

    def clear(self) -> None:
        """Forget every event taken in (the filter stays)."""
        self.rows: list[Row] = []
        self._times: list[float] = []
        self.names: dict[str, str] = {}
        """Hex member id -> name, learnt from the events (each carries both)."""
        self.lanes: list[str] = []
        """Member names in the order they were first seen."""
        self.events_seen = 0
        self.folded = 0
        """Heartbeats and their responses seen (they are folded unless asked for)."""
        self._unmatched_sends: dict[tuple[Any, ...], deque[Arrow]] = defaultdict(deque)
        self._unmatched_receives: dict[tuple[Any, ...], deque[float]] = defaultdict(deque)
        self._entry_events: dict[str, deque[TraceEvent]] = defaultdict(
            lambda: deque(maxlen=ENTRY_EVENTS_KEPT)
        )
        self._shown: list[Row] = []
        self._shown_times: list[float] = []

    # -- taking events in ---------------------------------------------------------------------

    def add_lane(self, member: str) -> None:
        """Give `member` a lane (members are also given one when their first event arrives)."""
        if member not in self.lanes:
            self.lanes.append(member)

    def add(self, event: TraceEvent) -> None:
        """Take in one event; kinds the chart does not draw are ignored."""
        self.events_seen += 1
        kind, f = event.kind, event.fields
        if event.member not in self.lanes:
            self.lanes.append(event.member)
        member_id = f.get("member_id")
        if member_id and member_id not in self.names:
            self.learn_name(member_id, event.member)
        if kind == "msg_send":
            self._sent(event)
        elif kind == "msg_recv":
            self._received(event)
        elif kind in _ENTRY_KINDS:
            self._entry_events[event.member].append(event)
        elif kind == "raft_state" and "raft_state" in f:
            lead = self.name_of(f.get("lead", "0"))
            self._insert(
                Mark(
                    event.member, event.t, "role", f"{f['raft_state']} term {f['term']} lead {lead}"
                )
            )
        elif kind == "vote":
            pre = "pre-vote" if f.get("pre") else "vote"
            answer = "grants" if f.get("granted") else "refuses"
            candidate = self.name_of(f.get("candidate", "0"))
            self._insert(
                Mark(
                    event.member, event.t, "vote", f"{answer} {pre} to {candidate} term {f['term']}"
                )
            )
        elif kind in _MARK_KINDS:
            self._insert(Mark(event.member, event.t, kind, str(f.get("text", ""))))

    def extend(self, events: Iterable[TraceEvent]) -> None:
        """Take in many events."""
        for event in events:
            self.add(event)

    def learn_name(self, member_id: str, name: str) -> None:
        """Name the member of hex id `member_id` (arrows to it drawn so far included), and give
        it a lane."""
        self.add_lane(name)
        if self.names.get(member_id) == name:
            return
        self.names[member_id] = name
        for row in self.rows:
            if isinstance(row, Arrow) and row.target == member_id:
                row.target = name

    def name_of(self, member_id: str) -> str:
        """A member's name by hex id, or the id while unknown."""
        return self.names.get(member_id, member_id)

    def _sent(self, event: TraceEvent) -> None:
        f = event.fields
        arrow = Arrow(event.member, self.name_of(f.get("to", "")), f.get("type", "?"), event.t, f)
        if arrow.folded:
            self.folded += 1
        key = tuple(f.get(name) for name in _MATCH_FIELDS)
        early = self._unmatched_receives.get(key)
        if early:
            arrow.received = early.popleft()
            if not early:
                del self._unmatched_receives[key]
        else:
            self._unmatched_sends[key].append(arrow)
        self._insert(arrow)

    def _received(self, event: TraceEvent) -> None:
        key = tuple(event.fields.get(name) for name in _MATCH_FIELDS)
        waiting = self._unmatched_sends.get(key)
        if waiting:
            waiting.popleft().received = event.t
            if not waiting:
                del self._unmatched_sends[key]
        else:
            self._unmatched_receives[key].append(event.t)

    def _insert(self, row: Row) -> None:
        times = self._times
        if not times or row.t >= times[-1]:
            times.append(row.t)
            self.rows.append(row)
        else:
            at = bisect.bisect_right(times, row.t)
            times.insert(at, row.t)
            self.rows.insert(at, row)
        if self._filter.passes(row):
            shown_times = self._shown_times
            if not shown_times or row.t >= shown_times[-1]:
                shown_times.append(row.t)
                self._shown.append(row)
            else:
                at = bisect.bisect_right(shown_times, row.t)
                shown_times.insert(at, row.t)
                self._shown.insert(at, row)
        if len(self.rows) > self._rows_kept * 1.2:
            self._trim()

    def _trim(self) -> None:
        drop = len(self.rows) - self._rows_kept
        oldest_kept = self._times[drop]
        del self.rows[:drop], self._times[:drop]
        cut = bisect.bisect_left(self._shown_times, oldest_kept)
        del self._shown[:cut], self._shown_times[:cut]

    # -- what the chart shows -----------------------------------------------------------------

    @property
    def row_filter(self) -> RowFilter:
        """The filter the shown rows pass."""
        return self._filter

    def set_filter(self, row_filter: RowFilter) -> None:
        """Show only the rows `row_filter` passes (the rows themselves are all kept)."""
        self._filter = row_filter
        self._shown = [row for row in self.rows if row_filter.passes(row)]
        self._shown_times = [row.t for row in self._shown]

    @property
    def shown(self) -> list[Row]:
        """The rows the filter passes, oldest first."""
        return self._shown

    def shown_until(self, t: float) -> int:
        """How many shown rows are at or before time `t`."""
        return bisect.bisect_right(self._shown_times, t)

    # -- one entry's life ---------------------------------------------------------------------

    def entry_life(self, index: int) -> list[EntryStep]:
        """Log entry `index` on every member: proposed, appended, fsynced, committed, applied
        and answered, each step once per member, by time."""
        steps: list[EntryStep] = []
        request_ids: set[str] = set()
        for member, events in self._entry_events.items():
            seen: set[str] = set()
            for event in events:
                for step in _steps_of(event, index, request_ids):
                    if step not in seen:
                        seen.add(step)
                        steps.append(EntryStep(member, step, event.t))
        for member, events in self._entry_events.items():
            for event in events:
                f = event.fields
                if f.get("request_id") in request_ids and event.kind in ("propose", "reply"):
                    step = "proposed" if event.kind == "propose" else "answered"
                    steps.append(EntryStep(member, step, event.t))
        steps.sort(key=lambda s: s.t)
        return steps


def _in(first: Any, last: Any, index: int) -> bool:
    return bool(first) and first <= index <= last


def _steps_of(event: TraceEvent, index: int, request_ids: set[str]) -> list[str]:
    f = event.fields
    if event.kind == "ready":
        steps = []
        if _in(f.get("entries_first"), f.get("entries_last"), index):
            steps.append("appended")
        if _in(f.get("committed_first"), f.get("committed_last"), index):
            steps.append("committed")
        return steps
    if (
        event.kind == "wal_save"
        and f.get("sync")
        and _in(f.get("first_index"), f.get("last_index"), index)
    ):
        return ["fsynced"]
    if event.kind == "apply" and _in(f.get("first_index"), f.get("last_index"), index):
        for request in f.get("requests") or []:
            if request.get("index") == index and request.get("request_id"):
                request_ids.add(request["request_id"])
        return ["applied"]
    return []


def describe_life(steps: list[EntryStep], index: int) -> list[str]:
    """An entry's life as lines: each step, when (ms after the first), and since the last."""
    if not steps:
        return [f"entry {index}: no trace of it (yet, or no longer)"]
    start = steps[0].t
    lines = [f"entry {index}"]
    previous = start
    for step in steps:
        lines.append(
            f"{(step.t - start) * 1000:8.2f} ms  +{(step.t - previous) * 1000:6.2f}  "
            f"{step.member:<8} {step.step}"
        )
        previous = step.t
    return lines
