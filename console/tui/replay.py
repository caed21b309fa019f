"""`etcd-console replay`: the dashboard on a recording, with a time control.

A ReplayPlayer feeds the recording's events, up to the replay's position, into the same
ClusterView the live sources feed, so every panel shows the past as it was: members, commit
indexes, logs, the timeline, the commands typed (in the output panel). Forwards it applies
the next events; backwards it starts again from the first event (taking the events in is fast:
benchmarks/timeline_redraw.py measures it). Keys and watches need a live cluster: the
recording holds no values, and the key browser says so. A chaos run's recording marks its
violations: the replay can open at the first one and jump between them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from pathlib import Path

import anyio
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.recording import COMMAND, VIOLATION, Recording
from console.timeline import GAP, TraceEvent
from console.tui.app import DashboardApp, FollowedMember
from console.tui.cluster_view import ClusterView, LiveMember
from console.tui.records import KeyPage, KeyRecord, WatchSpec
from console.tui.source import SourceUnavailable, WatchDelivery
from node.messages.member_events import TRACE_KINDS

SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
TICK_SECONDS = 0.05
SEEK_SECONDS = 5.0
TIMELINE_PANEL = 7
_NO_KEYS = "a recording holds no key values: keys and watches need a live cluster"


class ReplaySource:
    """The DataSource of a replay: members are fed by the player, never followed."""

    streams_logs = True
    streams_trace = True

    def __init__(self, path: str | Path) -> None:
        self.label = f"replay of {path}"

    async def run(self) -> None:
        """Nothing to connect to."""
        await anyio.sleep_forever()

    async def follow(self, member: LiveMember, cluster: ClusterView) -> None:
        """The player updates members; nothing to follow."""
        await anyio.sleep_forever()

    async def keys(self, start: bytes, end: bytes, limit: int) -> KeyPage:
        """Refused: no values were recorded."""
        raise SourceUnavailable(_NO_KEYS)

    async def get(self, key: bytes, revision: int = 0) -> KeyRecord | None:
        """Refused: no values were recorded."""
        raise SourceUnavailable(_NO_KEYS)

    async def lease_remaining(self, lease_id: int) -> int:
        """Refused: no values were recorded."""
        raise SourceUnavailable(_NO_KEYS)

    async def watch(
        self, spec: WatchSpec, created: Callable[[], None], deliver: WatchDelivery
    ) -> None:
        """Refused: no values were recorded."""
        raise SourceUnavailable(_NO_KEYS)


EventShown = Callable[[TraceEvent], None]


class ReplayPlayer:
    """Where a replay is in its recording, and how it moves: play at a speed, step, seek."""

    def __init__(self, recording: Recording, cluster: ClusterView, shown: EventShown) -> None:
        self.events = recording.events
        self._times = [event.t for event in self.events]
        self.cluster = cluster
        self._shown = shown
        self.violations = [i for i, event in enumerate(self.events) if event.kind == VIOLATION]
        """The positions of the recording's violation events."""
        self.position = 0
        """How many events have been applied."""
        self.playing = False
        self.speed = 1.0
        self.start = self._times[0] if self._times else 0.0
        self.end = self._times[-1] if self._times else 0.0
        self._clock = self.start
        self._members = [
            (key, member.name, member.endpoint) for key, member in cluster.members.items()
        ]

    @property
    def now(self) -> float:
        """The recording's time the replay shows (seconds since epoch)."""
        return self._clock

    def _apply(self, event: TraceEvent) -> None:
        cluster = self.cluster
        if event.kind in TRACE_KINDS or event.kind in ("fault", GAP):
            cluster.timeline.add(event)
        elif event.kind == COMMAND:
            self._shown(event)
        elif event.kind == VIOLATION:
            cluster.timeline.add(event)
            self._shown(event)
        else:
            member = cluster.members.get(event.member)
            if member is not None:
                member.reachable, member.problem = True, ""
                member.apply_event(event.kind, dict(event.fields), event.t)

    def _reset(self) -> None:
        cluster = self.cluster
        for key, name, endpoint in self._members:
            cluster.members[key] = LiveMember(name=name, endpoint=endpoint, problem="not seen yet")
        cluster.timeline.clear()
        for key, *_ in self._members:
            cluster.timeline.add_lane(key)
        self.position = 0

    def seek_position(self, position: int) -> None:
        """Show the state after the first `position` events."""
        position = max(0, min(position, len(self.events)))
        if position < self.position:
            self._reset()
        for event in self.events[self.position : position]:
            self._apply(event)
        self.position = position
        if position:
            self._clock = self.events[position - 1].t
        else:
            self._clock = self.start

    def seek_time(self, t: float) -> None:
        """Show the state at time `t`: every event at or before it applied."""
        self.seek_position(bisect.bisect_right(self._times, t))
        self._clock = max(self.start, min(t, self.end))

    def seek_violation(self, steps: int) -> bool:
        """Show the state just after the next violation (the previous one when `steps` < 0),
        paused; False, and no move, when there is none that way."""
        if steps > 0:
            ahead = [i for i in self.violations if i + 1 > self.position]
            target = ahead[min(steps, len(ahead)) - 1] if ahead else None
        else:
            behind = [i for i in self.violations if i + 1 < self.position]
            target = behind[max(steps, -len(behind))] if behind else None
        if target is None:
            return False
        self.playing = False
        self.seek_position(target + 1)
        return True

    def step(self, events: int) -> None:
        """Move `events` events forwards (or backwards when negative), paused."""
        self.playing = False
        self.seek_position(self.position + events)

    def faster(self, steps: int) -> None:
        """Change the speed to the next one up (or down), 0.1x to 10x."""
        at = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.speed))
        self.speed = SPEEDS[max(0, min(at + steps, len(SPEEDS) - 1))]

    def tick(self, seconds: float) -> None:
        """`seconds` of real time passed: while playing, move on by seconds x speed."""
        if not self.playing:
            return
        self.seek_time(self._clock + seconds * self.speed)
        if self.position >= len(self.events):
            self.playing = False

    def describe(self) -> str:
        """The control's status line."""
        state = "▶" if self.playing else "⏸"
        return (
            f"{state} {self.speed:g}x  {self._clock - self.start:8.3f} s / "
            f"{self.end - self.start:.3f} s  event {self.position}/{len(self.events)}  "
            "(space play · , . step · [ ] seek 5 s · - + speed · 0 start"
            + (f" · v V violation, {len(self.violations)} marked)" if self.violations else ")")
            + self._last_violation()
        )

    def _last_violation(self) -> str:
        """A second line with the latest violation passed, if any."""
        passed = [i for i in self.violations if i < self.position]
        if not passed:
            return ""
        event = self.events[passed[-1]]
        return f"\nviolation at {event.t - self.start:.3f} s: {event.fields.get('text', '')}"


class ReplayApp(DashboardApp):
    """The dashboard on a recording, with the replay's time control."""

    BINDINGS = [
        *DashboardApp.BINDINGS,
        Binding("space", "play", "Play/pause"),
        Binding("full_stop", "step(1)", "Step", key_display="."),
        Binding("comma", "step(-1)", "Back", show=False),
        Binding("right_square_bracket", "seek(5)", "Seek", key_display="[ ]"),
        Binding("left_square_bracket", "seek(-5)", show=False),
        Binding("plus", "speed(1)", "Speed", key_display="- +"),
        Binding("minus", "speed(-1)", show=False),
        Binding("0", "seek_start", show=False),
        Binding("v", "violation(1)", "Violation", key_display="v V"),
        Binding("V", "violation(-1)", show=False),
    ]

    def __init__(
        self, recording: Recording, path: str | Path, *, at_violation: bool = False
    ) -> None:
        """The dashboard on `recording`; `at_violation` opens it paused at the first violation
        a chaos run marked in it (the caller checks there is one)."""
        members = [FollowedMember(name, name, "recorded") for name in recording.members]
        super().__init__(ReplaySource(path), members)
        for member in self.cluster.members.values():
            member.problem = "not seen yet"
        for name in recording.members:
            self.cluster.timeline.add_lane(name)
        self.player = ReplayPlayer(recording, self.cluster, self._show_event)
        self._at_violation = at_violation

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(self.player.describe(), id="replay-bar", markup=False)

    def on_mount(self) -> None:
        self.set_interval(TICK_SECONDS, self._tick)
        if self._at_violation:
            self.action_violation(1)

    def _tick(self) -> None:
        if self.is_running and self.player.playing:
            self.player.tick(TICK_SECONDS)
            self._after_move()

    def _after_move(self) -> None:
        self._select(self.selected)
        self.query_one("#replay-bar", Static).update(self.player.describe())

    def _show_event(self, event: TraceEvent) -> None:
        fields = event.fields
        if event.kind == VIOLATION:
            line = f"violation ({fields.get('check', '')}) at {event.t - self.player.start:.3f} s"
            self.output_panel.show(line, [str(fields.get("text", ""))], False)
            return
        self.output_panel.show(
            fields.get("line", ""), list(fields.get("lines") or []), bool(fields.get("ok", True))
        )

    def action_play(self) -> None:
        """Play from here, or pause."""
        self.player.playing = not self.player.playing
        self._after_move()

    def action_step(self, events: int) -> None:
        """One event forwards or backwards."""
        self.player.step(events)
        self._after_move()

    def action_seek(self, seconds: float) -> None:
        """Jump `seconds` forwards or backwards in the recording's time."""
        self.player.seek_time(self.player.now + seconds)
        self._after_move()

    def action_seek_start(self) -> None:
        """Back to the first event."""
        self.player.seek_position(0)
        self._after_move()

    def action_violation(self, steps: int) -> None:
        """To the next (or previous) violation the recording marks, with the timeline shown."""
        if not self.player.seek_violation(steps):
            which = "next" if steps > 0 else "previous"
            none = "no" if not self.player.violations else f"no {which}"
            self.notify(f"{none} violation marked in this recording", severity="warning")
            return
        if not self._panel(TIMELINE_PANEL).has_focus_within:
            self.action_show_panel(TIMELINE_PANEL)
        self._after_move()

    def action_speed(self, steps: int) -> None:
        """Faster or slower."""
        self.player.faster(steps)
        self._after_move()
