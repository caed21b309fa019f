"""The held-messages panel: while the playground is in step mode, what every member holds,
oldest first, with the IDs `deliver` and `drop` take; hidden in real time."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import Worker

from console.held_output import NOTHING_HELD, held_lines
from playground.errors import PlaygroundError
from playground.playground import Playground
from playground.step_mode import StepOutcome

POLL_SECONDS = 0.3
"""How often the members are asked what they hold while the cluster is held."""
IDLE_POLLS = 5
"""In real time (the panel hidden) they are asked only every IDLE_POLLS polls."""


class HeldPanel(Vertical):
    """Step mode's held messages, read from the playground's members."""

    ALLOW_MAXIMIZE = True
    can_focus = True

    def __init__(self, playground: Playground | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._playground = playground
        self._polls = 0
        self._reading: Worker[None] | None = None
        self._lines = Static("", id="held-lines")
        """Held by reference: a read that ends while the app closes finds it removed from
        the DOM, where a query would raise."""

    def compose(self) -> ComposeResult:
        yield self._lines

    def on_mount(self) -> None:
        self.border_title = "Held messages (step mode)"
        self.display = False
        if self._playground is not None:
            self.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        self._polls += 1
        if self._reading is not None and not self._reading.is_finished:
            return  # the members are slow to answer: let that read finish
        if self.display or self._polls % IDLE_POLLS == 0:
            self._reading = self.run_worker(self._read(), group="held")

    async def _read(self) -> None:
        assert self._playground is not None
        try:
            outcome = await self._playground.step_mode.held()
        except PlaygroundError:
            return
        self.show(outcome)

    def show(self, outcome: StepOutcome) -> None:
        """Show what is held; the panel shows only while some member is held or holds one."""
        holding = outcome.holding or []
        self.display = bool(holding or outcome.held)
        lines = held_lines(outcome.held) or [NOTHING_HELD]
        self._lines.update(Text("\n".join(lines)))
        on_hold = ", ".join(holding) or "nobody"
        self.border_subtitle = f"{len(outcome.held)} held; clocks stopped: {on_hold}"
