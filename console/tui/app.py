"""The live dashboard: members, commit index, logs, watches and keys of a running cluster.

Data comes only from the members' event streams and the client API (through a DataSource),
plus the playground supervisor for kill, restart, pause and partition. Sources update a
ClusterView as events arrive; the panels redraw from it ten times a second.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Log, Select, TabbedContent, TabPane
from textual.worker import Worker

from console.command_specs import PLAYGROUND
from console.commands import GRAMMAR, BackgroundOutput, CommandError, parse
from console.recording import RecordingWriter
from console.tui.cluster_view import ClusterView
from console.tui.command_bar import CommandBar, OutputPanel
from console.tui.command_session import CommandSession
from console.tui.commit_panel import CommitPanel
from console.tui.confirm_dialog import ConfirmDialog
from console.tui.etcd_source import EtcdSource
from console.tui.held_panel import HeldPanel
from console.tui.keys_panel import KeysPanel
from console.tui.log_history import merged_with_history, read_log_tail
from console.tui.logs_panel import LogsPanel
from console.tui.members_panel import MembersPanel
from console.tui.native_source import NativeSource
from console.tui.playground_endpoints import playground_member_endpoints
from console.tui.records import WatchSpec
from console.tui.source import DataSource
from console.tui.timeline_panel import TimelinePanel
from console.tui.watch_dialog import WatchDialog
from console.tui.watches_panel import WatchesPanel, WatchView
from node.client import ClientTls, Door
from playground.errors import PlaygroundError
from playground.playground import Playground

REFRESH_SECONDS = 0.1
"""How often panels redraw from the buffered state."""
SAMPLE_SECONDS = 0.5
"""How often commit indexes are sampled and process states read."""
_TABS = {3: "logs-tab", 4: "watches-tab", 5: "keys-tab", 6: "output-tab", 7: "timeline-tab"}


@dataclass(slots=True)
class FollowedMember:
    """A member to follow: the key the dashboard knows it by, its name if known, its endpoint."""

    key: str
    name: str
    endpoint: str


@dataclass(slots=True)
class DashboardAction:
    """One action of the dashboard, for its key binding and the command palette."""

    action: str
    title: str
    help: str


ACTIONS = (
    DashboardAction("kill", "Kill member", "SIGKILL the selected member's process"),
    DashboardAction("restart", "Restart member", "start the selected member again"),
    DashboardAction(
        "freeze", "Pause or resume member", "SIGSTOP the selected member, or SIGCONT it if paused"
    ),
    DashboardAction("isolate", "Partition member", "cut the selected member off from the rest"),
    DashboardAction("heal", "Heal", "remove every partition and slow link"),
    DashboardAction("open_watch", "Open a watch", "watch a key or prefix from a revision"),
    DashboardAction(
        "pause_display",
        "Pause or resume display",
        "freeze the watches and logs; nothing is lost, resuming shows it all",
    ),
    DashboardAction("find_keys", "Find keys", "browse the keys under a prefix"),
    DashboardAction("focus_command", "Command bar", "type a command, as in the REPL"),
    DashboardAction("show_panel(1)", "Show members", "the members panel (again: maximize)"),
    DashboardAction("show_panel(2)", "Show commit index", "the commit panel (again: maximize)"),
    DashboardAction("show_panel(3)", "Show logs", "the selected member's log (again: maximize)"),
    DashboardAction("show_panel(4)", "Show watches", "the open watches (again: maximize)"),
    DashboardAction("show_panel(5)", "Show keys", "the key browser (again: maximize)"),
    DashboardAction("show_panel(6)", "Show output", "what commands printed (again: maximize)"),
    DashboardAction(
        "show_panel(7)", "Show timeline", "the members' messages in time (again: maximize)"
    ),
    DashboardAction("quit", "Quit", "leave the dashboard (the cluster keeps running)"),
)
_PLAYGROUND_ACTIONS = {"kill", "restart", "freeze", "isolate", "heal"}
MemberOperation = Callable[[Playground, str], Awaitable[None]]
"""A supervisor operation on one member by name (Playground.kill, ...)."""


class DashboardApp(App[int]):
    """The dashboard of one cluster, read through `source`."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "etcd-console"
    BINDINGS = [
        Binding("1", "show_panel(1)", "Panels", key_display="1-7"),
        Binding("2", "show_panel(2)", "Commit index", show=False),
        Binding("3", "show_panel(3)", "Logs", show=False),
        Binding("4", "show_panel(4)", "Watches", show=False),
        Binding("5", "show_panel(5)", "Keys", show=False),
        Binding("6", "show_panel(6)", "Output", show=False),
        Binding("7", "show_panel(7)", "Timeline", show=False),
        # Capitals act, so that lowercase text typed anywhere but a field reaches the command
        # bar (commands are lowercase; none starts with q); kill, stop and isolate also ask y/n.
        Binding("K", "kill", "Kill"),
        Binding("R", "restart", "Restart"),
        Binding("Z", "freeze", "Stop/cont"),
        Binding("X", "isolate", "Isolate"),
        Binding("H", "heal", "Heal"),
        Binding("W", "open_watch", "Watch"),
        Binding("P", "pause_display", "Pause"),
        Binding("F", "find_keys", "Find"),
        Binding("colon", "focus_command", "Command", key_display=":"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        source: DataSource,
        members: Iterable[FollowedMember],
        playground: Playground | None = None,
        command_endpoints: list[str] | None = None,
        story: Callable[[DashboardApp], Awaitable[None]] | None = None,
        tls: ClientTls | None = None,
        recording: RecordingWriter | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        door: Door = "native",
    ) -> None:
        super().__init__()
        self.source = source
        self.recording = recording
        self.story = story
        self.demo_failures: list[Exception] = []
        self.playground = playground
        self.session = (
            CommandSession(
                command_endpoints,
                playground,
                self._background_output,
                tls,
                user=user,
                password=password,
                door=door,
            )
            if command_endpoints
            else None
        )
        self.cluster = ClusterView()
        if recording is not None:
            self.cluster.recorder = recording.write
        for member in members:
            self.cluster.add(member.key, member.name, member.endpoint)
        self.selected: str | None = next(iter(self.cluster.members), None)
        self.display_paused = False
        self.process_states: dict[str, str] = {}
        self._followers: dict[str, Worker[None]] = {}
        self._history_pending: set[str] = set()
        """Members whose log file's past is still to be read into their log lines."""
        self._watch_ids = itertools.count(1)

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield MembersPanel(id="members-panel")
        yield CommitPanel(id="commit-panel")
        yield HeldPanel(self.playground, id="held-panel")
        with TabbedContent(id="tabs"):
            with TabPane("3 Logs", id="logs-tab"):
                yield LogsPanel(id="logs-panel")
            with TabPane("4 Watches", id="watches-tab"):
                yield WatchesPanel(id="watches-panel")
            with TabPane("5 Keys", id="keys-tab"):
                yield KeysPanel(self.source, id="keys-panel")
            with TabPane("6 Output", id="output-tab"):
                yield OutputPanel(id="output-panel")
            with TabPane("7 Timeline", id="timeline-tab"):
                yield TimelinePanel(self.cluster.timeline, id="timeline-panel")
        yield CommandBar([spec.name for spec in GRAMMAR.specs()])
        yield Footer(compact=True)

    @property
    def members_panel(self) -> MembersPanel:
        """Panel 1."""
        return self.query_one(MembersPanel)

    @property
    def commit_panel(self) -> CommitPanel:
        """Panel 2."""
        return self.query_one(CommitPanel)

    @property
    def logs_panel(self) -> LogsPanel:
        """Panel 3."""
        return self.query_one(LogsPanel)

    @property
    def watches_panel(self) -> WatchesPanel:
        """Panel 4."""
        return self.query_one(WatchesPanel)

    @property
    def keys_panel(self) -> KeysPanel:
        """Panel 5."""
        return self.query_one(KeysPanel)

    @property
    def output_panel(self) -> OutputPanel:
        """Panel 6."""
        return self.query_one(OutputPanel)

    @property
    def timeline_panel(self) -> TimelinePanel:
        """Panel 7."""
        return self.query_one(TimelinePanel)

    def on_mount(self) -> None:
        self.sub_title = self.source.label
        self.run_worker(self.source.run(), name="source", group="source")
        if self.session is not None:
            self.run_worker(self.session.run(), name="commands", group="source")
        for key in self.cluster.members:
            self._follow(key)
        self._read_process_states()
        if not self.source.streams_logs:
            self.logs_panel.no_stream("etcd has no log stream: only members of ours send logs.")
        if not self.source.streams_trace:
            self.timeline_panel.no_trace(
                "etcd publishes no trace events: only members of ours draw a timeline."
            )
        self._select(self.selected)
        self.members_panel.table.focus()
        self.set_interval(REFRESH_SECONDS, self._redraw)
        self.set_interval(SAMPLE_SECONDS, self._sample)
        if self.story is not None:
            self.run_worker(self.story(self), name="story", group="story")

    # -- following members --------------------------------------------------------------------

    def _follow(self, key: str) -> None:
        member = self.cluster.members[key]
        self._followers[key] = self.run_worker(
            self.source.follow(member, self.cluster), name=f"follow {key}", group="members"
        )
        if self.playground is not None and self.source.streams_logs:
            self._history_pending.add(key)

    def _load_log_histories(self) -> None:
        """Read the past of each member's log file once its stream is live (it answered), or
        at once if its process is down: every line is then in the file or in the stream."""
        playground = self.playground
        for key in list(self._history_pending):
            member = self.cluster.members.get(key)
            record = playground.members.get(key) if playground is not None else None
            if member is None or record is None:
                self._history_pending.discard(key)
            elif member.reachable or self.process_states.get(key) == "down":
                self._history_pending.discard(key)
                self.run_worker(self._load_log_history(key, record.data_dir), group="members")

    async def _load_log_history(self, key: str, data_dir: str) -> None:
        """Put what the member logged before it was followed in front of its streamed lines."""
        history = await anyio.to_thread.run_sync(read_log_tail, data_dir)
        member = self.cluster.members.get(key)
        if member is None or not history:
            return
        member.add_history(merged_with_history(history, list(member.logs)))
        if self.selected == key:
            self.logs_panel.follow(member)

    def _sync_playground_members(self) -> None:
        """Follow members the playground added, drop those it removed."""
        playground = self.playground
        if playground is None:
            return
        for name, record in playground.members.items():
            if name not in self.cluster.members:
                self.cluster.add(name, name, record.native_endpoint)
                self._follow(name)
        for name in [name for name in self.cluster.members if name not in playground.members]:
            self._followers.pop(name).cancel()
            del self.cluster.members[name]

    def _read_process_states(self) -> None:
        playground = self.playground
        if playground is None:
            self.process_states = {
                key: "reachable" if member.reachable else "unreachable"
                for key, member in self.cluster.members.items()
            }
            return
        states = {}
        for name in self.cluster.members:
            state: str
            try:
                state = playground.state(name)
            except PlaygroundError:
                state = "removed"
            states[name] = _with_faults(state, name, playground)
        self.process_states = states

    def _sample(self) -> None:
        if not self.is_running:  # shutting down: the panels are being removed
            return
        self._sync_playground_members()
        self._read_process_states()
        self._load_log_histories()
        self.cluster.sample()
        self.commit_panel.show(self.cluster)

    def _redraw(self) -> None:
        if not self.is_running:  # shutting down: the panels are being removed
            return
        self.members_panel.show(self.cluster, self.process_states)
        self.logs_panel.pull()
        self.watches_panel.flush(self.display_paused)
        self.timeline_panel.pull()

    # -- selection ------------------------------------------------------------------------------

    def _select(self, key: str | None) -> None:
        self.selected = key
        member = self.cluster.members.get(key) if key is not None else None
        if self.source.streams_logs:
            self.logs_panel.follow(member)

    def on_members_panel_selected(self, event: MembersPanel.Selected) -> None:
        """The members table moved to another member: its log follows."""
        if event.key != self.selected:
            self._select(event.key)

    # -- panels ---------------------------------------------------------------------------------

    def _panel(self, number: int) -> Widget:
        return (
            self.members_panel,
            self.commit_panel,
            self.logs_panel,
            self.watches_panel,
            self.keys_panel,
            self.output_panel,
            self.timeline_panel,
        )[number - 1]

    def _focus_target(self, number: int) -> Widget:
        if number == 1:
            return self.members_panel.table
        if number == 3:
            return self.logs_panel.lines
        if number == 4:
            views = self.watches_panel.views
            return views[-1].query_one(Log) if views else self.watches_panel
        if number == 5:
            return self.keys_panel.key_tree
        if number == 6:
            return self.output_panel.lines
        if number == 7:
            return self.timeline_panel.chart
        return self._panel(number)

    def action_show_panel(self, number: int) -> None:
        """Show panel `number` and focus it; if it has focus already, maximize it (or restore)."""
        panel = self._panel(number)
        screen = self.screen
        if screen.maximized is not None:
            was_this = screen.maximized is panel
            screen.minimize()
            if was_this:
                return
        if number in _TABS:
            self.query_one(TabbedContent).active = _TABS[number]
        if panel.has_focus_within:
            screen.maximize(panel, container=False)
        else:
            self._focus_target(number).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """The key tree loads when its tab is first shown."""
        if event.pane.id == "keys-tab" and self.keys_panel.prefix is None:
            self.keys_panel.browse(b"")

    def action_pause_display(self) -> None:
        """Freeze or unfreeze the watches and logs; events keep being buffered meanwhile."""
        self.display_paused = not self.display_paused
        self.logs_panel.paused = self.display_paused
        self.watches_panel.flush(self.display_paused)
        self.timeline_panel.pause(self.display_paused)
        self.sub_title = (
            f"{self.source.label} · display paused (P resumes)"
            if self.display_paused
            else self.source.label
        )

    def action_open_watch(self) -> None:
        """Ask what to watch, then open it."""
        self.push_screen(WatchDialog(), callback=self._watch_chosen)

    def _watch_chosen(self, spec: WatchSpec | None) -> None:
        if spec is not None:
            self.open_watch(spec)

    def open_watch(self, spec: WatchSpec) -> WatchView:
        """Start a watch and show it in the watches panel."""
        view = WatchView(next(self._watch_ids), spec, self.source)
        self.watches_panel.add(view)
        self.query_one(TabbedContent).active = "watches-tab"
        return view

    def action_find_keys(self) -> None:
        """Jump to the key browser's prefix search."""
        self.query_one(TabbedContent).active = "keys-tab"
        self.keys_panel.query_one("#key-find").focus()

    # -- the command bar ------------------------------------------------------------------------

    def action_focus_command(self) -> None:
        """Put the cursor in the command bar."""
        self.query_one(CommandBar).focus()

    async def on_event(self, event: events.Event) -> None:
        """Text typed while no field has focus goes to the command bar, not to the bindings."""
        if isinstance(event, events.Key) and self._starts_typing(event):
            bar = self.query_one(CommandBar)
            bar.focus()
            bar.insert_text_at_cursor(event.character or "")
            return
        await super().on_event(event)

    def _starts_typing(self, event: events.Key) -> bool:
        character = event.character
        if not event.is_printable or not character or character.isspace():
            return False
        if len(self.screen_stack) > 1 or isinstance(self.focused, Input | Select):
            return False
        return not any(key == event.key for key in self.active_bindings)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the command bar runs its line."""
        if event.input.id != "command-bar":
            return
        event.stop()
        bar = self.query_one(CommandBar)
        bar.remember(event.value.strip())
        bar.value = ""
        if event.value.strip():
            self.run_worker(self.run_command(event.value.strip()), group="commands")

    async def run_command(self, line: str) -> None:
        """Run one command line as the REPL would; watches open in the watches panel."""
        output = self.output_panel
        try:
            command = parse(line)
        except CommandError as error:
            self._report(line, [f"Error: {error}"], ok=False, quiet=False)
            return
        if command.name == "watch":
            key, end = command.args["key"], command.args["end"] or ""
            spec = WatchSpec(
                key.encode(), command.flags["prefix"], command.flags["rev"], end.encode()
            )
            view = self.open_watch(spec)
            output.show(
                line, [f"[{view.watch_id}] in the watches panel: unwatch {view.watch_id}"], True
            )
            return
        if command.name == "unwatch":
            self._unwatch(line, command.args["id"])
            return
        if command.name == "txn" and command.txn is None:
            message = (
                "Error: the command bar takes the one-line txn (help txn); txn -i is the REPL's"
            )
            self._report(line, [message], ok=False, quiet=False)
            return
        if self.session is None:
            message = f"Error: {command.name} needs a cluster to run on: this is a recording"
            self._report(line, [message], ok=False, quiet=False)
            return
        result = await self.session.execute(command)
        quiet = GRAMMAR.spec(command.name).group == PLAYGROUND
        if quiet:
            for name in set(line.split()) & set(self.cluster.members):
                self.cluster.mark_fault(name, line)
        self._report(line, result.lines, ok=result.ok, quiet=quiet)
        if quiet:
            self._read_process_states()

    def _unwatch(self, line: str, watch_id: int) -> None:
        for view in self.watches_panel.views:
            if view.watch_id == watch_id:
                view.remove()
                self.output_panel.show(line, [f"watch {watch_id} stopped"], True)
                return
        self._report(line, [f"Error: no watch {watch_id}"], ok=False, quiet=False)

    def _report(self, line: str, lines: list[str], *, ok: bool, quiet: bool) -> None:
        """Write a command's output to panel 6; show the panel, or just a toast when quiet."""
        if self.recording is not None:
            self.recording.command(line, ok, lines)
        self.output_panel.show(line, lines, ok)
        if quiet:
            self.notify("\n".join(lines), severity="information" if ok else "error")
        else:
            self.query_one(TabbedContent).active = "output-tab"

    def _background_output(self, output: BackgroundOutput) -> None:
        self.output_panel.background(output)

    # -- playground actions ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Member process actions need a playground; without one they show disabled."""
        if action in _PLAYGROUND_ACTIONS and self.playground is None:
            return None
        return True

    def _on_selected_member(self, operation: MemberOperation, doing: str, done: str) -> None:
        playground, name = self.playground, self.selected
        if playground is None or name is None:
            return
        self.notify(f"{doing} {name}…", timeout=2)
        self.cluster.mark_fault(name, f"{doing} {name}")
        self.run_worker(
            self._run_playground(operation(playground, name), f"{name} {done}"),
            group="playground",
        )

    async def _run_playground(self, operation: Awaitable[None], done: str) -> None:
        try:
            await operation
        except PlaygroundError as error:
            self.notify(str(error), title="playground", severity="error")
            return
        self.notify(done, timeout=3)
        self._read_process_states()

    def _after_confirming(self, question: str, act: Callable[[], None]) -> None:
        """Ask `question` (y/n) about the selected member; `act` only on y."""
        if self.playground is None or self.selected is None:
            return
        selected = self.selected

        def answered(yes: bool | None) -> None:
            if yes and self.selected == selected:
                act()

        self.push_screen(ConfirmDialog(question.format(name=selected)), callback=answered)

    def action_kill(self) -> None:
        """SIGKILL the selected member, once confirmed."""
        self._after_confirming(
            "Kill {name}? (SIGKILL, as a crash)",
            lambda: self._on_selected_member(Playground.kill, "killing", "killed"),
        )

    def action_restart(self) -> None:
        """Restart the selected member."""
        self._on_selected_member(Playground.restart, "restarting", "restarted")

    def action_freeze(self) -> None:
        """SIGSTOP the selected member (once confirmed), or SIGCONT it when it is paused."""
        if self.process_states.get(self.selected or "", "") == "paused":
            self._on_selected_member(Playground.resume, "resuming", "resumed")
            return
        self._after_confirming(
            "Stop {name}? (SIGSTOP: it freezes until Z again)",
            lambda: self._on_selected_member(Playground.pause, "pausing", "paused"),
        )

    def action_isolate(self) -> None:
        """Partition the selected member away from every other member, once confirmed."""
        self._after_confirming(
            "Isolate {name}? (partition it from every other member; H heals)",
            lambda: self._on_selected_member(_isolate, "partitioning off", "is partitioned off"),
        )

    def action_heal(self) -> None:
        """Remove every partition and slow link."""
        if self.playground is not None:
            for name in self.cluster.members:
                self.cluster.mark_fault(name, "heal")
            self.run_worker(
                self._run_playground(self.playground.heal(), "partitions healed"),
                group="playground",
            )

    # -- command palette ------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every dashboard action, then Textual's own commands."""
        for entry in ACTIONS:
            if self.check_action(entry.action.split("(")[0], ()):
                yield SystemCommand(entry.title, entry.help, _runner(self, entry.action))
        yield from super().get_system_commands(screen)


def _runner(app: DashboardApp, action: str) -> Callable[[], Awaitable[None]]:
    """A palette callback that runs `action` as its key binding would."""

    async def run() -> None:
        await app.run_action(action)

    return run


async def _isolate(playground: Playground, name: str) -> None:
    await playground.partition([[name]])


def _with_faults(state: str, name: str, playground: Playground) -> str:
    """A running member's state with the network faults it is under."""
    if state != "up":
        return state
    groups = playground.faults.partition
    for index, group in enumerate(groups):
        if name in group:
            return f"partitioned {chr(ord('A') + index)}"
    delay = playground.faults.slow.get(name)
    return f"slow {delay}ms" if delay else state


def dashboard_for(
    playground: Playground | None = None,
    endpoints: list[str] | None = None,
    etcd_endpoints: list[str] | None = None,
    story: Callable[[DashboardApp], Awaitable[None]] | None = None,
    tls: ClientTls | None = None,
    recording: RecordingWriter | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
) -> DashboardApp:
    """The dashboard of a real etcd (etcd_endpoints), of members of ours at `endpoints`, or
    of a playground, in that order of preference, dialing with `tls` (a TLS playground's own
    certificates by default). `story`, if given, runs once the dashboard is up (a demo told
    inside it). With `user` and `password` the dashboard's clients authenticate."""
    if etcd_endpoints:
        etcd = EtcdSource(etcd_endpoints, tls, user=user, password=password)
        members = [FollowedMember(address, "", address) for address in etcd.endpoints]
        return DashboardApp(
            etcd,
            members,
            command_endpoints=etcd_endpoints,
            tls=tls,
            user=user,
            password=password,
            door="grpc",
        )
    if endpoints:
        members = [FollowedMember(endpoint, "", endpoint) for endpoint in endpoints]
        source = NativeSource(endpoints, tls=tls, user=user, password=password)
        return DashboardApp(
            source, members, command_endpoints=endpoints, tls=tls, user=user, password=password
        )
    if playground is None:
        raise ValueError("the dashboard needs a playground, endpoints or etcd endpoints")
    members = [
        FollowedMember(name, name, record.native_endpoint)
        for name, record in playground.members.items()
    ]
    endpoints = playground.native_endpoints()
    tls = tls or playground.client_tls()
    source = NativeSource(
        endpoints, playground_member_endpoints(playground), tls, user=user, password=password
    )
    return DashboardApp(
        source,
        members,
        playground,
        endpoints,
        story=story,
        tls=tls,
        recording=recording,
        user=user,
        password=password,
    )


def run_dashboard(
    playground: Playground | None = None,
    endpoints: list[str] | None = None,
    etcd_endpoints: list[str] | None = None,
    tls: ClientTls | None = None,
    record: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
) -> int:
    """Run the dashboard in this terminal until the user quits; returns the exit status.
    `record` names a file to record the session to (a playground's only)."""
    names = list(playground.members) if playground is not None else []
    recording = RecordingWriter(record, names) if record else None
    try:
        app = dashboard_for(
            playground,
            endpoints,
            etcd_endpoints,
            tls=tls,
            recording=recording,
            user=user,
            password=password,
        )
        app.run()
    finally:
        if recording is not None:
            recording.close()
    return app.return_code or 0
