"""The grammar of the console's command language and the parser of one command line.

A line is a verb (`get`, or two words for a group such as `lease grant`), then its arguments
and flags split as a POSIX shell splits words (quotes group, backslashes escape). Flags are
`--name=value`, `--name value` or `--name` for a switch, anywhere after the verb as cobra
takes them; `--` ends the flags. Every command takes `-w/--write-out simple|json|table`.
Commands whose only argument is free text (`help lease grant`, `partition n1,n2 / n3`) get
the rest of the line verbatim. `txn` is special: no argument asks for the interactive form,
else the rest is the one-line form of `console.txn_syntax`.

A `Grammar` is a set of `CommandSpec`s; `Grammar.extended` adds verbs (the demo runner's
`say`, `expect`, ...) to a copy, so one parser serves every front end.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from console.txn_syntax import TxnSyntaxError, parse_compare, split_one_line_txn

ArgKind = Literal["key", "value", "text", "int", "lease", "member", "job", "file", "command"]
"""What a positional argument holds (and so what completes it)."""

FlagKind = Literal["switch", "int", "text", "lease", "choice"]

TXN_OPS = ("get", "put", "del")
"""The commands a txn may run in its success and failure branches."""


class CommandError(Exception):
    """A line that is not a valid command; the message is one line meant for the user."""


@dataclass(frozen=True, slots=True)
class Arg:
    """A positional argument, named as usage shows it (KEY, [END])."""

    name: str
    kind: ArgKind = "text"
    optional: bool = False
    rest: bool = False
    """It takes the rest of the line verbatim (no flags, no shell quoting)."""

    @property
    def field(self) -> str:
        """The name it has in `Command.args`."""
        return self.name.lower().replace("-", "_")

    @property
    def usage(self) -> str:
        """How usage lines show it."""
        return f"[{self.name}]" if self.optional else self.name


@dataclass(frozen=True, slots=True)
class Flag:
    """A flag with its etcdctl name, what it holds, and its default."""

    name: str
    help: str
    kind: FlagKind = "switch"
    default: Any = False
    choices: tuple[str, ...] = ()
    short: str = ""
    metavar: str = "VALUE"

    @property
    def field(self) -> str:
        """The name it has in `Command.flags`."""
        return self.name.replace("-", "_")

    @property
    def usage(self) -> str:
        """How usage lines show it: --prefix, --rev=N, --order=ASCEND|DESCEND."""
        if self.kind == "switch":
            return f"--{self.name}"
        if self.kind == "choice":
            return f"--{self.name}={'|'.join(self.choices)}"
        return f"--{self.name}={self.metavar}"


WRITE_OUT = Flag(
    "write-out",
    "output format: simple (etcdctl's), json (etcd's JSON) or table",
    kind="choice",
    default=None,
    choices=("simple", "json", "table"),
    short="w",
)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command of the language: its name, arguments, flags and help."""

    name: str
    summary: str
    group: str
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    aliases: tuple[str, ...] = ()
    check: Callable[[Command], None] | None = None
    """Extra validation of a parsed command; raises CommandError."""

    @property
    def takes_raw_text(self) -> bool:
        """Whether its argument is the rest of the line, verbatim (no flags)."""
        return any(arg.rest for arg in self.args)

    @property
    def all_flags(self) -> tuple[Flag, ...]:
        """Its flags and the global -w/--write-out."""
        return self.flags if self.takes_raw_text else (*self.flags, WRITE_OUT)

    @property
    def usage(self) -> str:
        """One usage line: name, arguments, flags."""
        parts = [self.name, *(arg.usage for arg in self.args)]
        parts += [f"[{flag.usage}]" for flag in self.flags]
        return " ".join(parts)


@dataclass(slots=True)
class TxnRequest:
    """A transaction as the user wrote it: compare bodies and the put/get/del commands to run."""

    compares: list[dict[str, Any]]
    success: list[Command]
    failure: list[Command]


@dataclass(slots=True)
class Command:
    """A parsed command line: arguments and flags by field name (defaults filled in)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    write_out: str | None = None
    """simple, json or table when -w was given; None leaves it to the console."""
    txn: TxnRequest | None = None
    """A txn's parts; None for an interactive txn whose parts are still to be asked."""
    line: str = ""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the word being typed can be, for completion."""

    kind: Literal["command", "subcommand", "flag", "flag-value", "argument", "nothing"]
    word: str
    """The part of the word typed so far."""
    spec: CommandSpec | None = None
    arg: Arg | None = None
    flag: Flag | None = None
    group: str = ""


_LEADING_TXN_FLAG = re.compile(r"^\s*(?:(?:-w|--write-out)(?:=|\s+)(?P<out>\S+)|-i|--interactive)")


class Grammar:
    """A set of commands and the parser of their lines."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._by_name: dict[str, CommandSpec] = {}
        for spec in specs:
            for name in (spec.name, *spec.aliases):
                if name in self._by_name:
                    raise ValueError(f"two commands are named {name!r}")
                self._by_name[name] = spec
            self._specs[spec.name] = spec
        self._groups: dict[str, list[str]] = {}
        for name in self._by_name:
            verb, _, sub = name.partition(" ")
            if sub:
                self._groups.setdefault(verb, []).append(sub)

    def extended(self, specs: Iterable[CommandSpec]) -> Grammar:
        """A grammar with these commands added (demo verbs, for instance)."""
        return Grammar([*self._specs.values(), *specs])

    def specs(self) -> list[CommandSpec]:
        """Every command, in the order they were given."""
        return list(self._specs.values())

    def spec(self, name: str) -> CommandSpec:
        """The command named `name` (or an alias of it); CommandError with a hint if none."""
        spec = self._by_name.get(" ".join(name.split()))
        if spec is None:
            raise CommandError(f'unknown command "{name}"{self._hint(name)}')
        return spec

    def verbs(self) -> list[str]:
        """The first words of every command and group."""
        return sorted({name.partition(" ")[0] for name in self._by_name})

    def subcommands(self, group: str) -> list[str]:
        """The second words of group `group` (lease: grant, revoke, ...)."""
        return list(self._groups.get(group, ()))

    # -- one line ------------------------------------------------------------------------------

    def parse(self, line: str) -> Command:
        """The command on `line`; CommandError with one clear line if it is not one."""
        text = line.strip()
        if not text:
            raise CommandError("empty command: help lists the commands")
        verb, rest = _first_word(text)
        if verb == "txn" and "txn" in self._specs:
            return self._parse_txn_line(rest, text)
        spec, rest = self._resolve(verb, rest)
        if spec.takes_raw_text:
            return self._parse_raw(spec, rest, text)
        positional, flags, write_out = self._read_flags(spec, _split_words(rest))
        command = Command(spec.name, self._bind(spec, positional), flags, write_out, line=text)
        if spec.check is not None:
            spec.check(command)
        return command

    def _resolve(self, verb: str, rest: str) -> tuple[CommandSpec, str]:
        spec = self._by_name.get(verb)
        if spec is not None:
            return spec, rest
        subs = self._groups.get(verb)
        if subs is None:
            raise CommandError(f'unknown command "{verb}"{self._hint(verb)}')
        sub, rest = _first_word(rest)
        if not sub:
            raise CommandError(f"{verb} needs a subcommand: {', '.join(subs)}")
        spec = self._by_name.get(f"{verb} {sub}")
        if spec is None:
            full_names = [f"{verb} {name}" for name in subs]
            hint = _did_you_mean(f"{verb} {sub}", full_names) or f": {verb} has {', '.join(subs)}"
            raise CommandError(f'unknown command "{verb} {sub}"{hint}')
        return spec, rest

    def _hint(self, word: str) -> str:
        candidates = [*self._by_name, *self._groups]
        return _did_you_mean(word, candidates) or ": help lists the commands"

    def _parse_raw(self, spec: CommandSpec, rest: str, text: str) -> Command:
        (arg,) = spec.args
        if not rest and not arg.optional:
            raise CommandError(f"{spec.name} needs {arg.name}")
        return Command(spec.name, {arg.field: rest or None}, line=text)

    def _read_flags(
        self, spec: CommandSpec, words: list[str]
    ) -> tuple[list[str], dict[str, Any], str | None]:
        flags = {flag.field: flag.default for flag in spec.flags}
        by_name = {flag.name: flag for flag in spec.all_flags}
        by_short = {flag.short: flag for flag in spec.all_flags if flag.short}
        positional: list[str] = []
        write_out: str | None = None
        words = list(words)
        only_positional = False
        while words:
            word = words.pop(0)
            if only_positional or word == "-" or not word.startswith("-"):
                positional.append(word)
                continue
            if word == "--":
                only_positional = True
                continue
            if word.startswith("--"):
                name, equals, value = word[2:].partition("=")
                flag = by_name.get(name)
                if flag is None:
                    hint = _did_you_mean(f"--{name}", [f"--{n}" for n in by_name], quote="")
                    raise CommandError(f"unknown flag: --{name}{hint}")
            else:
                flag = by_short.get(word[1])
                if flag is None:
                    raise CommandError(f"unknown shorthand flag: '{word[1]}' in {word}")
                value = word[2:].removeprefix("=")
                equals = "=" if value else ""
            if flag.kind == "switch":
                converted: Any = _switch_value(flag, value) if equals else True
            else:
                if not equals:
                    if not words:
                        raise CommandError(f"flag needs an argument: --{flag.name}")
                    value = words.pop(0)
                converted = _flag_value(flag, value)
            if flag is WRITE_OUT:
                write_out = converted
            else:
                flags[flag.field] = converted
        return positional, flags, write_out

    def _bind(self, spec: CommandSpec, words: list[str]) -> dict[str, Any]:
        required = sum(1 for arg in spec.args if not arg.optional)
        if not required <= len(words) <= len(spec.args):
            count = f"{len(words)} argument{'' if len(words) == 1 else 's'}"
            if not spec.args:
                raise CommandError(f"{spec.name} takes no arguments, got {count}")
            wanted = " ".join(arg.usage for arg in spec.args)
            raise CommandError(f"{spec.name} needs {wanted}, got {count}")
        args: dict[str, Any] = {arg.field: None for arg in spec.args}
        for arg, word in zip(spec.args, words, strict=False):
            args[arg.field] = _arg_value(arg, word)
        return args

    # -- transactions --------------------------------------------------------------------------

    def _parse_txn_line(self, rest: str, text: str) -> Command:
        write_out: str | None = None
        while match := _LEADING_TXN_FLAG.match(rest):
            if match["out"] is not None:
                write_out = _flag_value(WRITE_OUT, match["out"])
            rest = rest[match.end() :]
        if not rest.strip():
            return Command("txn", flags={"interactive": True}, write_out=write_out, line=text)
        try:
            compares, success, failure = split_one_line_txn(rest)
        except TxnSyntaxError as error:
            raise CommandError(str(error)) from None
        txn = self.parse_txn(compares, success, failure)
        return Command("txn", flags={"interactive": False}, write_out=write_out, txn=txn, line=text)

    def parse_compare(self, line: str) -> dict[str, Any]:
        """One compare line of a txn, as a Compare body."""
        try:
            return parse_compare(line)
        except (TxnSyntaxError, ValueError) as error:
            raise CommandError(str(error)) from None

    def parse_txn_op(self, line: str) -> Command:
        """One request line of a txn: a get, put or del command."""
        try:
            command = self.parse(line)
        except CommandError as error:
            if line.split()[:1] and line.split()[0] in TXN_OPS:
                raise
            raise CommandError(f"invalid txn request: {line.strip()}") from error
        if command.name not in TXN_OPS:
            raise CommandError(f"invalid txn request: {line.strip()}")
        return command

    def parse_txn(
        self, compares: Iterable[str], success: Iterable[str], failure: Iterable[str]
    ) -> TxnRequest:
        """A txn from its three parts, each a list of lines as `txn -i` reads them."""
        return TxnRequest(
            [self.parse_compare(line) for line in compares],
            [self.parse_txn_op(line) for line in success],
            [self.parse_txn_op(line) for line in failure],
        )

    # -- completion ----------------------------------------------------------------------------

    def expects(self, text_before_cursor: str) -> Expectation:
        """What the word under the cursor is: a command, a flag, which argument, ..."""
        text = text_before_cursor
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        if not text or text[-1].isspace():
            current, done = "", words
        else:
            current, done = (words[-1] if words else ""), words[:-1]
        if not done:
            return Expectation("command", current)
        verb = done[0]
        if verb not in self._by_name and verb in self._groups:
            if len(done) == 1:
                return Expectation("subcommand", current, group=verb)
            spec = self._by_name.get(f"{verb} {done[1]}")
            rest = done[2:]
        else:
            spec = self._by_name.get(verb)
            rest = done[1:]
        if spec is None:
            return Expectation("nothing", current)
        if spec.takes_raw_text:
            if spec.args[0].kind == "command" and not rest:
                return Expectation("argument", current, spec, arg=spec.args[0])
            return Expectation("nothing", current, spec, arg=spec.args[0])
        flags = {flag.name: flag for flag in spec.all_flags}
        shorts = {flag.short: flag for flag in spec.all_flags if flag.short}
        if current.startswith("-"):
            name, equals, _ = current.lstrip("-").partition("=")
            flag = flags.get(name) if current.startswith("--") else shorts.get(name[:1])
            if equals and flag is not None:
                return Expectation("flag-value", current, spec, flag=flag)
            return Expectation("flag", current, spec)
        position = 0
        pending: Flag | None = None
        for word in rest:
            if pending is not None:
                pending = None
            elif word.startswith("--") and "=" not in word:
                flag = flags.get(word[2:])
                pending = flag if flag is not None and flag.kind != "switch" else None
            elif word.startswith("-") and len(word) == 2:
                flag = shorts.get(word[1])
                pending = flag if flag is not None and flag.kind != "switch" else None
            elif not word.startswith("-"):
                position += 1
        if pending is not None:
            return Expectation("flag-value", current, spec, flag=pending)
        if position < len(spec.args):
            return Expectation("argument", current, spec, arg=spec.args[position])
        return Expectation("nothing", current, spec)


def _first_word(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        raise CommandError(f"unterminated quote in: {text}") from None


def _did_you_mean(word: str, candidates: Iterable[str], quote: str = '"') -> str:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f": did you mean {quote}{matches[0]}{quote}?" if matches else ""


def _switch_value(flag: Flag, value: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise CommandError(f'invalid argument "{value}" for "--{flag.name}" flag: not true or false')


def _flag_value(flag: Flag, value: str) -> Any:
    if flag.kind == "int":
        try:
            return int(value)
        except ValueError:
            raise CommandError(
                f'invalid argument "{value}" for "--{flag.name}" flag: not an integer'
            ) from None
    if flag.kind == "lease":
        return parse_hex_id(value, "lease")
    if flag.kind == "choice":
        for choice in flag.choices:
            if choice.lower() == value.lower():
                return choice
        raise CommandError(
            f'invalid argument "{value}" for "--{flag.name}" flag: '
            f"choose one of {', '.join(flag.choices)}"
        )
    return value


def _arg_value(arg: Arg, word: str) -> Any:
    if arg.kind in ("int", "job"):
        try:
            return int(word)
        except ValueError:
            raise CommandError(f'invalid {arg.name} "{word}": not an integer') from None
    if arg.kind == "lease":
        return parse_hex_id(word, "lease")
    return word


def parse_hex_id(text: str, what: str) -> int:
    """An ID as etcdctl prints it (hexadecimal); CommandError in etcdctl's words if it is not."""
    try:
        value = int(text, 16)
    except ValueError:
        raise CommandError(f'bad {what} ID "{text}", expecting ID in Hex') from None
    if value < 0:
        raise CommandError(f'bad {what} ID "{text}", expecting ID in Hex')
    return value
