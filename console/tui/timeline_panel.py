"""Panel 7, the timeline: a message sequence chart of the cluster, drawn live in the terminal.

One lane per member, one row per message (an arrow from its sender's lane to its receiver's)
or per mark (role change, vote, injected fault) on a lane, oldest at the top, following the
newest unless the cursor was moved or the display paused (events are still taken in while
paused: nothing is lost). Only the rows on screen are drawn, so a redraw costs the same with
ten rows kept or fifty thousand.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Static

from console.timeline import Arrow, Mark, Row, RowFilter, Timeline, describe_life

TIME_WIDTH = 11
"""Columns of the time stamp at the left of each row."""
_TYPE_STYLES = {
    "MsgApp": "green",
    "MsgAppResp": "dark_green",
    "MsgVote": "magenta",
    "MsgVoteResp": "magenta",
    "MsgPreVote": "orchid",
    "MsgPreVoteResp": "orchid",
    "MsgHeartbeat": "grey50",
    "MsgHeartbeatResp": "grey50",
    "MsgSnap": "bold yellow",
    "MsgReadIndex": "cyan",
    "MsgReadIndexResp": "cyan",
    "MsgTimeoutNow": "bold red",
    "MsgProp": "blue",
}
_MARK_STYLES = {
    "role": "bold yellow",
    "vote": "magenta",
    "fault": "bold red",
    "gap": "bold yellow on grey23",
    "violation": "bold white on red",
}


def lane_positions(lanes: int, width: int) -> list[int]:
    """The column of each lane's line in a chart `width` columns wide (time column first)."""
    span = max(width - TIME_WIDTH, lanes)
    return [TIME_WIDTH + (2 * i + 1) * span // (2 * lanes) for i in range(lanes)]


def draw_row(row: Row, lanes: list[str], width: int, start: float) -> Text:
    """One row of the chart: the time, every lane's line, and the arrow or mark across them."""
    columns = lane_positions(len(lanes), width) if lanes else []
    cells = [" "] * width
    for column in columns:
        cells[column] = "│"
    stamp = f"{row.t - start:9.3f}s "[:TIME_WIDTH]
    cells[: len(stamp)] = stamp
    spans: list[tuple[int, int, str]] = [(0, TIME_WIDTH, "dim")]
    lane_of = {name: i for i, name in enumerate(lanes)}
    if isinstance(row, Mark):
        if row.member in lane_of:
            at = columns[lane_of[row.member]]
            words = ("◆ " + row.text)[: max(width - at, 0)]
            cells[at : at + len(words)] = words
            spans.append((at, at + len(words), _MARK_STYLES.get(row.kind, "")))
    elif row.source in lane_of and row.target in lane_of:
        source, target = columns[lane_of[row.source]], columns[lane_of[row.target]]
        left, right = min(source, target), max(source, target)
        for column in range(left + 1, right):
            cells[column] = "─"
        cells[source] = "●"
        lost = row.received is None
        cells[target] = "✕" if lost else ("▶" if target > source else "◀")
        label = f" {row.label()} "
        if len(label) < right - left - 1:
            at = left + 1 + (right - left - 1 - len(label)) // 2
            cells[at : at + len(label)] = label
        spans.append((left, right + 1, _TYPE_STYLES.get(row.type, "")))
        if lost:
            spans.append((target, target + 1, "bold red"))
    text = Text("".join(cells[:width]), no_wrap=True, overflow="crop")
    for begin, end, style in spans:
        if style:
            text.stylize(style, begin, end)
    return text


def lane_header(lanes: list[str], width: int) -> Text:
    """The lanes' names above their lines."""
    cells = [" "] * width
    header = "time"
    cells[: len(header)] = header
    for name, column in zip(lanes, lane_positions(len(lanes), width), strict=True):
        at = max(column - len(name) // 2, TIME_WIDTH)
        cells[at : at + len(name)] = name
    return Text("".join(cells[:width]), style="bold", no_wrap=True, overflow="crop")


class TimelineChart(Widget, can_focus=True):
    """The chart itself: the rows that fit, a cursor row, and the lanes' names on top."""

    BINDINGS = [
        Binding("up", "move(-1)", "Earlier", show=False),
        Binding("down", "move(1)", "Later", show=False),
        Binding("pageup", "move(-20)", show=False),
        Binding("pagedown", "move(20)", show=False),
        Binding("end", "follow", "Newest", show=False),
        Binding("b", "toggle_heartbeats", "Heartbeats"),
    ]

    cursor: reactive[int | None] = reactive(None)
    """Index into the shown rows of the selected row; None follows the newest."""
    paused_at: reactive[float | None] = reactive(None)
    """While paused: the time after which rows are held back (still collected)."""

    class Selected(Message):
        """The cursor moved to `row`."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, timeline: Timeline, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.timeline = timeline
        self.start: float | None = None
        self._top = 0
        self._drawn_version = (-1, -1)
        self.redraw_seconds = 0.0
        """How long the last render took."""

    def visible_count(self) -> int:
        """How many shown rows the chart may draw (all, or those before the pause)."""
        if self.paused_at is None:
            return len(self.timeline.shown)
        return self.timeline.shown_until(self.paused_at)

    def held_back(self) -> int:
        """Rows collected while paused and not drawn yet."""
        return len(self.timeline.shown) - self.visible_count()

    def selected_row(self) -> Row | None:
        """The row under the cursor (the newest while following)."""
        count = self.visible_count()
        if not count:
            return None
        index = count - 1 if self.cursor is None else min(self.cursor, count - 1)
        return self.timeline.shown[index]

    def update_if_changed(self) -> None:
        """Redraw when rows were added or the view changed since the last draw."""
        version = (self.timeline.events_seen, self.visible_count())
        if version != self._drawn_version:
            self._drawn_version = version
            self.refresh()

    def render(self) -> Text:
        began = time.perf_counter()
        timeline, width = self.timeline, max(self.size.width, TIME_WIDTH + 10)
        body_rows = max(self.size.height - 1, 1)
        count = self.visible_count()
        shown = timeline.shown
        if self.start is None and shown:
            self.start = shown[0].t
        start = self.start or 0.0
        cursor = count - 1 if self.cursor is None else min(self.cursor, count - 1)
        if self.cursor is None:
            self._top = max(count - body_rows, 0)
        elif cursor < self._top:
            self._top = cursor
        elif cursor >= self._top + body_rows:
            self._top = cursor - body_rows + 1
        lines = [lane_header(timeline.lanes, width)]
        for index in range(self._top, min(self._top + body_rows, count)):
            line = draw_row(shown[index], timeline.lanes, width, start)
            if index == cursor and self.has_focus:
                line.stylize("reverse")
            lines.append(line)
        if count == 0:
            lines.append(Text("no messages yet", style="dim italic"))
        self.redraw_seconds = time.perf_counter() - began
        return Text("\n").join(lines)

    def action_move(self, rows: int) -> None:
        """Move the cursor by `rows` (leaving follow mode)."""
        count = self.visible_count()
        if not count:
            return
        current = count - 1 if self.cursor is None else self.cursor
        self.cursor = max(0, min(current + rows, count - 1))
        self.post_message(self.Selected(self.selected_row()))

    def action_follow(self) -> None:
        """Follow the newest row again."""
        self.cursor = None
        self.post_message(self.Selected(self.selected_row()))

    def action_toggle_heartbeats(self) -> None:
        """Unfold (or fold again) heartbeats and their responses."""
        current = self.timeline.row_filter
        self.timeline.set_filter(
            RowFilter(current.types, current.members, not current.show_heartbeats)
        )
        self.cursor = None
        self.refresh()

    def pause(self, paused: bool) -> None:
        """Hold back (or release) the rows that arrive from now on."""
        self.paused_at = (
            (self.timeline.shown[-1].t if self.timeline.shown else 0.0) if paused else None
        )
        self.refresh()


class TimelinePanel(Vertical):
    """Panel 7: filters, the chart, and the selected message's fields or entry's life."""

    ALLOW_MAXIMIZE = True

    def __init__(self, timeline: Timeline, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.timeline = timeline
        self._no_trace: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="timeline-filters"):
            yield Input(placeholder="types: MsgApp,MsgVote,…", id="timeline-types")
            yield Input(placeholder="members: n1,n2,…", id="timeline-members")
            yield Input(placeholder="log index", id="timeline-index", type="integer")
        yield Static("", id="timeline-status")
        with Horizontal(id="timeline-body"):
            yield TimelineChart(self.timeline, id="timeline-chart")
            yield Static("select a message (↑↓), or type a log index", id="timeline-detail")

    @property
    def chart(self) -> TimelineChart:
        """The chart widget."""
        return self.query_one(TimelineChart)

    def on_mount(self) -> None:
        self.border_title = "7 Timeline"

    def no_trace(self, reason: str) -> None:
        """Say why there is no timeline (a real etcd publishes no trace events)."""
        self._no_trace = reason
        self.query_one("#timeline-status", Static).update(reason)

    def pull(self) -> None:
        """Redraw the chart if anything changed, and the status line."""
        if self._no_trace is not None:
            return
        chart = self.chart
        chart.update_if_changed()
        timeline = self.timeline
        fold = "shown" if timeline.row_filter.show_heartbeats else "folded (b unfolds)"
        status = (
            f"{timeline.events_seen} events · {len(timeline.shown)} rows · "
            f"{timeline.folded} heartbeats {fold}"
        )
        if chart.paused_at is not None:
            status += f" · paused: {chart.held_back()} new rows held"
        self.query_one("#timeline-status", Static).update(status)

    def pause(self, paused: bool) -> None:
        """Freeze or release the chart; events keep being collected."""
        self.chart.pause(paused)

    @on(Input.Changed, "#timeline-types, #timeline-members")
    def _filter_changed(self) -> None:
        types = _names(self.query_one("#timeline-types", Input).value)
        members = _names(self.query_one("#timeline-members", Input).value)
        current = self.timeline.row_filter
        self.timeline.set_filter(RowFilter(types, members, current.show_heartbeats))
        self.chart.cursor = None
        self.chart.refresh()

    @on(Input.Submitted, "#timeline-index")
    def _index_chosen(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip().isdigit():
            self.show_entry(int(event.value))

    def show_entry(self, index: int) -> None:
        """Show log entry `index`'s life on every member."""
        lines = describe_life(self.timeline.entry_life(index), index)
        self.query_one("#timeline-detail", Static).update("\n".join(lines))

    @on(TimelineChart.Selected)
    def _row_selected(self, event: TimelineChart.Selected) -> None:
        row = event.row
        detail = self.query_one("#timeline-detail", Static)
        if row is None:
            detail.update("")
            return
        lines = row.describe(self.timeline.names) if isinstance(row, Arrow) else row.describe()
        if isinstance(row, Arrow) and row.type == "MsgApp" and row.fields.get("entries"):
            first = row.fields.get("index", 0) + 1
            lines += ["", *describe_life(self.timeline.entry_life(first), first)]
        detail.update("\n".join(lines))


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())
