"""`etcd-console chaos --tui`: a chaos run inside the dashboard.

The cluster starts before the dashboard opens (its lines print on the terminal meanwhile),
so the dashboard knows the members; the run then goes on as the dashboard's story, in its
event loop. The run's lines fill the Output panel (6), the status shows in the title every
second and each fault as a notification, so the faults and the cluster's reaction are seen
together in the members panel. At the end the verdict fills the Output panel and the
dashboard stays open until q; q during the run stops it first, cleanly: the cluster is
stopped and the history so far saved.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import anyio
from rich.text import Text
from textual.notifications import SeverityLevel
from textual.widgets import TabbedContent

from console.chaos.nemesis import FaultRecord
from console.chaos.progress import Progress
from console.chaos.run import (
    EXIT_PASSED,
    EXIT_VIOLATION,
    ChaosConfig,
    ChaosResult,
    ChaosRun,
    closing_lines,
)
from console.tui.app import DashboardApp, FollowedMember
from console.tui.native_source import NativeSource
from console.tui.playground_endpoints import playground_member_endpoints

EXIT_INTERRUPTED = 130
"""The exit status of a run stopped before its verdict, as a shell reports Ctrl-C."""
TITLE_FAULT_WIDTH = 50
"""Characters of the current fault the title shows (the Output panel has it all)."""
_VERDICT_STYLES = {EXIT_PASSED: "bold green", EXIT_VIOLATION: "bold red"}
_VERDICT_SEVERITIES: dict[int, SeverityLevel] = {
    EXIT_PASSED: "information",
    EXIT_VIOLATION: "error",
}


class PanelText:
    """The run's text stream: on the terminal until the dashboard shows it, then each
    finished line to the Output panel (the lines written before it first)."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal
        self._emit: Callable[[str], object] | None = None
        self._before: list[str] | None = []
        self._partial = ""

    def isatty(self) -> bool:
        """Never a terminal: the status is printed every few seconds, not redrawn."""
        return False

    def write(self, text: str) -> int:
        """Write `text` to the terminal, or hand its finished lines to the panel."""
        if self._emit is None:
            self.terminal.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if self._emit is not None:
                self._emit(line)
            elif self._before is not None:
                self._before.append(line)
        return len(text)

    def flush(self) -> None:
        """Flush the terminal (the panel holds nothing back)."""
        if self._emit is None:
            self.terminal.flush()

    def attach(self, emit: Callable[[str], object]) -> None:
        """Hand every line to `emit` from now on, the ones written so far first."""
        for line in self._before or []:
            emit(line)
        self._before = None
        self._emit = emit

    def detach(self) -> None:
        """Write to the terminal again (the dashboard closed)."""
        self._emit = None


class ChaosDashboard(DashboardApp):
    """The dashboard of a chaos run's started cluster, with the rest of the run as its story."""

    CSS_PATH = str(Path(inspect.getfile(DashboardApp)).parent / DashboardApp.CSS_PATH)

    def __init__(self, run: ChaosRun, text: PanelText) -> None:
        playground = run.playground
        endpoints = playground.native_endpoints()
        members = [
            FollowedMember(name, name, record.native_endpoint)
            for name, record in playground.members.items()
        ]
        super().__init__(
            NativeSource(endpoints, playground_member_endpoints(playground)),
            members,
            playground,
            endpoints,
            story=lambda _app: self._tell(),
        )
        self.chaos = run
        self.result: ChaosResult | None = None
        """The run's verdict, once checked."""
        self._text = text
        self._run_scope: anyio.CancelScope | None = None

    async def _tell(self) -> None:
        run = self.chaos
        self.query_one(TabbedContent).active = "output-tab"
        self._text.attach(self.output_panel.lines.write)
        run.display.live = self
        self._run_scope = anyio.CancelScope()
        with self._run_scope:
            try:
                await run.drive()
            finally:
                await run.stop()
            self.result = await run.check()
            self._show_verdict(self.result)
        if self._run_scope.cancel_called:  # q stopped the run: the dashboard closes
            self.exit()

    def _show_verdict(self, result: ChaosResult) -> None:
        status = result.exit_status
        first, *rest = closing_lines(self.chaos.config, result)
        panel = self.output_panel.lines
        panel.write(Text(first, style=_VERDICT_STYLES.get(status, "bold yellow")))
        for line in rest:
            panel.write(line)
        verdict = ", ".join(result.check_lines())
        self.sub_title = f"chaos over: {verdict} · q leaves"
        self.notify(
            f"{verdict}: press q to leave",
            title="verdict",
            severity=_VERDICT_SEVERITIES.get(status, "warning"),
            timeout=60,
        )

    # -- the run's live view ------------------------------------------------------------------

    def show_progress(self, progress: Progress) -> None:
        """The run's numbers and the fault in force, in the title."""
        paused = " · display paused (P resumes)" if self.display_paused else ""
        self.sub_title = (
            f"chaos {progress.elapsed:.0f}s · {progress.rate:.0f} ops/s · "
            f"{progress.operations} ops · faults {progress.faults} · "
            f"now: {progress.doing(TITLE_FAULT_WIDTH)}{paused}"
        )

    def show_fault(self, record: FaultRecord) -> None:
        """A notification when a fault starts and when it is over."""
        if record.skipped:
            return
        severity: SeverityLevel
        if record.ended is None:
            message, severity = f"{record.kind}: {record.detail}", "warning"
        else:
            message = f"{record.kind} over after {record.ended - record.started:.1f}s"
            severity = "information"
        self.notify(message, title="fault", severity=severity, timeout=4)

    # -- leaving --------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """While the run goes on, q stops it first (the cluster stopped, the history saved)
        and the dashboard closes then; otherwise, or pressed again, q leaves at once."""
        scope = self._run_scope
        if scope is None or scope.cancel_called or self.chaos.stopped:
            self.exit()
            return
        scope.cancel()
        self.sub_title = "chaos: stopping the run · q again leaves at once"
        self.notify("stopping the run: the cluster stops and the history is saved", timeout=10)

    def finish(self) -> int:
        """Once the dashboard closed: stop the cluster and save the history if the story did
        not get to, print the closing lines on the terminal; returns the exit status."""
        self._text.detach()
        run = self.chaos
        if not run.stopped:
            anyio.run(run.stop, backend="asyncio")
        terminal = self._text.terminal
        if self.return_code:  # the dashboard failed: Textual has shown why
            return self.return_code
        if self.result is not None:
            print("\n".join(closing_lines(run.config, self.result)), file=terminal)
            return self.result.exit_status
        print(
            "etcd-console chaos: interrupted: the cluster is stopped; the history so far is in "
            f"{run.config.history_path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def start_chaos_dashboard(config: ChaosConfig, terminal: TextIO = sys.stdout) -> ChaosDashboard:
    """Start the run's cluster (its lines on `terminal` meanwhile) and return the dashboard
    that runs the rest once it opens. Raises PlaygroundError if the cluster does not start."""
    text = PanelText(terminal)
    run = ChaosRun(config, text)
    try:
        anyio.run(run.start, backend="asyncio")
    except BaseException:
        anyio.run(run.stop, backend="asyncio")
        raise
    return ChaosDashboard(run, text)


def run_chaos_in_dashboard(config: ChaosConfig) -> int:
    """`etcd-console chaos --tui`: the run inside the dashboard in this terminal; returns the
    run's exit status (130 when it was stopped before its verdict)."""
    app = start_chaos_dashboard(config)
    try:
        app.run()
    finally:
        status = app.finish()
    return status
