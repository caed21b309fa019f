"""The live progress display of a chaos run: operations/s, faults so far, the current fault.

On a terminal one status line is redrawn every second; in a log (stdout not a tty) a status
line is printed every few seconds. Either way each fault gets its own line when it starts
and when it ends, and each stage of the run (restoring, reading, checking) one line. A live
view (the dashboard) can follow along: it gets the status every second and every fault as
it starts and ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import shorten
from typing import Protocol

import anyio

from console.chaos.nemesis import FaultRecord, Nemesis
from console.chaos.recorder import Recorder
from console.text_stream import TerminalStream

TTY_INTERVAL = 1.0
LOG_INTERVAL = 5.0
STATUS_FAULT_WIDTH = 60
"""Characters of the current fault the status line shows (its own line has it all)."""
_CLEAR_LINE = "\r\x1b[K"


@dataclass(slots=True)
class Progress:
    """The run's numbers at one moment: what the status line shows."""

    elapsed: float
    """Seconds since the run started."""
    rate: float
    """Operations per second since the previous status."""
    operations: int
    indeterminate: int
    watch_events: int
    faults: int
    """Faults injected so far (skipped ones not counted)."""
    current: FaultRecord | None
    """The fault in force, once injected; None between faults."""

    def doing(self, width: int = STATUS_FAULT_WIDTH) -> str:
        """The fault in force in at most `width` characters, or `none`."""
        current = self.current
        if current is None or not current.detail:
            return "none"
        return shorten(f"{current.kind}: {current.detail}", width, placeholder="...")

    def line(self) -> str:
        """The status line."""
        return (
            f"{self.elapsed:7.1f}s  {self.rate:6.0f} ops/s  {self.operations} ops "
            f"({self.indeterminate} indeterminate)  {self.watch_events} watch events  "
            f"faults {self.faults}  now: {self.doing()}"
        )


class LiveView(Protocol):
    """Something that shows a run's progress as it happens, besides its text (the dashboard)."""

    def show_progress(self, progress: Progress) -> None:
        """The run's numbers, every second."""

    def show_fault(self, record: FaultRecord) -> None:
        """A fault started (`ended` None), ended, or was skipped."""


class ProgressDisplay:
    """Writes the run's progress to `out`; times are seconds since `origin` on `clock`.

    `live`, when set, also gets the status every second and each fault.
    """

    def __init__(
        self,
        out: TerminalStream,
        recorder: Recorder,
        nemesis: Nemesis,
        clock: Callable[[], float],
        origin: float,
    ) -> None:
        self.live: LiveView | None = None
        self._out = out
        self._recorder = recorder
        self._nemesis = nemesis
        self._clock = clock
        self._origin = origin
        self._tty = out.isatty()
        self._status_shown = False
        self._last_count = 0
        self._last_time = origin

    def _elapsed(self) -> float:
        return self._clock() - self._origin

    def line(self, text: str) -> None:
        """Print one line of its own (a stage of the run), above the status line."""
        self._clear_status()
        self._out.write(f"{self._elapsed():7.1f}s  {text}\n")
        self._out.flush()

    def fault_changed(self, record: FaultRecord) -> None:
        """Print a fault's start or end (the nemesis calls this)."""
        if record.skipped or record.ended is None:
            self.line(f"fault {record.kind}: {record.detail}")
        else:
            held = record.ended - record.started
            self.line(f"fault {record.kind} over after {held:.1f}s")
        if self.live is not None:
            self.live.show_fault(record)

    def sample(self) -> Progress:
        """The run's numbers now; the rate counts the operations since the last sample."""
        now = self._clock()
        counts = self._recorder.counts
        rate = (counts.operations - self._last_count) / max(now - self._last_time, 1e-9)
        self._last_count, self._last_time = counts.operations, now
        return Progress(
            elapsed=now - self._origin,
            rate=rate,
            operations=counts.operations,
            indeterminate=counts.indeterminate,
            watch_events=counts.watch_events,
            faults=sum(1 for record in self._nemesis.log if not record.skipped),
            current=self._nemesis.current,
        )

    async def run(self) -> None:
        """Show the status until cancelled: redrawn every second on a terminal, printed as a
        line every few seconds in a log, and handed to the live view every second."""
        every_second = self._tty or self.live is not None
        interval = TTY_INTERVAL if every_second else LOG_INTERVAL
        ticks_per_line = round(LOG_INTERVAL / interval)
        try:
            for tick in itertools.count(1):
                await anyio.sleep(interval)
                progress = self.sample()
                if self.live is not None:
                    self.live.show_progress(progress)
                if self._tty:
                    self._out.write(_CLEAR_LINE + progress.line())
                    self._status_shown = True
                elif tick % ticks_per_line == 0:
                    self._out.write(progress.line() + "\n")
                self._out.flush()
        finally:
            self._clear_status()

    def _clear_status(self) -> None:
        if self._status_shown:
            self._out.write(_CLEAR_LINE)
            self._status_shown = False
