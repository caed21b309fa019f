"""The watches panel: several watches side by side, each listing its events as they arrive.

Events are buffered as the watch delivers them and written at the next refresh; while the
display is paused they stay in the buffer, and resuming writes every one of them.
"""

from __future__ import annotations

import re

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Log, Static

from console.tui.records import WatchEvent, WatchSpec
from console.tui.source import DataSource, SourceUnavailable, WatchCanceled
from node.messages.errors import EtcdError

SHOWN_EVENTS = 5000
"""Events a watch keeps on screen; older ones scroll away."""
_VALUE_WIDTH = 40
_EVENT_LINE = re.compile(r"^(?P<type>PUT|DELETE) +(?P<key>.*?)(?: = .*)?  (?P<rev>@\d+)$")


def event_line(event: WatchEvent) -> str:
    """One event as a line: type, key, value (of a PUT), revision."""
    line = f"{event.type:6} {event.key.decode(errors='replace')}"
    if event.type == "PUT":
        value = event.value.decode(errors="replace")
        if len(value) > _VALUE_WIDTH:
            value = value[: _VALUE_WIDTH - 1] + "…"
        line += f" = {value}"
    return f"{line}  @{event.revision}"


class EventHighlighter(Highlighter):
    """Colours an event line as it is drawn: PUT green, DELETE red, the key bold."""

    def highlight(self, text: Text) -> None:
        """Style `text` in place."""
        match = _EVENT_LINE.match(text.plain)
        if match is None:
            return
        text.stylize("green" if match["type"] == "PUT" else "red", *match.span("type"))
        text.stylize("bold", *match.span("key"))
        text.stylize("dim", *match.span("rev"))


class WatchView(Vertical):
    """One watch: it runs while the view is shown, and buffers what the display has not shown."""

    BINDINGS = [("delete", "close", "Close watch")]

    def __init__(self, watch_id: int, spec: WatchSpec, source: DataSource) -> None:
        super().__init__(classes="watch", id=f"watch-{watch_id}")
        self.watch_id = watch_id
        self.spec = spec
        self.source = source
        self.pending: list[WatchEvent] = []
        self.shown = 0
        """Events written so far."""
        self.problem = ""
        self.created = False
        """Whether the cluster has the watch: every write from now on will show."""

    def compose(self) -> ComposeResult:
        log = Log(highlight=True, max_lines=SHOWN_EVENTS)
        log.highlighter = EventHighlighter()
        yield log

    def on_mount(self) -> None:
        self.border_title = f"#{self.watch_id} {self.spec.describe()}"
        self.run_worker(self._run(), name=f"watch {self.watch_id}")

    async def _run(self) -> None:
        try:
            await self.source.watch(self.spec, self._created, self.deliver)
        except WatchCanceled as canceled:
            self.fail(f"canceled: {canceled}")
        except SourceUnavailable as unavailable:
            self.fail(str(unavailable))
        except EtcdError as error:
            self.fail(error.message)
        else:
            self.fail("the watch ended")

    def _created(self) -> None:
        self.created = True

    def deliver(self, events: list[WatchEvent]) -> None:
        """Buffer a batch the watch delivered (called as events arrive)."""
        self.pending.extend(events)

    def fail(self, problem: str) -> None:
        """The watch ended: say why."""
        self.problem = problem
        self.border_subtitle = f"[red]{problem}[/]"

    def flush(self, paused: bool) -> None:
        """Write the buffered events, unless the display is paused (then count them)."""
        if paused:
            if self.pending:
                self.border_subtitle = f"paused · {len(self.pending)} buffered"
            return
        if self.pending:
            events, self.pending = self.pending[-SHOWN_EVENTS:], []
            self.query_one(Log).write_lines(event_line(event) for event in events)
            self.shown += len(events)
        if not self.problem:
            state = f"{self.shown} events" if self.created else "starting…"
            self.border_subtitle = state

    def action_close(self) -> None:
        """Stop this watch (its worker ends with the view) and remove it."""
        self.remove()


class WatchesPanel(Vertical):
    """Panel 4: every open watch."""

    ALLOW_MAXIMIZE = True
    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(
            "No watch yet: press w, or type `watch KEY [--prefix] [--rev=N]` below.",
            id="watch-hint",
        )
        yield Horizontal(id="watch-row")

    def on_mount(self) -> None:
        self.border_title = "4 Watches"

    @property
    def views(self) -> list[WatchView]:
        """The open watches, oldest first."""
        return list(self.query(WatchView))

    def add(self, view: WatchView) -> None:
        """Show a new watch."""
        self.query_one("#watch-hint").display = False
        self.query_one("#watch-row").mount(view)

    def flush(self, paused: bool) -> None:
        """Write every watch's buffered events (or keep them while paused)."""
        for view in self.views:
            view.flush(paused)
        self.border_subtitle = "[yellow]paused (P resumes)[/]" if paused else ""
