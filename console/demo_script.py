"""Demo scripts (`demos/*.demo`): their language, and reading and checking one before it runs.

A demo script is the console's command language, one command a line, plus verbs of its own:

    say TEXT              narration; consecutive says form one paragraph
    expect PATTERN        a regex (Python syntax, ^ and $ match at each line) searched in the
                          last command's output, else in what background jobs and members
                          reported since the previous expect, waiting a while for it; its named
                          groups (?P<name>...) set variables, used later as ${name} (and a
                          number as ${name+1}: the revision after the one a read saw)
    wait leader           until a majority of the voters follow one leader
    wait healthy          until every member runs, follows one leader and has applied its commits
    wait commit N         until every running member has committed and applied raft index N
    sleep DURATION        500ms, 2s, 1.5s (at most a minute)
    as NAME: COMMAND      COMMAND in client session NAME (a client of its own: locks, elections)
    login NAME:PASSWORD   opens session NAME as user NAME, authenticated with PASSWORD (etcdctl's
                          --user NAME:PASSWORD); `as NAME:` then runs as that user
    on MEMBER: COMMAND    COMMAND through a client of that member alone (a minority, a learner)
    plain MEMBER: COMMAND COMMAND through a client of that member that dials without TLS
    COMMAND &             the script goes on without waiting for COMMAND (a lock that blocks);
                          what it prints comes later, marked [NAME] (or [main])

The first comment line is the title. `# playground: --members=N --snapshot-count=M` (any
etcd-node flag, as --name=value; and `--tls`, `--auth` as `play` takes them) shapes the
playground, among the first comment lines; other
`#` lines are comments. A command that fails must be followed (narration aside) by an expect of
its error, or the demo fails there.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from console.command_grammar import Arg, Command, CommandError, CommandSpec
from console.command_specs import GRAMMAR
from playground.playground import DEFAULT_MEMBERS, MAX_MEMBERS, MIN_MEMBERS

DEMO_SUFFIX = ".demo"
MAX_SLEEP = 60.0
"""Seconds a sleep may last: a longer pause stands in for a condition that `wait` should name."""

_DEMO = "demo scripts"
DEMO_SPECS = (
    CommandSpec("say", "Narrates: the story's next sentence", _DEMO, (Arg("TEXT", rest=True),)),
    CommandSpec(
        "expect",
        "Checks the last command's output (or what came after it) against a regex",
        _DEMO,
        (Arg("PATTERN", rest=True),),
    ),
    CommandSpec("wait leader", "Waits until a majority of the voters follow one leader", _DEMO),
    CommandSpec(
        "wait healthy", "Waits until every member follows one leader and has applied", _DEMO
    ),
    CommandSpec(
        "wait commit",
        "Waits until every running member has committed and applied raft index N",
        _DEMO,
        (Arg("N", "int"),),
    ),
    CommandSpec("sleep", "Pauses the story (500ms, 2s)", _DEMO, (Arg("DURATION"),)),
    CommandSpec(
        "as", "Runs a command in another client session", _DEMO, (Arg("NAME:COMMAND", rest=True),)
    ),
    CommandSpec(
        "login",
        "Opens client session NAME as user NAME, authenticated with PASSWORD",
        _DEMO,
        (Arg("NAME:PASSWORD"),),
    ),
    CommandSpec(
        "on", "Runs a command through one member alone", _DEMO, (Arg("MEMBER:COMMAND", rest=True),)
    ),
    CommandSpec(
        "plain",
        "Runs a command through one member alone, dialing without TLS",
        _DEMO,
        (Arg("MEMBER:COMMAND", rest=True),),
    ),
)
DEMO_GRAMMAR = GRAMMAR.extended(DEMO_SPECS)
"""The console's commands and the demo verbs."""
WAITS = ("wait leader", "wait healthy", "wait commit")

_DEMO_VERBS = {spec.name for spec in DEMO_SPECS}
_SESSION_VERBS = ("as", "on", "plain")
_VARIABLE = re.compile(r"\$\{(\w+)(?:\+(\d+))?\}")
_DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s)?$")
_PLAYGROUND_HEADER = re.compile(r"^#\s*playground:(?P<flags>.*)$")
_IN_BACKGROUND = re.compile(r"\s+&$")
_SECURITY_FLAGS = ("--tls", "--auth")
"""Playground flags of the header that take no value, as `play` takes them."""


class DemoError(Exception):
    """A demo that cannot be read or whose story did not happen: the message names file:line."""


@dataclass(slots=True)
class DemoLine:
    """One step of a script as written: its line number and text."""

    number: int
    text: str


@dataclass(slots=True)
class DemoScript:
    """A checked demo: its title, the playground it wants, and its steps."""

    path: Path
    title: str
    members: int
    member_flags: list[str]
    """etcd-node flags (--name=value) every starting member gets, from `# playground:`."""
    lines: list[DemoLine]
    tls: bool = False
    """`# playground: --tls`: mutual TLS, as `play --tls`."""
    auth: bool = False
    """`# playground: --auth`: auth on, as `play --tls --auth`."""

    def where(self, line: DemoLine) -> str:
        """file:line, for messages."""
        return f"{self.path}:{line.number}"


@dataclass(slots=True)
class Step:
    """One line ready to run: its command, the session it runs in, and whether to wait for it."""

    command: Command
    session: str = ""
    """"" for the main session, else "as NAME" or "on MEMBER"."""
    in_background: bool = False

    @property
    def text(self) -> str:
        """The free text of a demo verb (say, expect); empty for other commands."""
        if self.command.name not in ("say", "expect"):
            return ""
        (value,) = self.command.args.values()
        return value


def load_demo(path: str | Path) -> DemoScript:
    """Read a demo and check it: every line parses, every ${variable} is set before its use."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DemoError(f"cannot read {path}: {error.strerror}") from None
    title, members = "", DEFAULT_MEMBERS
    member_flags: list[str] = []
    security: set[str] = set()
    lines: list[DemoLine] = []
    in_header = True
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped.startswith("#"):
            in_header = in_header and not stripped
            if stripped:
                lines.append(DemoLine(number, stripped))
            continue
        header = _PLAYGROUND_HEADER.match(stripped)
        if header is not None:
            if not in_header:
                raise DemoError(f"{path}:{number}: # playground: belongs among the first lines")
            members, member_flags, security = _playground_flags(
                header["flags"], f"{path}:{number}"
            )
        elif in_header and not title:
            title = stripped.lstrip("#").strip()
    script = DemoScript(
        path, title or path.stem, members, member_flags, lines,
        tls="--tls" in security, auth="--auth" in security,
    )  # fmt: skip
    _check(script)
    return script


def _playground_flags(text: str, where: str) -> tuple[int, list[str], set[str]]:
    """The header's member count, etcd-node flags, and which of --tls and --auth it gives."""
    members, flags, security = DEFAULT_MEMBERS, [], set()
    for word in shlex.split(text):
        if word in _SECURITY_FLAGS:
            security.add(word)
            continue
        name, equals, value = word.partition("=")
        if not name.startswith("--") or not equals or not value:
            raise DemoError(f"{where}: write playground flags as --name=value, not {word!r}")
        if name != "--members":
            flags.append(word)
        elif value.isdigit() and MIN_MEMBERS <= int(value) <= MAX_MEMBERS:
            members = int(value)
        else:
            raise DemoError(f"{where}: --members must be between {MIN_MEMBERS} and {MAX_MEMBERS}")
    return members, flags, security


def _check(script: DemoScript) -> None:
    """Parse every line now, so that a typo fails before any member starts."""
    defined: set[str] = set()
    ran_a_command = False
    for line in script.lines:
        where = script.where(line)
        for name, _ in _VARIABLE.findall(line.text):
            if name not in defined:
                raise DemoError(f"{where}: ${{{name}}} is not set by an expect before this line")
        # a variable stands for one word, and "1" parses as a name, a number and a hex ID
        try:
            step = read_step(_VARIABLE.sub("1", line.text))
        except CommandError as error:
            raise DemoError(f"{where}: {error}") from None
        name = step.command.name
        if name == "expect":
            if not ran_a_command:
                raise DemoError(f"{where}: expect checks a command's output: run one before it")
            try:
                defined.update(re.compile(step.text).groupindex)
            except re.error as error:
                raise DemoError(f"{where}: expect takes a regular expression: {error}") from None
        elif name == "sleep":
            try:
                sleep_seconds(step.command.args["duration"])
            except ValueError as error:
                raise DemoError(f"{where}: {error}") from None
        ran_a_command = ran_a_command or name != "say"


def read_step(text: str) -> Step:
    """The step a line (its variables substituted) holds; CommandError if it is not one."""
    in_background = _IN_BACKGROUND.search(text) is not None
    command = DEMO_GRAMMAR.parse(_IN_BACKGROUND.sub("", text))
    session = ""
    if command.name in _SESSION_VERBS:
        (target,) = command.args.values()
        who, colon, rest = (target or "").partition(":")
        if not colon or len(who.split()) != 1 or not rest.strip():
            raise CommandError(f"write {command.name} NAME: COMMAND, not {command.line!r}")
        session, command = f"{command.name} {who.strip()}", GRAMMAR.parse(rest.strip())
    elif command.name == "login" and ":" not in command.args["name:password"]:
        raise CommandError(f"write login NAME:PASSWORD, not {command.line!r}")
    elif command.name in _DEMO_VERBS and in_background:
        raise CommandError(f"{command.name} is the script's own: it does not run with &")
    if command.name == "txn" and command.txn is None:
        raise CommandError("a demo writes txn on one line: txn COMPARES : SUCCESS [: FAILURE]")
    return Step(command, session, in_background)


def substitute(text: str, variables: dict[str, str]) -> str:
    """The line with each ${name} replaced; in an expect's pattern it stands for its text.

    ${name+N} is the variable's number plus N (the revision after the one a read saw).
    """
    as_text = re.escape if text.startswith("expect") else str

    def value(match: re.Match[str]) -> str:
        name, offset = match[1], match[2]
        if offset is None:
            return as_text(variables[name])
        try:
            return str(int(variables[name]) + int(offset))
        except ValueError:
            raise DemoError(f"${{{name}+{offset}}}: {variables[name]!r} is not a number") from None

    return _VARIABLE.sub(value, text)


def sleep_seconds(duration: str) -> float:
    """The seconds of a sleep's DURATION (500ms, 2s, 1.5); ValueError in words if it is not one."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"sleep takes a duration such as 500ms or 2s, not {duration!r}")
    seconds = float(match["number"]) / (1000 if match["unit"] == "ms" else 1)
    if seconds > MAX_SLEEP:
        raise ValueError(f"sleep is at most {MAX_SLEEP:g}s: wait for a condition instead")
    return seconds
