"""The timeline (panel 7), recordings, replay and diagrams.

Most tests drive the pieces with trace events written here, in the form members publish them
(node/server/README.md); one follows a write through a playground of real member processes,
and one records a real session and plays it back.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console import cli
from console.chaos.nemesis import Fault, Timing
from console.chaos.run import ChaosConfig, run_chaos
from console.diagram import DiagramChoice, render
from console.recording import (
    VIOLATION,
    VIOLATIONS_LANE,
    RecordingError,
    RecordingWriter,
    append_events,
    read_recording,
)
from console.timeline import Arrow, Mark, RowFilter, Timeline, TraceEvent
from console.tui.app import dashboard_for
from console.tui.cluster_view import ClusterView
from console.tui.native_source import NativeSource
from console.tui.replay import ReplayApp
from console.tui.timeline_panel import TimelineChart, TimelinePanel, draw_row, lane_header
from node.client import Response
from playground.playground import Playground

WAIT = 20.0
DASHBOARD_CSS = Path(__file__).parents[2] / "console" / "tui" / "dashboard.tcss"
IDS = {"n1": "1", "n2": "2", "n3": "3"}


def message(
    kind: str, member: str, t: float, type_: str, source: str, target: str, **more: object
) -> TraceEvent:
    """A msg_send or msg_recv event of `member`."""
    fields: dict[str, object] = {
        "member_id": IDS[member], "type": type_, "from": IDS[source], "to": IDS[target],
        "term": 2, "log_term": 2, "index": 0, "entries": 0, "commit": 0, "reject": False,
    }  # fmt: skip
    fields.update(more)
    return TraceEvent(member, t, kind, fields)


def exchange(t: float, type_: str, source: str, target: str, **more: object) -> list[TraceEvent]:
    """A message sent at t and received a millisecond later."""
    return [
        message("msg_send", source, t, type_, source, target, **more),
        message("msg_recv", target, t + 0.001, type_, source, target, **more),
    ]


def a_write(t: float, index: int) -> list[TraceEvent]:
    """The trace of one put at `index` through leader n1: proposal, appends, fsyncs, the
    MsgApps and their responses, commits, applies and the reply."""
    rid = f"{index:x}0"
    events = [TraceEvent("n1", t, "propose", {"member_id": "1", "request_id": rid, "index": index})]
    events.append(
        TraceEvent(
            "n1",
            t + 0.001,
            "ready",
            {"member_id": "1", "entries_first": index, "entries_last": index},
        )
    )
    events.append(
        TraceEvent(
            "n1",
            t + 0.002,
            "wal_save",
            {"member_id": "1", "first_index": index, "last_index": index, "sync": True},
        )
    )
    for n, follower in enumerate(("n2", "n3")):
        at = t + 0.003 + n * 0.0001
        events += exchange(at, "MsgApp", "n1", follower, index=index - 1, entries=1)
        events.append(
            TraceEvent(
                follower,
                at + 0.002,
                "ready",
                {"member_id": IDS[follower], "entries_first": index, "entries_last": index},
            )
        )
        events.append(
            TraceEvent(
                follower,
                at + 0.003,
                "wal_save",
                {
                    "member_id": IDS[follower],
                    "first_index": index,
                    "last_index": index,
                    "sync": True,
                },
            )
        )
        events += exchange(at + 0.004, "MsgAppResp", follower, "n1", index=index)
    for n, member in enumerate(("n1", "n2", "n3")):
        at = t + 0.010 + n * 0.001
        events.append(
            TraceEvent(
                member,
                at,
                "ready",
                {"member_id": IDS[member], "committed_first": index, "committed_last": index},
            )
        )
        requests = [{"index": index, "request_id": rid, "request": "put"}]
        events.append(
            TraceEvent(
                member,
                at + 0.0005,
                "apply",
                {
                    "member_id": IDS[member],
                    "first_index": index,
                    "last_index": index,
                    "requests": requests,
                },
            )
        )
    events.append(
        TraceEvent("n1", t + 0.015, "reply", {"member_id": "1", "request_id": rid, "ok": True})
    )
    return events


def a_session(start: float) -> list[TraceEvent]:
    """An election won by n1, three writes, heartbeats, a fault and a lost message."""
    events = [
        TraceEvent(
            "n1",
            start,
            "raft_state",
            {"member_id": "1", "term": 2, "raft_state": "StateCandidate", "lead": "0"},
        ),
        *exchange(start + 0.001, "MsgVote", "n1", "n2"),
        TraceEvent(
            "n2",
            start + 0.0015,
            "vote",
            {"member_id": "2", "candidate": "1", "term": 2, "pre": False, "granted": True},
        ),
        *exchange(start + 0.002, "MsgVoteResp", "n2", "n1"),
        TraceEvent(
            "n1",
            start + 0.004,
            "raft_state",
            {"member_id": "1", "term": 2, "raft_state": "StateLeader", "lead": "1"},
        ),
    ]
    for n in range(3):
        events += a_write(start + 0.1 + n * 0.05, 5 + n)
    for n in range(4):
        events += exchange(start + 0.3 + n * 0.1, "MsgHeartbeat", "n1", "n2", commit=7)
        events += exchange(start + 0.302 + n * 0.1, "MsgHeartbeatResp", "n2", "n1")
    events.append(TraceEvent("n3", start + 0.45, "fault", {"text": "kill n3"}))
    events.append(message("msg_send", "n1", start + 0.5, "MsgApp", "n1", "n3", index=7, entries=1))
    return events


def unfolded_messages(events: list[TraceEvent]) -> int:
    """Messages sent that the chart does not fold: all but heartbeats (and their responses)
    without a ReadIndex context."""
    return sum(
        1
        for e in events
        if e.kind == "msg_send"
        and (
            e.fields["type"] not in ("MsgHeartbeat", "MsgHeartbeatResp") or e.fields.get("context")
        )
    )


# -- the model ----------------------------------------------------------------------------------


def test_sends_and_receives_pair_up_in_order_even_when_the_receive_arrives_first():
    timeline = Timeline()
    timeline.learn_name("3", "n3")  # as the dashboard does from the member list
    send, receive = exchange(10.0, "MsgApp", "n1", "n2", index=4, entries=2)
    timeline.add(receive)
    timeline.add(send)
    lost = message("msg_send", "n1", 10.5, "MsgApp", "n1", "n3", index=6, entries=1)
    timeline.add(lost)

    arrows = [row for row in timeline.shown if isinstance(row, Arrow)]
    assert [(a.source, a.target, a.label(), a.received) for a in arrows] == [
        ("n1", "n2", "MsgApp [5-6]", 10.001),
        ("n1", "n3", "MsgApp [7]", None),
    ]
    assert "received: never (in flight, or lost)" in arrows[1].describe()


def test_heartbeats_fold_unless_asked_for_and_filters_pick_types_and_members():
    timeline = Timeline()
    timeline.extend(a_session(100.0))
    shown_types = {row.type for row in timeline.shown if isinstance(row, Arrow)}
    assert "MsgHeartbeat" not in shown_types
    assert timeline.folded == 8

    timeline.set_filter(RowFilter(show_heartbeats=True))
    assert {"MsgHeartbeat", "MsgHeartbeatResp"} <= {
        row.type for row in timeline.shown if isinstance(row, Arrow)
    }
    timeline.set_filter(RowFilter(types=frozenset({"MsgVote"})))
    assert [(r.source, r.target) for r in timeline.shown if isinstance(r, Arrow)] == [("n1", "n2")]
    timeline.set_filter(RowFilter(members=frozenset({"n3"})))
    assert all(
        "n3" in (row.source, row.target) if isinstance(row, Arrow) else row.member == "n3"
        for row in timeline.shown
    )
    marks = [(m.member, m.kind, m.text) for m in timeline.rows if isinstance(m, Mark)]
    assert marks == [
        ("n1", "role", "StateCandidate term 2 lead 0"),
        ("n2", "vote", "grants vote to n1 term 2"),
        ("n1", "role", "StateLeader term 2 lead n1"),
        ("n3", "fault", "kill n3"),
    ]


def test_an_entrys_life_on_every_member_runs_from_proposal_to_answer():
    timeline = Timeline()
    timeline.extend(a_write(50.0, 9))
    steps = [(step.member, step.step) for step in timeline.entry_life(9)]
    assert steps[0] == ("n1", "proposed")
    assert steps[-1] == ("n1", "answered")
    for member in ("n1", "n2", "n3"):
        mine = [step for who, step in steps if who == member]
        expected = ["appended", "fsynced", "committed", "applied"]
        assert [step for step in mine if step in expected] == expected
    assert timeline.entry_life(99) == []


# -- the panel ----------------------------------------------------------------------------------


class TimelineOnly(App[None]):
    """Panel 7 alone, styled as in the dashboard."""

    CSS_PATH = DASHBOARD_CSS

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    def compose(self) -> ComposeResult:
        yield TimelinePanel(self.timeline)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what} within {WAIT:g} s")
        await pilot.pause(0.05)


def chart_text(chart: TimelineChart) -> list[str]:
    """What the chart draws, line by line."""
    return [line.rstrip() for line in chart.render().plain.splitlines()]


def static_text(static: Static) -> str:
    return str(static.render())


class EventStreamOf:
    """A member's Admin.Events stream as a client returns it, replaying `replies`."""

    def __init__(self, replies: list[dict[str, object]]) -> None:
        self._replies = [Response(reply) for reply in replies]

    def events(self, kinds: object) -> EventStreamOf:
        return self

    async def __aenter__(self) -> EventStreamOf:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> EventStreamOf:
        return self

    async def __anext__(self) -> Response:
        if not self._replies:
            raise StopAsyncIteration
        return self._replies.pop(0)


def test_events_missing_from_a_members_stream_leave_a_gap_mark_on_its_lane():
    """The member's queue drops the oldest events when the console falls behind; each reply
    carries the count so far, and each rise becomes a mark saying how many were lost. A stream
    that ends leaves a mark too: nothing more comes from that member until it is back."""

    def reply(t: float, dropped: int) -> dict[str, object]:
        fields = {"member": "n1", "member_id": "1", "raft_state": "StateLeader", "term": 2,
                  "lead": "1"}  # fmt: skip
        return {"kind": "raft_state", "time": t, "monotonic": t, "fields": fields,
                "dropped": dropped}  # fmt: skip

    cluster = ClusterView()
    recorded: list[TraceEvent] = []
    cluster.recorder = recorded.append
    member = cluster.add("n1", "n1", "127.0.0.1:1")
    stream = EventStreamOf([reply(1.0, 0), reply(2.0, 0), reply(3.0, 40), reply(4.0, 41)])

    async def read() -> None:
        with anyio.CancelScope() as scope:
            await NativeSource(["127.0.0.1:1"])._read_events(stream, member, cluster, scope)

    anyio.run(read)
    gaps = [row for row in cluster.timeline.rows if isinstance(row, Mark) and row.kind == "gap"]
    assert [(mark.member, mark.text) for mark in gaps] == [
        ("n1", "40 events dropped here: the console fell behind this member"),
        ("n1", "1 event dropped here: the console fell behind this member"),
        ("n1", "events missing from here on: its event stream ended"),
    ]
    assert [mark.t for mark in gaps[:2]] == [3.0, 4.0]
    assert [event.kind for event in recorded].count("gap") == 3
    assert "40 events dropped" in draw_row(gaps[0], cluster.timeline.lanes, 90, 0.0).plain


def test_rows_are_drawn_as_arrows_between_lanes_and_marks_on_them():
    """A snapshot of the chart's text: lanes, arrows with what they carry, marks, a lost one."""
    timeline = Timeline()
    timeline.extend(a_session(100.0))
    lanes = timeline.lanes
    drawn = [lane_header(lanes, 70).plain.rstrip()]
    drawn += [draw_row(row, lanes, 70, 100.0).plain.rstrip() for row in timeline.shown]
    assert drawn == [
        "time               n1                  n2                  n3",
        "    0.000s          ◆ StateCandidate term 2 lead 0          │",
        "    0.001s          ●───── MsgVote ─────▶                   │",
        "    0.001s          │                   ◆ grants vote to n1 term 2",
        "    0.002s          ◀─ MsgVoteResp ok ──●                   │",
        "    0.004s          ◆ StateLeader term 2 lead n1            │",
        "    0.103s          ●─── MsgApp [5] ────▶                   │",
        "    0.103s          ●───────────── MsgApp [5] ──────────────▶",
        "    0.107s          ◀── MsgAppResp i5 ──●                   │",
        "    0.107s          ◀──────────── MsgAppResp i5 ────────────●",
        "    0.153s          ●─── MsgApp [6] ────▶                   │",
        "    0.153s          ●───────────── MsgApp [6] ──────────────▶",
        "    0.157s          ◀── MsgAppResp i6 ──●                   │",
        "    0.157s          ◀──────────── MsgAppResp i6 ────────────●",
        "    0.203s          ●─── MsgApp [7] ────▶                   │",
        "    0.203s          ●───────────── MsgApp [7] ──────────────▶",
        "    0.207s          ◀── MsgAppResp i7 ──●                   │",
        "    0.207s          ◀──────────── MsgAppResp i7 ────────────●",
        "    0.450s          │                   │                   ◆ kill n3",
        "    0.500s          ●───────────── MsgApp [8] ──────────────✕",
    ]


def test_the_panel_follows_selects_filters_and_pauses_without_losing_events():
    timeline = Timeline()
    events = a_session(200.0)

    async def scenario() -> None:
        app = TimelineOnly(timeline)
        async with app.run_test(size=(120, 40)) as pilot:
            panel = app.query_one(TimelinePanel)
            timeline.extend(events[:20])
            panel.pull()
            await pilot.pause()
            chart = panel.chart
            assert chart.cursor is None
            newest_before = timeline.shown[-1]

            panel.pause(True)
            timeline.extend(events[20:])
            panel.pull()
            await pilot.pause()
            drawn = chart_text(chart)
            assert chart.held_back() > 0
            assert "paused:" in static_text(app.query_one("#timeline-status", Static))
            assert chart.selected_row() is newest_before
            assert not any("✕" in line for line in drawn)
            panel.pause(False)
            panel.pull()
            await pilot.pause()
            assert chart.held_back() == 0
            assert any("✕" in line for line in chart_text(chart))

            chart.focus()
            await pilot.press("home")
            await pilot.press("up", "up")
            detail = app.query_one("#timeline-detail", Static)
            selected = chart.selected_row()
            assert selected is not None
            await wait_until(
                pilot,
                lambda: selected.describe()[0] in static_text(detail),
                "the selected row's fields",
            )

            app.query_one("#timeline-types", Input).value = "MsgVote"
            await pilot.pause()
            assert all(row.type == "MsgVote" for row in timeline.shown if isinstance(row, Arrow))
            app.query_one("#timeline-types", Input).value = ""
            await pilot.pause()
            await pilot.press("b")
            await pilot.pause()
            assert any(
                isinstance(row, Arrow) and row.type == "MsgHeartbeat" for row in timeline.shown
            )

            index_input = app.query_one("#timeline-index", Input)
            index_input.focus()
            index_input.value = "6"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "entry 6" in static_text(detail), "the life of entry 6")
            life = static_text(detail)
            for step in ("proposed", "appended", "fsynced", "committed", "applied", "answered"):
                assert step in life

    asyncio.run(scenario())


# -- recordings ---------------------------------------------------------------------------------


def write_recording(path: Path, events: list[TraceEvent]) -> None:
    writer = RecordingWriter(path, ["n1", "n2", "n3"])
    for event in events:
        writer.write(event)
    writer.command("put a 1", True, ["OK"], when=max(event.t for event in events) + 0.01)
    writer.close()


def test_a_recording_gives_back_every_event_in_order(tmp_path: Path):
    events = a_session(300.0)
    path = tmp_path / "session.etcdrec"
    write_recording(path, events)

    recording = read_recording(path)

    assert recording.members == ["n1", "n2", "n3"]
    assert [e.line() for e in recording.events if e.kind != "command"] == [
        e.line() for e in sorted(events, key=lambda e: e.t)
    ]
    assert [e.fields["line"] for e in recording.events if e.kind == "command"] == ["put a 1"]


def test_events_written_as_they_arrived_are_read_back_in_time_order(tmp_path: Path):
    events = a_session(300.0)
    path = tmp_path / "session.etcdrec"
    by_member = sorted(events, key=lambda e: e.member)  # each stream in order, one after another
    write_recording(path, by_member)

    read = [e for e in read_recording(path).events if e.kind != "command"]

    assert [e.t for e in read] == sorted(e.t for e in events)
    assert sorted(json.dumps(e.line()) for e in read) == sorted(
        json.dumps(e.line()) for e in events
    )


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:40] + bytes(b ^ 0x5A for b in data[40:80]) + data[80:], "corrupted"),
        (lambda data: gzip.compress(b'{"hello": "world"}\n'), "not an etcd-console recording"),
        (lambda data: b"\x00\x01binary", "not an etcd-console recording"),
        (
            lambda data: gzip.compress(
                json.dumps({"format": "etcd-console-recording", "version": 99}).encode() + b"\n"
            ),
            "version 99",
        ),
    ],
    ids=["truncated", "corrupted", "foreign", "binary", "newer"],
)
def test_a_bad_recording_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[bytes], bytes], said: str
):
    good = tmp_path / "good.etcdrec"
    write_recording(good, a_session(400.0))
    bad = tmp_path / "bad.etcdrec"
    bad.write_bytes(damage(good.read_bytes()))

    with pytest.raises(RecordingError, match=said):
        read_recording(bad)
    assert cli.main(["replay", str(bad)]) == 1
    assert cli.main(["diagram", str(bad), "-o", str(tmp_path / "out.svg")]) == 1
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "out.svg").exists()


# -- diagrams -----------------------------------------------------------------------------------


def test_the_diagram_is_svg_with_one_arrow_per_message_not_folded(tmp_path: Path):
    events = a_session(500.0)
    path = tmp_path / "session.etcdrec"
    write_recording(path, events)

    assert cli.main(["diagram", str(path), "-o", str(tmp_path / "out.svg")]) == 0
    svg = ET.parse(tmp_path / "out.svg").getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    arrows = svg.findall(".//svg:g[@class='arrow']", ns)
    assert len(arrows) == unfolded_messages(events)
    assert len(svg.findall(".//svg:g[@class='mark']", ns)) == 4
    titles = [arrow.find("svg:title", ns).text or "" for arrow in arrows]  # type: ignore[union-attr]
    assert titles[0].startswith("MsgVote  n1 -> n2")

    assert (
        cli.main(
            [
                "diagram",
                str(path),
                "--types",
                "MsgApp",
                "--to",
                "0.2",
                "-o",
                str(tmp_path / "d.html"),
            ]
        )
        == 0
    )
    html = (tmp_path / "d.html").read_text()
    assert "<svg" in html and "mouseenter" in html
    only = render(events, DiagramChoice(None, 0.2, frozenset({"MsgApp"})), False, "")
    drawn = ET.fromstring(only.split("\n", 1)[1]).findall(".//svg:g[@class='arrow']", ns)
    assert len(drawn) == 4 and all(g.get("data-type") == "MsgApp" for g in drawn)


# -- replay -------------------------------------------------------------------------------------


def test_replay_steps_forwards_and_backwards_and_shows_the_past_in_every_panel(tmp_path: Path):
    start = 600.0
    events = a_session(start)
    events.insert(
        0, TraceEvent("n1", start - 0.01, "role", {"role": "leader", "leader": 1, "term": 2})
    )
    events.insert(
        1,
        TraceEvent(
            "n1",
            start - 0.005,
            "log",
            {"level": "info", "logger": "raft", "message": "became leader"},
        ),
    )
    events.append(
        TraceEvent("n1", start + 0.6, "commit", {"commit": 7, "applied": 7, "last_index": 7})
    )
    path = tmp_path / "session.etcdrec"
    write_recording(path, events)
    recording = read_recording(path)

    async def scenario() -> None:
        app = ReplayApp(recording, path)
        async with app.run_test(size=(120, 40)) as pilot:
            player = app.player
            n1 = lambda: app.cluster.members["n1"]  # noqa: E731
            assert player.position == 0 and n1().role == ""
            await pilot.press("full_stop")
            assert player.position == 1 and n1().role == "leader"
            await pilot.press("full_stop")
            assert [line.message for line in n1().logs] == ["became leader"]
            await pilot.press("comma")
            assert player.position == 1 and not n1().logs
            await pilot.press("right_square_bracket")
            assert player.position == len(recording.events)
            assert n1().commit == 7
            rows = len(app.cluster.timeline.shown)
            await pilot.press("0")
            assert player.position == 0 and not app.cluster.timeline.shown
            await pilot.press("plus", "plus", "plus", "plus")
            assert player.speed == 10.0
            await pilot.press("space")
            await wait_until(pilot, lambda: not player.playing, "the replay's end")
            assert len(app.cluster.timeline.shown) == rows
            assert "event" in static_text(app.query_one("#replay-bar", Static))

    asyncio.run(scenario())


# -- on real members ----------------------------------------------------------------------------


@pytest.fixture
def playground(tmp_path: Path):
    running = Playground(
        tmp_path / "playground", members=3, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        anyio.run(running.start)
        yield running
    finally:
        anyio.run(running.stop)


def test_a_put_on_real_members_shows_its_messages_and_the_entrys_life(
    playground: Playground, tmp_path: Path
):
    record = tmp_path / "live.etcdrec"

    async def scenario() -> None:
        writer = RecordingWriter(record, list(playground.members))
        app = dashboard_for(playground, recording=writer)
        try:
            async with app.run_test(size=(140, 45)) as pilot:
                timeline = app.cluster.timeline

                def every_member_traced() -> bool:
                    senders = {row.source for row in timeline.rows if isinstance(row, Arrow)}
                    return senders == set(playground.members)

                await wait_until(pilot, every_member_traced, "every member's messages")
                output = app.output_panel.lines

                def put_index(since: float) -> int:
                    for row in reversed(timeline.rows):
                        if row.t < since:
                            return 0
                        if isinstance(row, Arrow) and row.label().startswith("MsgApp ["):
                            return row.fields["index"] + 1
                    return 0

                def applied_everywhere(index: int) -> bool:
                    steps = timeline.entry_life(index)
                    return {s.member for s in steps if s.step == "applied"} == set(
                        playground.members
                    ) and any(s.step == "answered" for s in steps)

                def gap_since(since: float) -> bool:
                    return any(
                        isinstance(row, Mark) and row.kind == "gap" and row.t >= since
                        for row in timeline.rows
                    )

                async def traced_put(value: int) -> int:
                    """Put; the put's index once its MsgApp and its life on every member
                    are on the timeline, 0 when a gap mark says some lane missed events."""
                    started = time.time()
                    answered = [line.text for line in output.lines].count("OK")
                    await pilot.press("colon")
                    app.query_one("#command-bar", Input).value = f"put traced {value}"
                    await pilot.press("enter")
                    await wait_until(
                        pilot,
                        lambda: [line.text for line in output.lines].count("OK") > answered,
                        "put's OK",
                    )

                    def traced() -> bool:
                        index = put_index(started)
                        return bool(index) and applied_everywhere(index)

                    try:
                        await wait_until(
                            pilot,
                            lambda: traced() or gap_since(started),
                            "the put's MsgApp and its apply on every member",
                        )
                    except AssertionError as missing:
                        labels = {row.label() for row in timeline.rows if isinstance(row, Arrow)}
                        marks = [row.text for row in timeline.rows if isinstance(row, Mark)]
                        seen = f"arrows seen: {sorted(labels)}; marks: {marks}"
                        raise AssertionError(f"{missing}; {seen}") from None
                    return put_index(started) if traced() else 0

                index = 0
                for value in range(1, 4):  # a put whose trace fell in a gap is put again
                    index = await traced_put(value)
                    if index:
                        break
                assert index, "every put's trace fell in a gap the timeline marked"
                app.action_show_panel(7)
                panel = app.timeline_panel
                await wait_until(pilot, lambda: panel.chart.size.height > 5, "the timeline tab")
                panel.show_entry(index)
                await pilot.pause()
                assert "answered" in static_text(app.query_one("#timeline-detail", Static))
                drawn = chart_text(panel.chart)
                assert sorted(drawn[0].split()[1:]) == ["n1", "n2", "n3"]
                assert any(f"MsgApp [{index}]" in line for line in drawn), drawn
        finally:
            writer.close()

    asyncio.run(scenario())
    recording = read_recording(record)
    kinds = {event.kind for event in recording.events}
    assert {"msg_send", "msg_recv", "apply", "commit", "command"} <= kinds

    recorded = tmp_path / "record.etcdrec"
    arguments = ["record", "--dir", str(playground.directory), "--seconds", "1.5"]
    assert cli.main([*arguments, "-o", str(recorded)]) == 0
    session = read_recording(recorded)
    assert session.members == ["n1", "n2", "n3"]
    assert {"msg_send", "msg_recv", "ready", "peers"} <= {e.kind for e in session.events}


def test_on_a_real_etcd_the_timeline_says_it_has_no_trace():
    async def scenario() -> None:
        app = dashboard_for(etcd_endpoints=["127.0.0.1:9"])  # nothing answers there
        async with app.run_test(size=(120, 40)) as pilot:
            app.action_show_panel(7)
            await pilot.pause()
            status = static_text(app.query_one("#timeline-status", Static))
            assert status == "etcd publishes no trace events: only members of ours draw a timeline."

    asyncio.run(scenario())


def test_a_demo_recorded_replays_its_commands_and_draws_its_messages(tmp_path: Path):
    demo = tmp_path / "story.demo"
    demo.write_text("# A recorded story\nput story/recorded 1\nexpect ^OK$\nget story/recorded\n")
    record = tmp_path / "demo.etcdrec"

    status = cli.main(
        ["demo", str(demo), "--dir", str(tmp_path / "playground"), "--record", str(record)]
    )

    assert status == 0
    recording = read_recording(record)
    commands = [e.fields["line"] for e in recording.events if e.kind == "command"]
    assert commands == ["put story/recorded 1", "get story/recorded"]
    assert recording.members == ["n1", "n2", "n3"]
    applied = [e for e in recording.events if e.kind == "apply"]
    assert {e.member for e in applied} == {"n1", "n2", "n3"}
    assert cli.main(["diagram", str(record), "-o", str(tmp_path / "demo.svg")]) == 0
    svg = ET.parse(tmp_path / "demo.svg").getroot()
    arrows = svg.findall(".//{http://www.w3.org/2000/svg}g[@class='arrow']")
    assert len(arrows) == unfolded_messages(recording.events)


def test_a_chaos_run_recorded_holds_the_members_trace_and_its_faults(tmp_path: Path):
    record = tmp_path / "chaos.etcdrec"
    config = ChaosConfig(
        directory=tmp_path / "chaos",
        seed=7,
        seconds=4.0,
        clients=2,
        members=3,
        faults=[Fault.KILL_FOLLOWER],
        timing=Timing(hold=(1.0, 1.5), quiet=(0.5, 1.0)),
        record=record,
    )
    anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")

    recording = read_recording(record)
    kinds = {event.kind for event in recording.events}
    assert {"msg_send", "msg_recv", "apply", "commit", "fault"} <= kinds
    faults = [event.fields["text"] for event in recording.events if event.kind == "fault"]
    assert any(text.startswith("kill-follower: ") for text in faults)
    timeline = Timeline()
    timeline.extend(recording.events)
    assert any(isinstance(row, Mark) and row.kind == "fault" for row in timeline.rows)


def test_a_chaos_recording_opens_paused_at_its_violation_and_jumps_between_them(
    tmp_path: Path,
):
    start = 700.0
    events = a_session(start)
    path = tmp_path / "chaos.etcdrec"
    write_recording(path, events)
    said = "[durability] put c='3' @rev 4: acknowledged, missing from the final state"
    append_events(
        path,
        [
            TraceEvent(
                VIOLATIONS_LANE,
                start + 0.1,
                VIOLATION,
                {"check": "durability", "revision": 4, "text": said},
            ),
            TraceEvent(
                VIOLATIONS_LANE,
                start + 0.2,
                VIOLATION,
                {"check": "watch", "revision": 5, "text": "[watch] m1 @rev 5: never delivered"},
            ),
        ],
    )
    recording = read_recording(path)
    assert recording.members == ["n1", "n2", "n3"]
    first = next(i for i, e in enumerate(recording.events) if e.kind == VIOLATION)

    async def scenario() -> None:
        app = ReplayApp(recording, path, at_violation=True)
        async with app.run_test(size=(140, 40)) as pilot:
            player = app.player
            await wait_until(pilot, lambda: player.position == first + 1, "the first violation")
            assert not player.playing
            assert player.now == start + 0.1
            marks = [row for row in app.cluster.timeline.shown if isinstance(row, Mark)]
            assert [(m.member, m.text) for m in marks if m.kind == VIOLATION] == [
                (VIOLATIONS_LANE, said)
            ]
            bar = static_text(app.query_one("#replay-bar", Static))
            assert "v V violation, 2 marked" in bar
            assert bar.endswith(f"\nviolation at 0.100 s: {said}")
            await pilot.press("v")
            assert player.now == start + 0.2
            await pilot.press("v")  # no third: it stays
            assert player.now == start + 0.2
            await pilot.press("V")
            assert player.position == first + 1

    asyncio.run(scenario())


def test_replay_at_a_violation_of_a_recording_without_one_says_so(tmp_path: Path, capsys):
    path = tmp_path / "session.etcdrec"
    write_recording(path, a_session(800.0))

    assert cli.main(["replay", str(path), "--at-violation"]) == 1
    assert f"{path} marks no violation" in capsys.readouterr().err
