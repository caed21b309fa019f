"""The live progress display of a chaos run: operations/s, faults so far, the current fault.

On a terminal one status line is redrawn every second; in a log (stdout not a tty) a status
line is printed every few seconds. Either way each fault gets its own line when it starts
and when it ends, and each stage of the run (restoring, reading, checking) one line.
"""

from __future__ import annotations

from collections.abc import Callable
from textwrap import shorten
from typing import TextIO

import anyio

from console.chaos.nemesis import FaultRecord, Nemesis
from console.chaos.recorder import Recorder

TTY_INTERVAL = 1.0
LOG_INTERVAL = 5.0
STATUS_FAULT_WIDTH = 60
"""Characters of the current fault the status line shows (its own line has it all)."""
_CLEAR_LINE = "\r\x1b[K"


class ProgressDisplay:
    """Writes the run's progress to `out`; times are seconds since `origin` on `clock`."""

    def __init__(
        self,
        out: TextIO,
        recorder: Recorder,
        nemesis: Nemesis,
        clock: Callable[[], float],
        origin: float,
    ) -> None:
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

    def status(self) -> str:
        """The status line: rate, totals, faults and the fault in force."""
        now = self._clock()
        counts = self._recorder.counts
        rate = (counts.operations - self._last_count) / max(now - self._last_time, 1e-9)
        self._last_count, self._last_time = counts.operations, now
        injected = sum(1 for record in self._nemesis.log if not record.skipped)
        current = self._nemesis.current
        doing = "none"
        if current and current.detail:
            doing = shorten(
                f"{current.kind}: {current.detail}", STATUS_FAULT_WIDTH, placeholder="..."
            )
        return (
            f"{self._elapsed():7.1f}s  {rate:6.0f} ops/s  {counts.operations} ops "
            f"({counts.indeterminate} indeterminate)  {counts.watch_events} watch events  "
            f"faults {injected}  now: {doing}"
        )

    async def run(self) -> None:
        """Redraw or print the status line until cancelled."""
        interval = TTY_INTERVAL if self._tty else LOG_INTERVAL
        try:
            while True:
                await anyio.sleep(interval)
                text = self.status()
                if self._tty:
                    self._out.write(_CLEAR_LINE + text)
                    self._status_shown = True
                else:
                    self._out.write(text + "\n")
                self._out.flush()
        finally:
            self._clear_status()

    def _clear_status(self) -> None:
        if self._status_shown:
            self._out.write(_CLEAR_LINE)
            self._status_shown = False
