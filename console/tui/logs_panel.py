"""The logs panel: the selected member's log lines as its event stream carries them.

It follows new lines, and filters by lowest level and by text. Only lines that arrived since
the last refresh are written, so a busy member costs one batch per refresh, not one per line.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Log, Select

from console.tui.cluster_view import LiveMember
from console.tui.records import LogLine

LEVELS = ("debug", "info", "warning", "error")
SHOWN_LINES = 2000
"""Lines the panel keeps on screen; older ones scroll away."""
_LEVEL_STYLES = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red"}
_LOG_LINE = re.compile(r"^(?P<time>\d\d:\d\d:\d\d) (?P<level>\S+) +(?P<logger>[^:]*:)")


def level_rank(level: str) -> int:
    """How severe a level is (unknown levels count as info)."""
    normalized = "warning" if level == "warn" else level
    return LEVELS.index(normalized) if normalized in LEVELS else 1


def log_text(line: LogLine) -> str:
    """One log line, formatted: time, level, logger, message."""
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
    return f"{stamp} {line.level.upper():7} {line.logger}: {line.message}"


class LogHighlighter(Highlighter):
    """Colours a log line as it is drawn: the time dim, the level by severity, the logger."""

    def highlight(self, text: Text) -> None:
        """Style `text` in place."""
        match = _LOG_LINE.match(text.plain)
        if match is None:
            text.stylize("dim italic")
            return
        text.stylize("dim", *match.span("time"))
        text.stylize(_LEVEL_STYLES.get(match["level"], ""), *match.span("level"))
        text.stylize("cyan", *match.span("logger"))


@dataclass(slots=True)
class LogFilter:
    """Which lines to show: at or above a level, containing a text (lower case; empty: any)."""

    lowest_rank: int
    text: str

    def passes(self, line: LogLine) -> bool:
        """Whether `line` is shown."""
        if level_rank(line.level) < self.lowest_rank:
            return False
        return (
            not self.text or self.text in line.message.lower() or self.text in line.logger.lower()
        )


class LogsPanel(Vertical):
    """Panel 3: the selected member's log, following and filterable."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.member: LiveMember | None = None
        self.paused = False
        self._written = 0
        self._placeholder = False
        self._no_stream_reason = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="log-filters"):
            yield Select(
                [(level, level) for level in LEVELS],
                value="debug",
                allow_blank=False,
                id="log-level",
            )
            yield Input(placeholder="filter log text", id="log-filter")
        log = Log(highlight=True, max_lines=SHOWN_LINES, id="log-lines")
        log.highlighter = LogHighlighter()
        yield log

    def on_mount(self) -> None:
        self.border_title = "3 Logs"

    @property
    def lines(self) -> Log:
        """The log view."""
        return self.query_one("#log-lines", Log)

    def no_stream(self, reason: str) -> None:
        """Say once, instead of lines, why no log can be shown."""
        self._no_stream_reason = reason
        self.lines.clear()
        self.lines.write_line(reason)

    def follow(self, member: LiveMember | None) -> None:
        """Show `member`'s log from its first buffered line."""
        self.member = member
        self.border_title = f"3 Logs · {member.label}" if member else "3 Logs"
        self._rewrite()

    def log_filter(self) -> LogFilter:
        """The filter the level and text fields set."""
        lowest = str(self.query_one("#log-level", Select).value)
        text = self.query_one("#log-filter", Input).value.strip().lower()
        return LogFilter(level_rank(lowest), text)

    def _rewrite(self) -> None:
        if self._no_stream_reason:
            return
        self.lines.clear()
        self._written = 0
        self._placeholder = False
        if not self._write_fresh() and self.member is not None:
            self.lines.write_line(f"no log line from {self.member.label} yet")
            self._placeholder = True

    def pull(self) -> None:
        """Write the lines that arrived since the last pull (unless the display is paused)."""
        if not self.paused and not self._no_stream_reason:
            self._write_fresh()

    def _write_fresh(self) -> int:
        """Write the member's lines not written yet that pass the filters; returns how many."""
        member = self.member
        if member is None:
            return 0
        fresh = min(member.log_count - self._written, len(member.logs))
        self._written = member.log_count
        if fresh <= 0:
            return 0
        wanted = self.log_filter()
        start = len(member.logs) - fresh
        shown = [line for line in itertools.islice(member.logs, start, None) if wanted.passes(line)]
        if shown and self._placeholder:
            self.lines.clear()
            self._placeholder = False
        if shown:
            self.lines.write_lines(log_text(line) for line in shown[-SHOWN_LINES:])
        return len(shown)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A new lowest level: filter again."""
        event.stop()
        self._rewrite()

    def on_input_changed(self, event: Input.Changed) -> None:
        """New filter text: filter again."""
        event.stop()
        self._rewrite()
