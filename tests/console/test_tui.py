"""The dashboard driven through Textual's pilot, against real member processes of a playground
(and, for `--etcd-endpoints`, a real etcd 3.4).

The pilot runs on asyncio, so each test is a plain function running its scenario with
asyncio.run. Every wait is bounded: a condition polled between pilot pauses until a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import grpc
import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Log, RichLog, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from console.tui.app import ACTIONS, DashboardApp, dashboard_for
from console.tui.cluster_view import LiveMember
from console.tui.confirm_dialog import ConfirmDialog
from console.tui.key_space import ChildPage, KeyChild, list_children
from console.tui.log_history import merged_with_history, read_log_tail
from console.tui.logs_panel import LogsPanel
from console.tui.records import KeyPage, LogLine
from console.tui.watches_panel import WatchView
from node.client import connect_client
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from playground.playground import Playground

FAST = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}
WAIT = 20.0
SIZE = (120, 40)
ETCD = shutil.which("etcd")


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    """Three member processes shared by the tests that do not break them."""
    running = Playground(tmp_path_factory.mktemp("tui") / "playground", members=3, **FAST)
    try:
        anyio.run(running.start)
        yield running
    finally:
        anyio.run(running.stop)


@pytest.fixture
def own_playground(tmp_path: Path) -> Iterator[Playground]:
    """Three member processes for one test that kills some."""
    running = Playground(tmp_path / "playground", members=3, **FAST)
    try:
        anyio.run(running.start)
        yield running
    finally:
        anyio.run(running.stop)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the dashboard never showed {what} within {WAIT:g} s")
        await pilot.pause(0.05)


def cell(app: DashboardApp, member: str, column: str) -> str:
    """The text the members table shows for `member` in `column` ("" before its row shows)."""
    try:
        return app.members_panel.table.get_cell(member, column).plain.strip()
    except CellDoesNotExist:
        return ""


def leader_shown(app: DashboardApp) -> str | None:
    """The member whose row says leader, if exactly one does."""
    leaders = [key for key in app.cluster.members if cell(app, key, "role") == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def lines_of(log: Log | RichLog) -> list[str]:
    """The lines a log widget shows."""
    return [(line if isinstance(line, str) else line.text).rstrip() for line in log.lines]


def text_of(static: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(static.content)
    return console.export_text()


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body row of a table drawn with Rich's box characters."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.count("│") > 1
    ]


async def open_watch_by_dialog(pilot: Pilot, key: str) -> WatchView:
    """Press w, fill in the dialog, and return the watch it opened."""
    app = pilot.app
    await pilot.press("W")
    await wait_until(pilot, lambda: bool(app.screen.query("#watch-key")), "the watch dialog")
    app.screen.query_one("#watch-key", Input).value = key
    await pilot.press("enter")
    await wait_until(pilot, lambda: bool(app.query(WatchView)), "the new watch")
    view = app.query(WatchView).last()
    await wait_until(pilot, lambda: view.created, "the watch created")
    return view


def test_members_appear_with_their_roles_and_the_leader_highlighted(
    playground: Playground, tmp_path: Path
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: leader_shown(app) is not None, "a leader")
            await wait_until(
                pilot,
                lambda: all(cell(app, name, "match") for name in playground.members),
                "replication bars",
            )
            leader = leader_shown(app)
            roles = sorted(cell(app, name, "role") for name in playground.members)
            name_cell = app.members_panel.table.get_cell(leader, "name")
            states = {cell(app, name, "state") for name in playground.members}
            leader_column = {cell(app, name, "leader") for name in playground.members}
            screenshot = Path(app.save_screenshot("dashboard.svg", str(tmp_path)))

        assert roles == ["follower", "follower", "leader"]
        assert any("on green" in str(span.style) for span in name_cell.spans)
        assert states == {"up"}
        assert leader_column == {leader}
        assert "Members" in await anyio.Path(screenshot).read_text()

    asyncio.run(scenario())


def test_killing_the_leader_shows_a_new_leader_and_the_old_one_unreachable(
    own_playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(own_playground)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: leader_shown(app) is not None, "a leader")
            old = leader_shown(app)
            table = app.members_panel.table
            table.move_cursor(row=table.get_row_index(old))
            await wait_until(pilot, lambda: app.selected == old, "the leader selected")
            await pilot.press("K")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
            await pilot.press("y")
            await wait_until(
                pilot,
                lambda: (
                    leader_shown(app) not in (None, old)
                    and cell(app, old, "health") == "unreachable"
                ),
                "a new leader and the old one unreachable",
            )
            await wait_until(pilot, lambda: cell(app, old, "state") == "down", "the kill")
            new = leader_shown(app)
            old_row = {column: cell(app, old, column) for column in ("role", "term", "commit")}

        assert new != old
        assert old_row == {"role": "—", "term": "—", "commit": "—"}

    asyncio.run(scenario())


def test_a_watch_panel_shows_a_put_made_through_another_client(playground: Playground):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            view = await open_watch_by_dialog(pilot, "orders/")
            log = view.query_one(Log)
            async with connect_client(playground.native_endpoints()) as client:
                put = await client.put("orders/17", "two apples")
            revision = put.header.revision
            await wait_until(
                pilot, lambda: any("orders/17" in line for line in lines_of(log)), "the put"
            )
            shown = lines_of(log)

        assert view.border_title == "#1 watch orders/ --prefix"
        assert shown == [f"PUT    orders/17 = two apples  @{revision}"]

    asyncio.run(scenario())


def test_pausing_the_display_keeps_every_event_and_resuming_shows_them_all(
    playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            view = await open_watch_by_dialog(pilot, "paused/")
            log = view.query_one(Log)
            await pilot.press("P")
            async with connect_client(playground.native_endpoints()) as client:
                for number in range(20):
                    await client.put(f"paused/{number:02}", str(number))
            await wait_until(
                pilot, lambda: "20 buffered" in str(view.border_subtitle), "20 buffered events"
            )
            while_paused = lines_of(log)
            await pilot.press("P")
            await wait_until(pilot, lambda: len(lines_of(log)) == 20, "20 events after resuming")
            after = lines_of(log)

        assert while_paused == []
        assert [line.split()[1] for line in after] == [f"paused/{n:02}" for n in range(20)]

    asyncio.run(scenario())


def test_the_key_browser_lists_keys_under_a_prefix_and_shows_a_keys_details(
    playground: Playground,
):
    async def scenario() -> None:
        async with connect_client(playground.native_endpoints()) as client:
            lease = await client.lease_grant(600)
            first = await client.put("shop/fruit/apple", "red")
            second = await client.put("shop/fruit/apple", "green", lease=lease.ID)
            await client.put("shop/fruit/pear", "yellow")
            await client.put("shop/veg/leek", "long")
            await client.put("shop/till", "open")
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("F")
            app.keys_panel.query_one("#key-find", Input).value = "shop/"
            await pilot.press("enter")
            tree = app.keys_panel.key_tree
            labels = lambda node: [str(child.label) for child in node.children]  # noqa: E731
            await wait_until(pilot, lambda: len(tree.root.children) == 3, "shop/'s children")
            top = labels(tree.root)
            fruit = tree.root.children[0]
            fruit.expand()
            await wait_until(pilot, lambda: len(fruit.children) == 2, "fruit/'s children")
            fruits = labels(fruit)
            tree.select_node(fruit.children[0])
            details = app.keys_panel.details
            await wait_until(pilot, lambda: details.history is not None, "apple's details")
            fields = text_of(details.query_one("#key-fields", Static))
            history = text_of(details.query_one("#key-history", Static))

        assert top == ["fruit/", "till", "veg/"]
        assert fruits == ["apple", "pear"]
        assert "green" in fields
        assert f"create revision  {first.header.revision}" in fields
        assert f"{lease.ID:x} (TTL" in fields
        assert "version          2" in fields
        assert table_rows(history) == [
            [str(second.header.revision), "2", "green"],
            [str(first.header.revision), "1", "red"],
        ]
        assert f"created at revision {first.header.revision}" in history

    asyncio.run(scenario())


async def type_command(pilot: Pilot, line: str) -> None:
    """Focus the command bar with `:`, type `line` and press Enter."""
    await pilot.press("colon")
    pilot.app.query_one("#command-bar", Input).value = line
    await pilot.press("enter")


def test_the_command_bar_runs_the_repl_commands_and_opens_watches_in_the_panel(
    playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            output = app.output_panel.lines
            await type_command(pilot, "watch bar/ --prefix")
            await wait_until(pilot, lambda: bool(app.query(WatchView)), "the watch")
            view = app.query(WatchView).last()
            await wait_until(pilot, lambda: view.created, "the watch created")
            await type_command(pilot, "put bar/x 42")
            await wait_until(pilot, lambda: "OK" in lines_of(output), "put's OK")
            await type_command(pilot, "get bar/x")
            await wait_until(pilot, lambda: "> get bar/x" in lines_of(output), "the get")
            await wait_until(pilot, lambda: lines_of(output)[-1] == "42", "get's output")
            await type_command(pilot, "frobnicate")
            await wait_until(pilot, lambda: "frobnicate" in lines_of(output)[-1], "an error")
            watched = [line.split()[:3] for line in lines_of(view.query_one(Log))]
            printed = lines_of(output)

        assert watched == [["PUT", "bar/x", "="]]
        assert printed[-7:] == [
            "> put bar/x 42",
            "OK",
            "> get bar/x",
            "bar/x",
            "42",
            "> frobnicate",
            'Error: unknown command "frobnicate": help lists the commands',
        ]

    asyncio.run(scenario())


class KeysInMemory:
    """Just enough of a data source for key listing: sorted keys, and a count of requests."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys_held = sorted(keys)
        self.requests = 0

    async def keys(self, start: bytes, end: bytes, limit: int) -> KeyPage:
        self.requests += 1
        inside = [k for k in self.keys_held if k >= start and (end == b"\0" or k < end)]
        return KeyPage(inside[:limit], len(inside) > limit)


def test_listing_a_prefix_steps_over_big_directories_and_pages_through_many_keys():
    keys = [f"app/big/{n:05}".encode() for n in range(5000)]
    keys += [f"app/leaf{n:03}".encode() for n in range(150)]
    keys += [b"app/zone/a", b"other"]
    source = KeysInMemory(keys)

    async def scenario() -> tuple[ChildPage, ChildPage, int, ChildPage]:
        first = await list_children(source, b"app/", count=100)
        second = await list_children(source, b"app/", first.resume, count=100)
        requests = source.requests
        partial = await list_children(source, b"app/le", count=3)
        return first, second, requests, partial

    first, second, requests, partial = asyncio.run(scenario())
    labels = [child.label for child in first.children]
    assert labels[:3] == ["big/", "leaf000", "leaf001"]
    assert first.children[0] == KeyChild("big/", b"app/big/", True)
    assert [child.label for child in second.children][-2:] == ["leaf149", "zone/"]
    assert second.resume is None
    assert requests <= 6
    assert [child.label for child in partial.children] == ["leaf000", "leaf001", "leaf002"]


class LogsOnly(App[None]):
    """The logs panel alone, following one member fed by hand."""

    def __init__(self, member: LiveMember) -> None:
        super().__init__()
        self.member = member

    def compose(self) -> ComposeResult:
        yield LogsPanel()

    def on_mount(self) -> None:
        self.query_one(LogsPanel).follow(self.member)


def test_the_logs_panel_follows_new_lines_and_filters_by_level_and_text():
    member = LiveMember("n1", "127.0.0.1:1")
    for level, message in [("debug", "tick"), ("info", "became leader"), ("warning", "slow fsync")]:
        member.apply_event("log", {"level": level, "logger": "raft", "message": message}, 0.0)

    async def scenario() -> None:
        app = LogsOnly(member)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.query_one(LogsPanel)
            everything = [line.split(" ", 1)[1] for line in lines_of(panel.lines)]
            member.apply_event("log", {"level": "error", "logger": "wal", "message": "disk"}, 0.0)
            panel.pull()
            followed = len(lines_of(panel.lines))
            panel.query_one("#log-level", Select).value = "warning"
            await wait_until(pilot, lambda: len(lines_of(panel.lines)) == 2, "warnings only")
            warnings = [line.split()[-1] for line in lines_of(panel.lines)]
            panel.query_one("#log-filter", Input).value = "fsync"
            await wait_until(pilot, lambda: len(lines_of(panel.lines)) == 1, "the text filter")

        assert everything == [
            "DEBUG   raft: tick",
            "INFO    raft: became leader",
            "WARNING raft: slow fsync",
        ]
        assert followed == 4
        assert warnings == ["fsync", "disk"]

    asyncio.run(scenario())


def test_typed_text_goes_to_the_command_bar_and_never_acts_on_the_cluster(
    playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: leader_shown(app) is not None, "a leader")
            assert app.focused is app.members_panel.table
            # every letter of it is (or was) a dashboard key: p paused, k killed
            await pilot.press(*"put demo/k1 v1")
            bar = app.query_one("#command-bar", Input)
            typed, focused, paused = bar.value, app.focused, app.display_paused
            states = {name: playground.state(name) for name in playground.members}
            await pilot.press("enter")
            output = app.output_panel.lines
            await wait_until(pilot, lambda: "OK" in lines_of(output), "put's OK")

        assert typed == "put demo/k1 v1"
        assert focused is bar
        assert not paused
        assert set(states.values()) == {"up"}

    asyncio.run(scenario())


def test_kill_stop_and_isolate_ask_first_and_no_leaves_the_member_alone(
    playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.selected is not None, "a selected member")
            selected = app.selected
            questions = []
            for key, answer in (("K", "n"), ("Z", "escape"), ("X", "k")):
                await pilot.press(key)
                await wait_until(
                    pilot, lambda: isinstance(app.screen, ConfirmDialog), f"{key}'s question"
                )
                questions.append(app.screen.question)
                await pilot.press(answer)
                await wait_until(
                    pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the answer"
                )
            await pilot.pause(0.5)
            state = playground.state(selected)
            partitions = list(playground.faults.partition)

        assert questions == [
            f"Kill {selected}? (SIGKILL, as a crash)",
            f"Stop {selected}? (SIGSTOP: it freezes until Z again)",
            f"Isolate {selected}? (partition it from every other member; H heals)",
        ]
        assert state == "up"
        assert partitions == []

    asyncio.run(scenario())


def test_colon_reaches_the_command_bar_without_becoming_part_of_the_command(
    playground: Playground,
):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            bar = app.query_one("#command-bar", Input)
            await pilot.press("colon", *"get colon/k")
            first = bar.value
            await pilot.press("enter")
            # the bar keeps the focus; ":" again, as a user reaching for it does
            await pilot.press("colon", *"put colon/k 1")
            second = bar.value
            await pilot.press("enter")
            output = app.output_panel.lines
            await wait_until(pilot, lambda: "OK" in lines_of(output), "put's OK")
            printed = lines_of(output)

        assert first == "get colon/k"
        assert second == "put colon/k 1"
        assert not any("unknown command" in line for line in printed)

    asyncio.run(scenario())


def test_the_logs_panel_opens_on_the_members_past_then_follows_it(playground: Playground):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.selected is not None, "a selected member")
            selected = app.selected
            panel = app.logs_panel
            await wait_until(
                pilot,
                lambda: any("started: peers on port" in line for line in lines_of(panel.lines)),
                "the start-up line logged before the dashboard opened",
            )
            endpoint = playground.members[selected].native_endpoint
            async with connect_client([endpoint]) as client:
                await client.defragment()
            await wait_until(
                pilot,
                lambda: any("defragmented the backend" in line for line in lines_of(panel.lines)),
                "the line logged while followed",
            )
            shown = lines_of(panel.lines)

        started = [line for line in shown if "started: peers on port" in line]
        assert len(started) == len(set(started)) >= 1
        assert not any(line.startswith("no log line") for line in shown)
        assert len([line for line in shown if "defragmented the backend" in line]) == 1

    asyncio.run(scenario())


def test_log_history_is_the_files_tail_and_merges_with_the_stream_once(tmp_path: Path):
    lines = [
        {"ts": 100.0 + n, "level": "info", "logger": "node", "msg": f"line {n}"} for n in range(5)
    ]
    (tmp_path / "node.log").write_text(
        "\n".join(json.dumps(line) for line in lines) + '\n{"ts": 1, "lev'
    )
    history = read_log_tail(tmp_path, limit=3)
    streamed = [LogLine(200.0, "info", "node", "line 4"), LogLine(201.0, "info", "node", "new")]
    merged = merged_with_history(history, streamed)

    assert [line.message for line in history] == ["line 2", "line 3", "line 4"]
    assert [line.message for line in merged] == ["line 2", "line 3", "line 4", "new"]
    assert read_log_tail(tmp_path / "missing") == []


def test_a_cluster_that_does_not_answer_shows_unreachable_members_never_numbers():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        endpoint = f"127.0.0.1:{closed.getsockname()[1]}"

    async def scenario() -> None:
        app = dashboard_for(endpoints=[endpoint])
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot, lambda: cell(app, endpoint, "health") == "unreachable", "unreachable"
            )
            row = {column: cell(app, endpoint, column) for column in ("role", "commit", "db")}
            problem = str(app.members_panel.border_subtitle)

        assert row == {"role": "—", "commit": "—", "db": "—"}
        assert problem.startswith(f"{endpoint}: ")

    asyncio.run(scenario())


def test_the_command_palette_lists_every_dashboard_action(playground: Playground):
    async def scenario() -> None:
        app = dashboard_for(playground)
        async with app.run_test(size=SIZE):
            titles = [command.title for command in app.get_system_commands(app.screen)]

        assert [entry.title for entry in ACTIONS] == titles[: len(ACTIONS)]

    asyncio.run(scenario())


@contextlib.contextmanager
def real_etcd(directory: Path) -> Iterator[str]:
    """A one-member etcd 3.4 on loopback; yields its client endpoint."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        client_port, peer_port = first.getsockname()[1], second.getsockname()[1]
    client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    log = directory / "etcd.log"
    with open(log, "wb") as output:
        arguments = [
            "--name", "solo", "--data-dir", str(directory / "data"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"solo={peer_url}",
        ]  # fmt: skip
        process = subprocess.Popen(
            [ETCD, *arguments],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"127.0.0.1:{client_port}"
    finally:
        process.kill()
        process.wait()


@pytest.mark.skipif(ETCD is None, reason="the etcd binary is not installed (etcd-server)")
def test_etcd_endpoints_attach_the_watch_monitor_and_key_browser_to_a_real_etcd(tmp_path: Path):
    async def scenario(endpoint: str) -> None:
        app = dashboard_for(etcd_endpoints=[endpoint])
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: leader_shown(app) == endpoint, "etcd as leader")
            name = cell(app, endpoint, "name")
            view = await open_watch_by_dialog(pilot, "etcd/")
            log = view.query_one(Log)
            async with grpc.aio.insecure_channel(endpoint) as channel:
                kv = rpc_pb2_grpc.KVStub(channel)
                await kv.Put(rpc_pb2.PutRequest(key=b"etcd/hello", value=b"world"))
            await wait_until(
                pilot, lambda: any("etcd/hello" in line for line in lines_of(log)), "the put"
            )
            await pilot.press("F")
            app.keys_panel.query_one("#key-find", Input).value = "etcd/"
            await pilot.press("enter")
            tree = app.keys_panel.key_tree
            await wait_until(pilot, lambda: len(tree.root.children) == 1, "etcd/hello")
            listed = str(tree.root.children[0].label)
            logs = lines_of(app.logs_panel.lines)

        assert name == "solo"
        assert listed == "hello"
        assert logs == ["etcd has no log stream: only members of ours send logs."]

    with real_etcd(tmp_path) as endpoint:
        asyncio.run(scenario(endpoint))
