"""The demo runner: a demo script told against a fresh playground, checked as it goes.

`run_demo(path)` starts a new playground (real member processes), runs the script's steps in
order through the console's command language (`console.commands.Console`, one per client
session), prints a transcript, and stops the playground at the end whatever happens (unless
asked to keep it). The script's language is in `console.demo_script`.

The transcript reads like a shell session: narration as `#` lines, each command after `$`,
then what it printed. Background jobs (watches, keep-alives, a lock taken with &) print as
`[job]` lines when their output comes. Each member's event stream is followed, and its
elections and snapshots appear as `»` lines as they happen, so a newcomer sees the internal
steps; an expect can wait for them like for any background output.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import anyio.abc

from console.commands import BackgroundOutput, Console, Result
from console.demo_script import (
    WAITS,
    DemoError,
    DemoLine,
    DemoScript,
    Step,
    load_demo,
    read_step,
    sleep_seconds,
    substitute,
)
from console.recording import RecordingWriter
from console.text_stream import TextStream
from console.timeline import TraceEvent
from console.trace_window import TraceWindow
from node.client import Client, as_dict
from node.messages.errors import EtcdError
from node.messages.member_events import ALL_TRACE, APPLY, STATE_KINDS, TRACE_KINDS
from playground.errors import PlaygroundError
from playground.playground import Playground
from playground.status import MemberStatus

if TYPE_CHECKING:
    from console.tui.app import DashboardApp

__all__ = [
    "DemoError",
    "DemoFailed",
    "DemoRunner",
    "Transcript",
    "describe_event",
    "run_demo",
    "start_playground",
    "wait_for_enter",
]

EXPECT_TIMEOUT = 10.0
"""Seconds an expect waits for background output (a watch event, a lock taken) to match."""
WAIT_TIMEOUT = 30.0
"""Seconds a `wait` may take before the demo fails."""
MEMBER_SESSION_TIMEOUT = 2.0
"""Seconds a call through one member alone (`on MEMBER:`) may take: a minority fails fast."""
SETTLE_TIME = 0.1
"""Seconds background jobs get to print what a command caused (a watch event) before the next
command is shown, so that the transcript reads in order."""
RECONNECT_INTERVAL = 0.25
"""Seconds between attempts to follow the event stream of a member that is down."""
SUBSCRIBE_TIMEOUT = 3.0
RECORDING_CATCH_UP = 10.0
"""Seconds a recorded demo waits at its end for every member's last apply to be recorded."""
"""Seconds to wait for a new member's first event (each member sends one every second)."""
EVENT_MARK = "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}"
"""What starts a transcript line that tells a member event (an election, a snapshot)."""
_POLL_INTERVAL = 0.05
_WIDTH = 88


class DemoFailed(DemoError):
    """The story did not happen as the script says."""


class Transcript:
    """Where the story goes, as text: narration as # lines, commands after $, their output."""

    def __init__(self, out: TextStream) -> None:
        self.out = out

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def title(self, text: str) -> None:
        """The demo's title."""
        self._write([f"== {text} =="])

    def narrate(self, paragraph: str) -> None:
        """One paragraph of narration."""
        self._write(["", *(f"# {line}" for line in textwrap.wrap(paragraph, _WIDTH - 2))])

    def command(self, text: str) -> None:
        """A console command about to run."""
        self._write([f"$ {text}"])

    def prompt(self, text: str) -> None:
        """A command that runs once the presenter presses Enter (which ends the line)."""
        self.out.write(f"$ {text} ")
        self.out.flush()

    def script_step(self, text: str) -> None:
        """A step of the script's own (wait, sleep)."""
        self._write([f"... {text}"])

    def output(self, lines: list[str]) -> None:
        """What a command or a background job printed."""
        self._write(lines)

    def checked(self, found: str) -> None:
        """An expectation that held, with what it found."""
        self._write([f"  \N{CHECK MARK} {found}"])


def describe_event(
    member: str, kind: str, fields: dict[str, Any], names: dict[int, str]
) -> str | None:
    """A transcript line for a member event worth a newcomer's attention, or None."""
    if kind == "role":
        role, term = fields.get("role"), fields.get("term")
        if role == "leader":
            return f"{member} became the leader (term {term})"
        if role == "candidate":
            return f"{member} started an election (term {term})"
        if role == "pre_candidate":
            return f"{member} asks for pre-votes: would the others elect it? (still term {term})"
        if role == "follower":
            leader = fields.get("leader", 0)
            if not leader:
                return f"{member} is a follower with no leader (term {term})"
            return f"{member} follows {names.get(leader, f'{leader:x}')} (term {term})"
        return None
    if kind != "snapshot":
        return None
    action, index = fields.get("action"), fields.get("index")
    if action == "created":
        return f"{member} saved a snapshot at index {index} and compacted its raft log"
    if action == "received":
        sender = names.get(fields.get("peer", 0), "the leader")
        size = fields.get("bytes", 0)
        return f"{member} received a snapshot at index {index} from {sender} ({size} bytes)"
    if action == "restored":
        return f"{member} restored the snapshot at index {index}: it holds everything up to there"
    return None


@dataclass(slots=True)
class _LastOutput:
    """What the next expect checks: a command's output, and background output from `mark` on."""

    line: DemoLine
    what: str
    text: str
    mark: int
    error: str = ""
    """The command's error line, if it failed: an expect must match before the next command."""


class DemoRunner:
    """Runs a checked demo against a running playground, writing its transcript."""

    def __init__(
        self,
        script: DemoScript,
        playground: Playground,
        transcript: Transcript,
        *,
        step: Callable[[], Awaitable[None]] | None = None,
        expect_timeout: float = EXPECT_TIMEOUT,
        recording: RecordingWriter | None = None,
    ) -> None:
        self.script = script
        self.recording = recording
        """Where the session is recorded (every member event, trace included, and each
        command with its output), if it is."""
        self.playground = playground
        self.transcript = transcript
        self.step = step
        """Awaited before each command (--step waits for Enter)."""
        self.expect_timeout = expect_timeout
        self.variables: dict[str, str] = {}
        self._sessions: dict[str, Console] = {}
        self._trace_window = TraceWindow()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: anyio.abc.TaskGroup | None = None
        self._followed: set[str] = set()
        self._background: list[str] = []
        self._arrived = anyio.Event()
        self._last: _LastOutput | None = None
        self._window_start = 0
        """Where the background output that expects search begins: at the first command after
        the previous expect, so that consecutive expects share what came since."""
        self._checked = False
        self._narration: list[str] = []
        self._applied: dict[str, int] = {}
        """The last index each followed member's recorded apply events reached."""
        self._apply_recorded = anyio.Event()

    async def run(self) -> None:
        """Run every step in order; DemoFailed names the line where the story went wrong."""
        failure: DemoError | None = None
        async with anyio.create_task_group() as tasks, self._stack:
            self._tasks = tasks
            await self._follow_new_members()
            try:
                for line in self.script.lines:
                    await self._run_line(line)
                self._flush_narration()
                self._check_no_pending_error()
                await self._recording_caught_up()
            except DemoError as error:
                failure = error  # raised outside, where no task group wraps it in a group
            finally:
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _run_line(self, line: DemoLine) -> None:
        text = substitute(line.text, self.variables)
        step = read_step(text)
        name = step.command.name
        if name == "say":
            self._narration.append(step.text)
            return
        self._flush_narration()
        if name == "expect":
            await self._expect(line, step.text)
            return
        self._check_no_pending_error()
        if name in WAITS:
            await self._wait(line, step)
        elif name == "sleep":
            self.transcript.script_step(text)
            await anyio.sleep(sleep_seconds(step.command.args["duration"]))
        elif name == "login":
            await self._login(line, text, step)
        else:
            await self._run_command(line, text, step)
        await self._follow_new_members()

    def _flush_narration(self) -> None:
        if self._narration:
            self.transcript.narrate(" ".join(self._narration))
            self._narration = []

    def _check_no_pending_error(self) -> None:
        last = self._last
        if last is not None and last.error:
            raise DemoFailed(
                f"{self.script.where(last.line)}: `{last.what}` failed: {last.error} "
                "(a command that may fail is followed by an expect of its error)"
            )

    def _open_window(self) -> int:
        """Where the background output the expects after this command search begins."""
        if self._checked:
            self._window_start = len(self._background)
            self._checked = False
        return self._window_start

    # -- commands --------------------------------------------------------------------------------

    async def _run_command(self, line: DemoLine, text: str, step: Step) -> None:
        if any(console.jobs() for console in self._sessions.values()):
            await anyio.sleep(SETTLE_TIME)
        if self.step is None:
            self.transcript.command(text)
        else:
            self.transcript.prompt(text)
            await self.step()
        mark = self._open_window()
        console = await self._session(step.session)
        if isinstance(console, str):
            result = Result(False, [console])
        elif step.in_background:
            assert self._tasks is not None
            self._tasks.start_soon(self._run_in_background, console, step)
            result = Result(True, [])
        else:
            result = await console.execute(step.command)
        self.transcript.output(result.lines)
        if self.recording is not None:
            self.recording.command(text, result.ok, result.lines)
        self._last = _LastOutput(line, text, result.text, mark, "" if result.ok else result.text)

    async def _login(self, line: DemoLine, text: str, step: Step) -> None:
        """Open session `as NAME` as user NAME, authenticated with the password given, as
        etcdctl's --user NAME:PASSWORD: its requests carry the token Authenticate returned."""
        if self.step is None:
            self.transcript.command(text)
        else:
            self.transcript.prompt(text)
            await self.step()
        mark = self._open_window()
        name, _, password = step.command.args["name:password"].partition(":")
        session = f"as {name}"
        result = Result(True, [f"session {name}: authenticated as {name}"])
        if session in self._sessions:
            result = Result(False, [f"Error: session {name} is open already"])
        else:
            try:
                client = await Client.connect(
                    self.playground.native_endpoints(),
                    tls=self.playground.client_tls(),
                    user=name,
                    password=password,
                )
                await self._stack.enter_async_context(client)  # entering authenticates
            except* EtcdError as refused:
                result = Result(False, [f"Error: {_first(refused).message}"])
            except* OSError:
                result = Result(False, ["Error: cannot reach the cluster"])
            else:
                console = await self._stack.enter_async_context(
                    Console.open(client, self.playground, trace_window=self._trace_window)
                )
                console.on_background = lambda output: self._job_output(session, output)
                self._sessions[session] = console
        self.transcript.output(result.lines)
        if self.recording is not None:
            self.recording.command(text, result.ok, result.lines)
        self._last = _LastOutput(line, text, result.text, mark, "" if result.ok else result.text)

    async def _run_in_background(self, console: Console, step: Step) -> None:
        result = await console.execute(step.command)
        label = step.session.removeprefix("as ") or "main"
        self._report([f"[{label}] {text}".rstrip() for text in result.lines])

    async def _session(self, session: str) -> Console | str:
        """The Console of a session, connected on first use; or the error line if it cannot be."""
        console = self._sessions.get(session)
        if console is not None:
            return console
        kind, _, member = session.partition(" ")
        tls = self.playground.client_tls()
        try:
            if kind in ("on", "plain"):
                endpoints = [self.playground.member(member).native_endpoint]
                client = await Client.connect(
                    endpoints,
                    timeout=MEMBER_SESSION_TIMEOUT,
                    tls=tls if kind == "on" else None,
                )
            else:
                endpoints = self.playground.native_endpoints()
                client = await Client.connect(endpoints, tls=tls)
        except PlaygroundError as error:
            return f"Error: {error}"
        except (OSError, EtcdError):
            return f"Error: cannot reach the cluster: no member answers at {', '.join(endpoints)}"
        await self._stack.enter_async_context(client)
        console = await self._stack.enter_async_context(
            Console.open(client, self.playground, trace_window=self._trace_window)
        )
        console.on_background = lambda output: self._job_output(session, output)
        self._sessions[session] = console
        return console

    def _job_output(self, session: str, output: BackgroundOutput) -> None:
        who = session.removeprefix("as ")
        label = f"{who} {output.job.id}" if who else str(output.job.id)
        self._report([f"[{label}] {text}".rstrip() for text in output.lines])

    def _report(self, lines: list[str]) -> None:
        """Background output: shown now, and kept for the expects to search."""
        if lines:
            self._background.extend(lines)
            self.transcript.output(lines)
            self._arrived.set()
            self._arrived = anyio.Event()

    # -- expect ----------------------------------------------------------------------------------

    async def _expect(self, line: DemoLine, pattern_text: str) -> None:
        last = self._last
        assert last is not None  # load_demo refuses an expect before any command
        pattern = re.compile(pattern_text, re.MULTILINE)
        match = pattern.search(last.text)
        with anyio.move_on_after(self.expect_timeout):
            while match is None:
                arrived = self._arrived
                match = pattern.search("\n".join(self._background[last.mark :]))
                if match is None:
                    await arrived.wait()
        if match is None:
            raise DemoFailed(self._mismatch(line, pattern_text, last))
        self.variables.update({k: v for k, v in match.groupdict().items() if v is not None})
        found = [text for text in match[0].splitlines() if text.strip()]
        self.transcript.checked(" | ".join(found) if found else f"/{pattern_text}/")
        last.error = ""
        self._checked = True

    def _mismatch(self, line: DemoLine, pattern_text: str, last: _LastOutput) -> str:
        later = self._background[last.mark :]
        lines = [
            f"{self.script.where(line)}: expect {pattern_text}",
            f"  no match in the output of `{last.what}`:",
            *(f"    {text}" for text in last.text.splitlines() or ["(nothing)"]),
            f"  nor in what came after it within {self.expect_timeout:g} s"
            + (":" if later else " (nothing came)"),
            *(f"    {text}" for text in later),
        ]
        return "\n".join(lines)

    # -- waits -----------------------------------------------------------------------------------

    async def _wait(self, line: DemoLine, step: Step) -> None:
        command = step.command
        self.transcript.script_step(command.line)
        mark = self._open_window()
        check: Callable[[list[MemberStatus]], tuple[str, str]]
        if command.name == "wait leader":
            check = _leader_elected
        elif command.name == "wait healthy":
            check = _healthy
        else:
            check = _committed(command.args["n"])
        reason = ""
        with anyio.move_on_after(WAIT_TIMEOUT):
            while True:
                done, reason = check(await self.playground.statuses())
                if done:
                    self.transcript.output([done])
                    self._last = _LastOutput(line, command.line, done, mark)
                    return
                await anyio.sleep(_POLL_INTERVAL)
        where = self.script.where(line)
        raise DemoFailed(f"{where}: {command.line}: not within {WAIT_TIMEOUT:g} s ({reason})")

    # -- member events ---------------------------------------------------------------------------

    async def _follow_new_members(self) -> None:
        """Follow the event stream of each member not followed yet; return once subscribed."""
        assert self._tasks is not None
        subscriptions = []
        for name in self.playground.members:
            if name not in self._followed:
                self._followed.add(name)
                subscriptions.append(anyio.Event())
                self._tasks.start_soon(self._follow, name, subscriptions[-1])
        with anyio.move_on_after(SUBSCRIBE_TIMEOUT):
            for subscribed in subscriptions:
                await subscribed.wait()

    async def _follow(self, name: str, subscribed: anyio.Event) -> None:
        """Report member `name`'s elections and snapshots for as long as it is a member.

        `subscribed` is set at its first event (from then on the stream surely runs), or when
        the member cannot be reached.
        """
        kinds = None if self.recording is None else [*sorted(STATE_KINDS), ALL_TRACE]
        while name in self.playground.members:
            endpoint = self.playground.members[name].native_endpoint
            try:
                async with (
                    await Client.connect(
                        [endpoint],
                        timeout=MEMBER_SESSION_TIMEOUT,
                        tls=self.playground.client_tls(),
                    ) as client,
                    client.events(kinds) as events,
                ):
                    async for event in events:
                        subscribed.set()
                        fields = as_dict(event.fields)
                        if self.recording is not None:
                            recorded = dict(fields)
                            member = recorded.pop("member", name)
                            self.recording.write(
                                TraceEvent(member, event.time, event.kind, recorded)
                            )
                            if event.kind == APPLY:
                                self._applied[name] = int(fields.get("last_index", 0))
                                self._apply_recorded.set()
                        if event.kind not in TRACE_KINDS:
                            self._member_event(name, event.kind, fields)
            except* (OSError, EtcdError):
                pass  # down, or removed: try again while it is a member
            subscribed.set()
            await anyio.sleep(RECONNECT_INTERVAL)

    async def _recording_caught_up(self) -> None:
        """Before a recording closes, wait (at most RECORDING_CATCH_UP s) until it holds every
        running member's apply of all that is committed: a command returns once a quorum has
        applied, and the replay should end with every member's last apply, not with whichever
        had been reported by then."""
        if self.recording is None:
            return
        with anyio.move_on_after(RECORDING_CATCH_UP):
            statuses = await self.playground.statuses()
            committed = max((status.raft_index for status in statuses), default=0)
            running = [status.name for status in statuses if status.role]
            while any(self._applied.get(name, 0) < committed for name in running):
                self._apply_recorded = anyio.Event()
                await self._apply_recorded.wait()

    def _member_event(self, name: str, kind: str, fields: dict[str, Any]) -> None:
        names = {record.id: other for other, record in self.playground.members.items()}
        text = describe_event(name, kind, fields, names)
        if text is not None:
            self._report([f"{EVENT_MARK} {text}"])


def _leader_of(statuses: list[MemberStatus]) -> MemberStatus | None:
    """The member that says it leads, in the highest term."""
    leaders = [status for status in statuses if status.role == "leader"]
    return max(leaders, key=lambda status: status.term, default=None)


def _leader_elected(statuses: list[MemberStatus]) -> tuple[str, str]:
    """("n2 is the leader (term 3)", "") once a majority of voters follow it; else ("", why)."""
    leader = _leader_of(statuses)
    if leader is None:
        return "", "no member leads"
    voters = [status for status in statuses if status.role != "learner"]
    following = [s for s in voters if s.leader == leader.id and s.term == leader.term]
    if 2 * len(following) <= len(voters):
        return "", f"{leader.name} leads in term {leader.term} but no majority follows it"
    return f"{leader.name} is the leader (term {leader.term})", ""


def _healthy(statuses: list[MemberStatus]) -> tuple[str, str]:
    """A line once every member runs, follows one leader and has applied what it committed."""
    for status in statuses:
        if status.state != "up":
            return "", f"{status.name} is {status.state}"
        if not status.role:
            return "", f"{status.name} does not answer: {status.error}"
    leader = _leader_of(statuses)
    if leader is None:
        return "", "no member leads"
    for status in statuses:
        if status.leader != leader.id or status.term != leader.term:
            return "", f"{status.name} does not follow {leader.name} in term {leader.term}"
        if status.applied_index < leader.raft_index:
            return "", f"{status.name} applied {status.applied_index} of {leader.raft_index}"
    names = ", ".join(status.name for status in statuses)
    line = (
        f"healthy: {names} follow {leader.name} (term {leader.term}) "
        f"and have applied index {leader.raft_index}"
    )
    return line, ""


def _committed(index: int) -> Callable[[list[MemberStatus]], tuple[str, str]]:
    """A check that holds once every running member has committed and applied `index`."""

    def check(statuses: list[MemberStatus]) -> tuple[str, str]:
        running = [status for status in statuses if status.state == "up"]
        for status in running:
            if not status.role:
                return "", f"{status.name} does not answer: {status.error}"
            if min(status.raft_index, status.applied_index) < index:
                return "", f"{status.name} applied {status.applied_index} of {index}"
        names = ", ".join(status.name for status in running)
        return f"{names} have committed and applied index {index}", ""

    return check


def _first(group: BaseExceptionGroup[EtcdError]) -> EtcdError:
    """The first error of a group (a client's task group wraps what entering it raised)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, EtcdError)
    return error


async def start_playground(script: DemoScript, playground: Playground) -> str:
    """Start the new `playground` as the script's header asks; returns the leader's name."""
    if playground.record_path.exists():
        raise DemoError(
            f"{playground.directory} already holds a playground: a demo needs a fresh one"
        )
    leader = await playground.start()
    if not script.member_flags:
        return leader
    owned = {word for word in next(iter(playground.members.values())).args if word[:2] == "--"}
    for flag in script.member_flags:
        name = flag.partition("=")[0]
        if name in owned:
            raise DemoError(f"{script.path}: the playground sets {name} itself")
    # The playground takes no extra member flags: add them to its records (stop saves them)
    # and start the members again.
    for record in playground.members.values():
        record.args += script.member_flags
    await playground.stop()
    return await playground.start()


async def run_demo(
    path: str | Path,
    *,
    out: TextIO | None = None,
    directory: str | Path | None = None,
    step: Callable[[], Awaitable[None]] | None = None,
    keep: bool = False,
    heartbeat_interval_ms: int = 100,
    election_timeout_ms: int = 1000,
    expect_timeout: float = EXPECT_TIMEOUT,
    record: str | Path | None = None,
) -> None:
    """Run the demo at `path` against a fresh playground, printing its transcript to `out`
    (standard output if None), and recording the session to `record` if given.

    The playground lives in `directory` (a new temporary one if None). It is stopped at the
    end whatever happens, unless `keep`. DemoError (DemoFailed) says where the demo went wrong.
    """
    script = load_demo(path)
    transcript = Transcript(sys.stdout if out is None else out)
    temporary = directory is None
    where = Path(tempfile.mkdtemp(prefix="etcd-console-demo-") if directory is None else directory)
    playground = Playground(
        where,
        script.members,
        heartbeat_interval_ms=heartbeat_interval_ms,
        election_timeout_ms=election_timeout_ms,
        tls=script.tls or None,
        auth=script.auth or None,
    )
    try:
        transcript.title(script.title)
        leader = await start_playground(script, playground)
        members = ", ".join(playground.members)
        transcript.output([f"a fresh playground: {members} in {where}; {leader} leads"])
        recording = RecordingWriter(record, playground.members) if record else None
        try:
            runner = DemoRunner(
                script,
                playground,
                transcript,
                step=step,
                expect_timeout=expect_timeout,
                recording=recording,
            )
            await runner.run()
        finally:
            if recording is not None:
                recording.close()
    finally:
        if keep:
            transcript.output(
                [
                    "",
                    f"the playground keeps running: etcd-console repl --dir {where}",
                    f"stop it with: etcd-console down --dir {where}",
                ]
            )
        else:
            with anyio.CancelScope(shield=True):
                await playground.stop()
            if temporary:
                shutil.rmtree(where, ignore_errors=True)


class _LineSink:
    """A text stream that hands each finished line to `emit` (the dashboard's output panel)."""

    def __init__(self, emit: Callable[[str], object]) -> None:
        self._emit = emit
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        """Nothing is held back but a line still being written."""


def demo_dashboard(script: DemoScript, playground: Playground) -> DashboardApp:
    """The dashboard of a started playground that tells `script` once it is up: the
    transcript fills the Output panel (6); `app.demo_failures` collects a failure."""
    from rich.text import Text

    from console.tui.app import dashboard_for

    failures: list[Exception] = []

    async def story(app: DashboardApp) -> None:
        app.action_show_panel(6)
        transcript = Transcript(_LineSink(app.output_panel.lines.write))
        transcript.title(script.title)
        try:
            await DemoRunner(script, playground, transcript).run()
        except DemoError as error:
            failures.append(error)
            app.output_panel.lines.write(Text(f"demo failed: {error}", style="bold red"))
            app.notify(f"demo failed: {error}", severity="error", timeout=30)
        else:
            app.notify("the demo is over: press q to leave", timeout=30)

    app = dashboard_for(playground, story=story)
    app.demo_failures = failures
    return app


def run_demo_in_dashboard(
    path: str | Path,
    *,
    directory: str | Path | None = None,
    keep: bool = False,
    heartbeat_interval_ms: int = 100,
    election_timeout_ms: int = 1000,
) -> int:
    """Tell the demo at `path` inside the dashboard, so an audience watches the cluster react
    while the transcript fills the Output panel. The dashboard stays open when the story
    ends (q leaves); the playground is stopped then, unless `keep`. 1 if the demo failed."""
    script = load_demo(path)
    where = Path(directory or tempfile.mkdtemp(prefix="etcd-console-demo-"))
    playground = Playground(
        where,
        script.members,
        heartbeat_interval_ms=heartbeat_interval_ms,
        election_timeout_ms=election_timeout_ms,
        tls=script.tls or None,
        auth=script.auth or None,
    )
    try:
        anyio.run(start_playground, script, playground)
        app = demo_dashboard(script, playground)
        app.run()
    finally:
        if not keep:
            with contextlib.suppress(PlaygroundError):
                anyio.run(playground.stop)
            if directory is None:
                shutil.rmtree(where, ignore_errors=True)
    return 1 if app.demo_failures else 0


async def wait_for_enter() -> None:
    """Wait until the presenter presses Enter (--step)."""
    await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
