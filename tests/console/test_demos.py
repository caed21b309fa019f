"""Every demo in demos/ tells its story against a fresh playground of real member processes, and
the runner says where a story went wrong.

A new demo is picked up by the parametrization. Heartbeat 50 ms and election timeout 500 ms keep
elections quick.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TypedDict

import pytest
import trio

from console.cli import main
from console.demo import DemoFailed, run_demo
from console.demo_script import DEMO_SUFFIX, DemoError, load_demo, substitute
from playground.playground import Playground

DEMOS = sorted((Path(__file__).parents[2] / "demos").glob(f"*{DEMO_SUFFIX}"))


class Timing(TypedDict):
    """A playground's raft timing, as run_demo and Playground take it."""

    heartbeat_interval_ms: int
    election_timeout_ms: int


FAST: Timing = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}


def write_demo(directory: Path, text: str) -> Path:
    path = directory / f"story{DEMO_SUFFIX}"
    path.write_text(text)
    return path


def members_running(directory: Path) -> list[str]:
    playground = Playground.attach(directory)
    return [name for name in playground.members if playground.state(name) != "down"]


# -- the demos -----------------------------------------------------------------------------------


def test_the_study_plan_has_its_twelve_demos():
    stories = ("keys", "transactions", "watch", "leases", "failover", "partition", "membership")
    later = ("leader-transfer", "learners", "lease-leader-change", "lock-fencing")
    for story in (*stories, "lock-and-election", *later):
        assert any(story in demo.stem for demo in DEMOS), f"no demo tells {story}"


@pytest.mark.parametrize("demo", DEMOS, ids=[demo.stem for demo in DEMOS])
async def test_demo_tells_its_story(demo: Path, tmp_path: Path):
    transcript = io.StringIO()
    directory = tmp_path / "playground"
    try:
        await run_demo(demo, out=transcript, directory=directory, **FAST)
    except DemoError as error:
        pytest.fail(f"{error}\n\nthe transcript:\n{transcript.getvalue()}")
    assert load_demo(demo).title in transcript.getvalue()
    assert members_running(directory) == []


# -- reading a script ----------------------------------------------------------------------------


def test_header_gives_the_title_and_the_playground(tmp_path: Path):
    path = write_demo(
        tmp_path,
        "# Snapshots\n# playground: --members=5 --snapshot-count=10\n\nput k v\nget k\n",
    )
    script = load_demo(path)
    assert (script.title, script.members, script.member_flags) == (
        "Snapshots",
        5,
        ["--snapshot-count=10"],
    )
    assert [(line.number, line.text) for line in script.lines] == [(4, "put k v"), (5, "get k")]
    assert not (script.tls or script.auth)


def test_header_asks_for_tls_and_auth_as_play_does(tmp_path: Path):
    path = write_demo(tmp_path, "# Secured\n# playground: --tls --auth --members=1\n\nuser list\n")
    script = load_demo(path)
    assert (script.tls, script.auth, script.members, script.member_flags) == (True, True, 1, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("put k v\nkill ${leader}\n", "story.demo:2: ${leader} is not set by an expect"),
        ("put k v\nexpect (?P<id>[0-9a-f]+\n", "story.demo:2: expect takes a regular expression"),
        ("say hi\nexpect OK\n", "story.demo:2: expect checks a command's output"),
        ("put k v\ngte k\n", 'story.demo:2: unknown command "gte": did you mean "get"?'),
        ("sleep 2 minutes\n", "story.demo:1: sleep needs DURATION, got 2 arguments"),
        ("sleep 90s\n", "story.demo:1: sleep is at most 60s"),
        ("as bob lock printer\n", "story.demo:1: write as NAME: COMMAND"),
        ("wait for-ever\n", 'story.demo:1: unknown command "wait for-ever"'),
        ("txn\n", "story.demo:1: a demo writes txn on one line"),
        ("login alice\n", "story.demo:1: write login NAME:PASSWORD"),
        ("plain n1 get k\n", "story.demo:1: write plain NAME: COMMAND"),
        ("# t\n# playground: --members=9\n", "story.demo:2: --members must be between 1 and 7"),
    ],
)
def test_a_broken_script_is_refused_before_any_member_starts(
    tmp_path: Path, text: str, message: str
):
    with pytest.raises(DemoError) as refused:
        load_demo(write_demo(tmp_path, text))
    assert message in str(refused.value)


def test_a_variable_plus_a_number_is_the_number_after_it(tmp_path: Path):
    script = 'get k -w json\nexpect "revision":(?P<seen>\\d+)\nwatch k --rev=${seen+1}\n'
    load_demo(write_demo(tmp_path, script))
    assert substitute("watch k --rev=${seen+1}", {"seen": "7"}) == "watch k --rev=8"
    assert substitute("expect ^${seen}$", {"seen": "7"}) == "expect ^7$"
    with pytest.raises(DemoError, match="'n2' is not a number"):
        substitute("watch k --rev=${who+1}", {"who": "n2"})
    with pytest.raises(DemoError, match=r"\$\{late\} is not set"):
        load_demo(write_demo(tmp_path, "put k v\nwatch k --rev=${late+1}\n"))


# -- running -------------------------------------------------------------------------------------


async def test_an_expectation_that_does_not_hold_fails_at_its_line(tmp_path: Path):
    path = write_demo(tmp_path, "put k v\nget k\nexpect ^w$\nput never run\n")
    transcript = io.StringIO()
    directory = tmp_path / "playground"
    with pytest.raises(DemoFailed) as failed:
        await run_demo(path, out=transcript, directory=directory, expect_timeout=0.5, **FAST)
    assert f"{path}:3: expect ^w$" in str(failed.value)
    assert "no match in the output of `get k`:\n    k\n    v" in str(failed.value)
    assert "$ put never run" not in transcript.getvalue()
    assert members_running(directory) == []


async def test_a_command_that_fails_without_an_expect_of_its_error_fails_the_demo(
    tmp_path: Path,
):
    path = write_demo(tmp_path, "put k v\nget k --rev=99\nput after error\n")
    with pytest.raises(DemoFailed) as failed:
        await run_demo(path, out=io.StringIO(), directory=tmp_path / "playground", **FAST)
    error = "Error: etcdserver: mvcc: required revision is a future revision"
    assert f"{path}:2: `get k --rev=99` failed: {error}" in str(failed.value)


async def test_step_mode_waits_for_enter_before_each_command_not_before_narration(
    tmp_path: Path,
):
    path = write_demo(tmp_path, "say A key.\nput k v\nget k\nexpect ^v$\n")
    transcript = io.StringIO()
    shown_when_waiting: list[str] = []

    async def press_enter() -> None:
        shown_when_waiting.append(transcript.getvalue().splitlines()[-1])
        await trio.lowlevel.checkpoint()

    directory = tmp_path / "playground"
    await run_demo(path, out=transcript, directory=directory, step=press_enter, **FAST)
    assert shown_when_waiting == ["$ put k v ", "$ get k "]
    assert "# A key." in transcript.getvalue()


def test_cli_keeps_the_playground_with_keep(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write_demo(tmp_path, "# Kept\nput k v\nget k\nexpect ^v$\n")
    directory = tmp_path / "playground"
    try:
        assert main(["demo", str(path), "--keep", "--dir", str(directory)]) == 0
        printed = capsys.readouterr().out
        assert "== Kept ==" in printed
        assert f"etcd-console repl --dir {directory}" in printed
        assert members_running(directory) == ["n1", "n2", "n3"]
    finally:
        assert main(["down", "--dir", str(directory)]) == 0
    assert members_running(directory) == []


def test_cli_reports_a_failed_demo_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write_demo(tmp_path, "kil n1\n")
    assert main(["demo", str(path)]) == 1
    assert 'story.demo:1: unknown command "kil"' in capsys.readouterr().err


# -- inside the dashboard ------------------------------------------------------------------------


def test_a_demo_told_inside_the_dashboard_fills_its_output_panel(tmp_path: Path):
    import asyncio

    from console.demo import demo_dashboard, start_playground

    script = load_demo(DEMOS[1])
    playground = Playground(tmp_path / "playground", script.members, **FAST)

    async def scenario() -> list[str]:
        await start_playground(script, playground)
        app = demo_dashboard(script, playground)
        async with app.run_test(size=(120, 40)) as pilot:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not any("SUCCESS" in line for line in _panel_text(app)):
                assert loop.time() < deadline, "the story never reached its CAS"
                await pilot.pause(0.2)
            while app.workers and any(w.name == "story" and w.is_running for w in app.workers):
                assert loop.time() < deadline, "the story never ended"
                await pilot.pause(0.2)
            assert app.demo_failures == []
            return _panel_text(app)

    try:
        lines = asyncio.run(scenario())
    finally:
        trio.run(playground.stop)
    assert lines[0].startswith("== ")
    assert any(line.startswith("$ txn ") for line in lines)


def _panel_text(app) -> list[str]:
    return [strip.text for strip in app.output_panel.lines.lines]
