"""`etcd-console chaos --tui`: short chaos runs told inside the dashboard, driven through
Textual's pilot against real member processes.

The pilot runs on asyncio, so each scenario runs with asyncio.run; the cluster is started
before (as the command does) and everything is stopped by `finish` after. Every wait is
bounded: a condition polled between pilot pauses until a deadline.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets.data_table import CellDoesNotExist

from console.chaos.dashboard import EXIT_INTERRUPTED, ChaosDashboard, start_chaos_dashboard
from console.chaos.nemesis import Fault, Timing
from console.chaos.run import EXIT_PASSED, ChaosConfig, closing_lines, load_history
from console.cli import main
from playground.playground import Playground

WAIT = 60.0
"""Seconds a scenario's wait may take on a busy machine before the test fails."""
SIZE = (120, 40)


def short_run(directory: Path, seconds: float, fault: Fault = Fault.PAUSE) -> ChaosConfig:
    """A run of two clients against three members, with one kind of fault."""
    return ChaosConfig(
        directory=directory,
        seed=7,
        seconds=seconds,
        clients=2,
        members=3,
        faults=[fault],
        timing=Timing(hold=(1.0, 1.5), quiet=(0.5, 1.0)),
    )


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the dashboard never showed {what} within {WAIT:g} s")
        await pilot.pause(0.1)


def role(app: ChaosDashboard, member: str) -> str:
    """The role the members table shows for `member` ("" before its row shows)."""
    try:
        return app.members_panel.table.get_cell(member, "role").plain.strip()
    except CellDoesNotExist:
        return ""


def panel_lines(app: ChaosDashboard) -> list[str]:
    """The lines the Output panel shows."""
    return [strip.text.rstrip() for strip in app.output_panel.lines.lines]


def members_running(directory: Path) -> list[str]:
    """The playground's members whose process still runs."""
    playground = Playground.attach(directory)
    return [name for name in playground.members if playground.state(name) != "down"]


def test_a_chaos_run_inside_the_dashboard_shows_the_members_and_ends_with_the_verdict(
    tmp_path: Path,
):
    directory = tmp_path / "playground"
    terminal = io.StringIO()
    app = start_chaos_dashboard(short_run(directory, seconds=4), terminal)
    names = sorted(app.chaos.playground.members)

    async def scenario() -> tuple[list[str], str, list[str]]:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: all(role(app, name) in ("leader", "follower") for name in names),
                "every member's role",
            )
            roles = sorted(role(app, name) for name in names)
            await wait_until(pilot, lambda: "ops/s" in app.sub_title, "the rate in the title")
            await wait_until(pilot, lambda: app.result is not None, "the verdict")
            return roles, app.sub_title, panel_lines(app)

    try:
        roles, title, lines = asyncio.run(scenario())
    finally:
        status = app.finish()

    assert roles == ["follower", "follower", "leader"]
    assert app.result is not None
    closing = closing_lines(app.chaos.config, app.result)
    assert closing[:2] == ["linearizable", "watch OK"]
    assert lines[-len(closing) :] == closing
    assert lines[0].endswith("s  chaos: seed 7, 4s, 3 members, 2 clients, faults pause")
    assert any("s  fault pause: paused n" in line for line in lines)
    assert title.startswith("chaos over: linearizable, watch OK")
    assert status == EXIT_PASSED, closing
    assert members_running(directory) == []
    assert terminal.getvalue().splitlines()[-len(closing) :] == closing


def shown_members(app: ChaosDashboard) -> list[str]:
    """The members the members table has a row for."""
    table = app.members_panel.table
    return sorted(str(row.value) for row in table.rows)


def test_the_members_panel_follows_the_members_that_membership_churn_adds_and_removes(
    tmp_path: Path,
):
    app = start_chaos_dashboard(
        short_run(tmp_path / "playground", 3, Fault.MEMBERSHIP), io.StringIO()
    )
    first = sorted(app.chaos.playground.members)

    async def scenario() -> list[str]:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: shown_members(app) == first, "the first members")
            await wait_until(pilot, lambda: app.result is not None, "the verdict")
            await wait_until(
                pilot,
                lambda: shown_members(app) == sorted(app.chaos.playground.members),
                "the members after the churn",
            )
            return shown_members(app)

    try:
        shown = asyncio.run(scenario())
    finally:
        app.finish()

    churns = [record for record in app.chaos.nemesis.log if not record.skipped]
    assert [record.kind for record in churns] == ["membership"], churns
    assert len(shown) == 3
    assert set(shown) != set(first)


def test_quitting_during_the_run_stops_the_cluster_and_saves_the_history(tmp_path: Path):
    directory = tmp_path / "playground"
    app = start_chaos_dashboard(short_run(directory, seconds=120), io.StringIO())

    async def scenario() -> bool:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "ops/s" in app.sub_title, "the run going")
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None, "the dashboard closed")
            return app.chaos.stopped

    try:
        stopped_by_the_run = asyncio.run(scenario())
    finally:
        status = app.finish()

    assert stopped_by_the_run
    assert status == EXIT_INTERRUPTED
    assert app.result is None
    assert members_running(directory) == []
    assert load_history(directory / "history.jsonl").operations


def test_tui_without_a_terminal_is_refused(capsys: pytest.CaptureFixture[str]):
    assert main(["chaos", "--tui", "--seconds", "1"]) == 2
    assert "--tui needs a terminal" in capsys.readouterr().err
