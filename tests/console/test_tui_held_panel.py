"""The dashboard's held-messages panel against real member processes: hidden in real time,
shown with every held message once the command bar holds the cluster, hidden again on release.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from textual.widgets import Static

from console.tui.app import dashboard_for
from console.tui.held_panel import HeldPanel
from playground.playground import Playground
from tests.console.test_tui import FAST, SIZE, type_command, wait_until


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Playground]:
    running = Playground(tmp_path / "playground", members=3, **FAST)
    try:
        anyio.run(running.start)
        yield running
    finally:
        anyio.run(running.stop)


def test_held_messages_show_in_their_panel_while_the_cluster_is_held(playground: Playground):
    leader = anyio.run(playground.wait_for_leader)
    followers = sorted(name for name in playground.members if name != leader)

    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.query_one(HeldPanel)
            lines = panel.query_one("#held-lines", Static)
            await pilot.pause(1.0)
            assert not panel.display

            await type_command(pilot, "hold")
            await wait_until(pilot, lambda: panel.display, "the held panel")
            # messages already in flight when the clocks stopped may be held too
            before = set(str(lines.content).splitlines())

            def heartbeats_to() -> list[str]:
                return sorted(
                    {
                        line.split()[1]
                        for line in str(lines.content).splitlines()
                        if "MsgHeartbeat " in line and line not in before
                    }
                )

            await type_command(pilot, f"tick {leader} 1")
            await wait_until(
                pilot,
                lambda: heartbeats_to() == [f"{leader}->{name}" for name in followers],
                "the held heartbeats to every follower",
            )
            shown = str(lines.content).splitlines()
            subtitle = str(panel.border_subtitle)

            await type_command(pilot, "release")
            await wait_until(pilot, lambda: not panel.display, "the panel hidden after release")

        ticked = [line for line in shown if "->" in line and line not in before]
        assert ticked and all(line.split()[0].startswith(f"{leader}.") for line in ticked)
        assert subtitle.endswith("clocks stopped: n1, n2, n3")

    asyncio.run(scenario())
