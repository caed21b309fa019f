"""The command bar (the REPL's commands, typed at the bottom of the dashboard) and panel 6,
where their output and the output of background jobs appear."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, RichLog

from console.commands import BackgroundOutput

SHOWN_LINES = 5000


class CommandBar(Input):
    """One command line; Enter runs it, up and down recall earlier ones."""

    BINDINGS = [
        Binding("up", "history(-1)", "Earlier command", show=False),
        Binding("down", "history(1)", "Later command", show=False),
        Binding("escape", "leave", "Leave the command bar", show=False),
    ]

    def __init__(self, commands: list[str]) -> None:
        super().__init__(
            placeholder="command, as in the REPL: put k v, get k --prefix, watch k, kill n1, help",
            suggester=SuggestFromList(commands, case_sensitive=False),
            id="command-bar",
            # text typed elsewhere lands here and typing goes on: nothing is selected to replace
            select_on_focus=False,
        )
        self.history: list[str] = []
        self._recalled = 0

    async def _on_key(self, event: events.Key) -> None:
        # ":" is how the bar is reached; typed into an empty bar it is that, not text.
        if event.character == ":" and not self.value:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    def remember(self, line: str) -> None:
        """Keep `line` for recall, and start recalling from the newest again."""
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._recalled = len(self.history)

    def action_history(self, step: int) -> None:
        """Show an earlier (-1) or later (1) command."""
        if not self.history:
            return
        self._recalled = min(max(self._recalled + step, 0), len(self.history))
        self.value = self.history[self._recalled] if self._recalled < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_leave(self) -> None:
        """Give the focus back to the members table."""
        self.screen.focus_next("DataTable")


class OutputPanel(Vertical):
    """Panel 6: each command with its output, and what background jobs print."""

    ALLOW_MAXIMIZE = True

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=SHOWN_LINES, wrap=False, markup=False, id="output-lines")

    def on_mount(self) -> None:
        self.border_title = "6 Output"

    @property
    def lines(self) -> RichLog:
        """The output log."""
        return self.query_one(RichLog)

    def show(self, line: str, output: list[str], ok: bool) -> None:
        """A command as typed, then what it printed (in red when it failed)."""
        self.lines.write(Text(f"> {line}", style="bold cyan"))
        for text in output:
            self.lines.write(Text(text, style="" if ok else "red"))

    def background(self, output: BackgroundOutput) -> None:
        """Lines a background job printed, marked with its job id."""
        style = "" if output.ok else "red"
        for text in output.lines:
            self.lines.write(Text(f"[{output.job.id}] {text}", style=style))
        if output.finished:
            self.lines.write(Text(f"[{output.job.id}] {output.job.command}: done", style="dim"))
