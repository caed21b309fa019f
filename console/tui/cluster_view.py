"""The dashboard's live picture of the cluster, fed by the data source and read by the panels.

Sources write into it as events arrive (cheap: a few attribute updates per event); the panels
read it about ten times a second, so the screen never redraws once per event. A member whose
connection is lost keeps no numbers: the panels show it as unreachable, never stale.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.timeline import GAP, Timeline, TraceEvent
from console.tui.records import LogLine, PeerProgress
from node.messages.member_events import TRACE_KINDS

LOG_LINES_KEPT = 5000
"""Log lines remembered per member (older ones drop off)."""
COMMIT_SAMPLES = 120
"""Commit index samples remembered per member, for the sparklines."""


@dataclass(slots=True)
class StatusReport:
    """What a member's Maintenance.Status said about it."""

    member_id: int
    leader: int
    term: int
    raft_index: int
    applied_index: int
    db_size: int
    db_size_in_use: int
    is_learner: bool
    errors: list[str]


@dataclass(slots=True)
class LiveMember:
    """One member as the dashboard knows it right now."""

    name: str
    endpoint: str
    id: int = 0
    reachable: bool = False
    problem: str = "connecting"
    """Why the member is unreachable; empty while it answers."""
    role: str = ""
    term: int = 0
    leader: int = 0
    commit: int = 0
    applied: int = 0
    last_index: int = 0
    snapshot_index: int = 0
    """The index of its latest raft snapshot seen (0 until one is made or restored)."""
    db_size: int = 0
    db_size_in_use: int = 0
    is_learner: bool = False
    errors: list[str] = field(default_factory=list)
    """What its status reports wrong (no leader, alarms), in etcd's words."""
    peers: dict[int, PeerProgress] = field(default_factory=dict)
    """What this member, as leader, knows of each follower's log."""
    logs: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_LINES_KEPT))
    log_count: int = 0
    """Log lines received since the dashboard started, so a panel can take just the new ones."""
    commits: deque[int] = field(default_factory=lambda: deque(maxlen=COMMIT_SAMPLES))
    """Commit index samples, one per sampling tick while reachable."""

    @property
    def label(self) -> str:
        """The member's name, or its endpoint while its name is unknown."""
        return self.name or self.endpoint

    @property
    def raft_log_entries(self) -> int:
        """Entries in its raft log since the latest snapshot seen."""
        return max(self.last_index - self.snapshot_index, 0)

    def apply_status(self, report: StatusReport) -> None:
        """Take in a status reply: the member answers, with these numbers."""
        self.reachable, self.problem = True, ""
        self.id = report.member_id
        self.is_learner = report.is_learner
        self.db_size, self.db_size_in_use = report.db_size, report.db_size_in_use
        self.errors = list(report.errors)
        self.commit = max(self.commit, report.raft_index)
        self.applied = max(self.applied, report.applied_index)
        self.last_index = max(self.last_index, report.raft_index)
        if report.term >= self.term:
            self.term, self.leader = report.term, report.leader
            if report.leader == report.member_id:
                self.role = "leader"
            elif not self.role or self.role == "leader":
                self.role = "follower"
        if self.role != "leader":
            self.peers.clear()

    def add_history(self, merged: list[LogLine]) -> None:
        """Replace the log lines with `merged`: the past read from the member's log file in
        front of the lines the stream brought (see log_history.merged_with_history)."""
        self.log_count += max(len(merged) - len(self.logs), 0)
        self.logs = deque(merged, maxlen=LOG_LINES_KEPT)

    def apply_event(self, kind: str, fields: dict[str, Any], when: float) -> None:
        """Take in one event of the member's event stream."""
        if kind == "log":
            self.logs.append(
                LogLine(when, fields.get("level", ""), fields.get("logger", ""), fields["message"])
            )
            self.log_count += 1
        elif kind == "commit":
            self.commit, self.applied = fields["commit"], fields["applied"]
            self.last_index = fields["last_index"]
        elif kind == "role":
            self.role, self.leader, self.term = fields["role"], fields["leader"], fields["term"]
            if self.role != "leader":
                self.peers.clear()
        elif kind == "peers":
            self.peers = {
                int(peer_id, 16): PeerProgress(
                    peer.get("match", 0),
                    peer.get("next", 0),
                    peer.get("state", ""),
                    peer.get("active", False),
                )
                for peer_id, peer in fields["peers"].items()
                if "match" in peer
            }
        elif kind == "snapshot" and fields.get("action") in ("created", "restored"):
            self.snapshot_index = max(self.snapshot_index, fields.get("index", 0))

    def lose(self, problem: str) -> None:
        """The member stopped answering: forget every number it gave."""
        self.reachable, self.problem = False, problem
        self.role, self.term, self.leader = "", 0, 0
        self.commit = self.applied = self.last_index = 0
        self.db_size = self.db_size_in_use = 0
        self.errors = []
        self.peers = {}
        self.commits.clear()


class ClusterView:
    """Every member the dashboard follows, and what is said of the cluster as a whole."""

    def __init__(self) -> None:
        self.members: dict[str, LiveMember] = {}
        """By the key the dashboard gave it: its playground name, or its endpoint."""
        self.names: dict[int, str] = {}
        """Member id -> name, from member lists and membership events."""
        self._leader_commits: deque[tuple[float, int]] = deque(maxlen=COMMIT_SAMPLES)
        self.timeline = Timeline()
        """The members' trace events as a message sequence chart (panel 7)."""
        self.recorder: Callable[[TraceEvent], None] | None = None
        """Called with every event taken in, when the session is being recorded."""

    def take_event(
        self, member: LiveMember, kind: str, fields: dict[str, Any], when: float
    ) -> None:
        """One event of `member`'s stream: a trace event goes to the timeline, a state event to
        the member; both to the recorder, if any."""
        if kind in TRACE_KINDS:
            name = fields.pop("member", None) or member.label
            event = TraceEvent(name, when, kind, fields)
            self.timeline.add(event)
        else:
            member.apply_event(kind, fields, when)
            event = TraceEvent(member.label, when, kind, fields)
        if self.recorder is not None:
            self.recorder(event)

    def mark_fault(self, member: str, text: str, when: float | None = None) -> None:
        """Mark an injected fault (kill, pause, partition, ...) on `member`'s lane."""
        self._mark(member, "fault", text, when)

    def mark_gap(self, member: LiveMember, text: str, when: float | None = None) -> None:
        """Mark on `member`'s lane that some of its events are missing there, and why."""
        self._mark(member.label, GAP, text, when)

    def _mark(self, lane: str, kind: str, text: str, when: float | None) -> None:
        event = TraceEvent(lane, time.time() if when is None else when, kind, {"text": text})
        self.timeline.add(event)
        if self.recorder is not None:
            self.recorder(event)

    def add(self, key: str, name: str, endpoint: str) -> LiveMember:
        """Start following a member; returns its live record."""
        member = LiveMember(name=name, endpoint=endpoint)
        self.members[key] = member
        return member

    def learn_names(self, names: dict[int, str]) -> None:
        """Remember member names by id, and name the followed members that had none."""
        self.names.update({member_id: name for member_id, name in names.items() if name})
        for member_id, name in names.items():
            if name:
                self.timeline.learn_name(f"{member_id:x}", name)
        for member in self.members.values():
            if not member.name and member.id in self.names:
                member.name = self.names[member.id]

    def name_of(self, member_id: int) -> str:
        """A member's name by id: its hex id while the name is unknown, "-" for none."""
        if not member_id:
            return "-"
        return self.names.get(member_id) or f"{member_id:x}"

    def leader(self) -> LiveMember | None:
        """The reachable member that leads in the highest term, if any does."""
        leaders = [m for m in self.members.values() if m.reachable and m.role == "leader"]
        return max(leaders, key=lambda member: member.term, default=None)

    def sample(self, now: float | None = None) -> None:
        """Record every reachable member's commit index (called at a steady pace)."""
        now = time.monotonic() if now is None else now
        for member in self.members.values():
            if member.reachable:
                member.commits.append(member.commit)
        leader = self.leader()
        if leader is None:
            self._leader_commits.clear()
        else:
            self._leader_commits.append((now, leader.commit))

    def writes_per_second(self, window: float = 2.0) -> float:
        """Entries the leader committed per second over about the last `window` seconds."""
        if len(self._leader_commits) < 2:
            return 0.0
        newest_time, newest = self._leader_commits[-1]
        oldest_time, oldest = self._leader_commits[0]
        for sample_time, commit in self._leader_commits:
            if newest_time - sample_time <= window:
                oldest_time, oldest = sample_time, commit
                break
        elapsed = newest_time - oldest_time
        return max(newest - oldest, 0) / elapsed if elapsed > 0 else 0.0
