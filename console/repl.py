"""`etcd-console repl`: a prompt_toolkit shell over the console's command language.

Completion of commands, flags, member names and live keys; persistent history; highlighting
of the line being typed; the interactive `txn` prompts of `etcdctl txn -i`; background jobs
(watch, keep-alive, lock, ...) whose output prints above the prompt. Ctrl-C cancels the
command running (or clears the line being typed), Ctrl-D leaves.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from pathlib import Path

import anyio
import anyio.abc
from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.shortcuts import print_formatted_text

from console.command_grammar import Command, CommandError, TxnRequest
from console.commands import BackgroundOutput, Console, Result
from console.repl_input import STYLE, CommandLexer, ConsoleCompleter
from node.client import Client, ClientTls, Door
from node.messages import errors
from playground.errors import PlaygroundError
from playground.playground import DEFAULT_DIRECTORY, Playground

PROMPT = "etcd> "
TXN_PROMPT = "> "
HOME_HISTORY = ".etcd-console-history"
PLAYGROUND_HISTORY = "repl-history"
TXN_SECTIONS = (
    ("compares:", "compare"),
    ("success requests (get, put, del):", "request"),
    ("failure requests (get, put, del):", "request"),
)
"""etcdctl txn -i's prompts, and what each section's lines are."""


class Repl:
    """The read-eval-print loop over one entered Console."""

    def __init__(self, console: Console, *, history: History | None = None) -> None:
        self.console = console
        grammar = console.grammar
        self._command_lexer = CommandLexer(grammar)
        self._compare_lexer = CommandLexer(grammar, starts_with_command=False)
        self._completer = ConsoleCompleter(console)
        self.session: PromptSession[str] = PromptSession(
            history=history if history is not None else InMemoryHistory(),
            completer=self._completer,
            lexer=self._command_lexer,
            style=STYLE,
            auto_suggest=AutoSuggestFromHistory(),
        )
        self._txn_session: PromptSession[str] = PromptSession(style=STYLE)

    async def run(self, banner: str = "") -> None:
        """Read and run lines until Ctrl-D (or exit)."""
        self.console.on_background = self._show_background
        if banner:
            self._say(banner, "note")
        self._say("help lists the commands, help COMMAND tells one; Ctrl-D leaves.", "note")
        with patch_stdout():
            while True:
                try:
                    line = await self.session.prompt_async(
                        FormattedText([("class:prompt", PROMPT)])
                    )
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                if line.strip() in ("exit", "quit"):
                    break
                if line.strip():
                    await self.run_line(line)

    async def run_line(self, line: str) -> None:
        """Parse and run one line, asking for a txn's parts when it has none."""
        try:
            command = self.console.grammar.parse(line)
        except CommandError as error:
            self._say(self.console.error_line(error), "error")
            return
        if command.name == "txn" and command.txn is None:
            txn = await self._ask_txn()
            if txn is None:
                self._say("txn canceled", "note")
                return
            command = replace(command, txn=txn)
        try:
            result = await self._run_cancellable(command)
        except Exception as error:
            # One command's failure, even a bug, must not take the shell (and its jobs) down.
            while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
                error = error.exceptions[0]
            self._say(f"Error: {type(error).__name__}: {error}", "error")
            return
        if result is None:
            self._say("^C: canceled", "note")
        elif result.lines:
            self._say(result.text, "" if result.ok else "error")

    async def _ask_txn(self) -> TxnRequest | None:
        """The three parts of a txn, asked as etcdctl txn -i asks them; None if canceled."""
        grammar = self.console.grammar
        sections: list[list[str]] = []
        for label, kind in TXN_SECTIONS:
            self._say(label)
            lexer = self._compare_lexer if kind == "compare" else self._command_lexer
            completer = None if kind == "compare" else self._completer
            read = grammar.parse_compare if kind == "compare" else grammar.parse_txn_op
            lines: list[str] = []
            while True:
                try:
                    line = await self._txn_session.prompt_async(
                        TXN_PROMPT, lexer=lexer, completer=completer
                    )
                except (KeyboardInterrupt, EOFError):
                    return None
                if not line.strip():
                    break
                try:
                    read(line)
                except CommandError as error:
                    self._say(self.console.error_line(error), "error")
                    continue
                lines.append(line)
            sections.append(lines)
        compares, success, failure = sections
        return grammar.parse_txn(compares, success, failure)

    async def _run_cancellable(self, command: Command) -> Result | None:
        """Execute `command`; None if Ctrl-C (SIGINT) canceled it."""
        result: Result | None = None
        async with anyio.create_task_group() as group:
            await group.start(_cancel_on_interrupt, group.cancel_scope)
            result = await self.console.execute(command)
            group.cancel_scope.cancel()
        return result

    def _show_background(self, output: BackgroundOutput) -> None:
        style = "background" if output.ok else "error"
        self._say("\n".join(f"[{output.job.id}] {line}" for line in output.lines), style)

    def _say(self, text: str, style: str = "") -> None:
        fragment_style = f"class:{style}" if style else ""
        print_formatted_text(FormattedText([(fragment_style, text)]), style=STYLE)


async def _cancel_on_interrupt(
    scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT) as interrupts:
        task_status.started()
        async for _ in interrupts:
            scope.cancel()
            return


def history_file(playground: Playground | None) -> Path:
    """Where history persists: in the playground's directory, else in the home directory."""
    if playground is not None:
        return playground.directory / PLAYGROUND_HISTORY
    return Path.home() / HOME_HISTORY


def parse_endpoints(text: str) -> list[str]:
    """--endpoints as host:port pairs (a scheme such as http:// is dropped)."""
    return [item.split("://")[-1].strip() for item in text.split(",") if item.strip()]


def parse_etcd_endpoints(text: str) -> list[str]:
    """--etcd-endpoints: client URLs (or host:port pairs) as etcdctl's --endpoints takes them."""
    return [item.strip() for item in text.split(",") if item.strip()]


async def run_repl(
    endpoints: list[str],
    playground: Playground | None,
    history: Path,
    tls: ClientTls | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    door: Door = "native",
) -> None:
    """Connect to `endpoints` (lazily: a dead cluster is reported per command) through `door`
    and run the REPL, dialing with `tls` and authenticated as `user` if given (a refused login
    raises its EtcdError)."""
    client = Client(endpoints, tls=tls, user=user, password=password, door=door)
    async with client, Console.open(client, playground) as console:
        where = f"the playground in {playground.directory}" if playground else ", ".join(endpoints)
        if door == "grpc":
            where = f"etcd {where} (gRPC)"
        repl = Repl(console, history=FileHistory(str(history)))
        await repl.run(banner=f"etcd-console repl: {where}")


def main(
    endpoints: str | None,
    directory: str | None,
    tls: ClientTls | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    etcd_endpoints: str | None = None,
) -> int:
    """The repl subcommand: attach to --endpoints and/or the playground in --dir, or to any
    etcd (a real one, or members of ours) at --etcd-endpoints through its gRPC API, dialing
    with `tls` (etcdctl's --cacert/--cert/--key), else with a TLS playground's certificates,
    as `user` when the cluster has auth on."""
    if etcd_endpoints:
        return _run(parse_etcd_endpoints(etcd_endpoints), None, tls, user, password, "grpc")
    playground: Playground | None = None
    if directory is not None or not endpoints:
        try:
            playground = Playground.attach(directory or DEFAULT_DIRECTORY)
        except PlaygroundError as error:
            print(f"etcd-console: {error}", file=sys.stderr)
            return 1
    targets = parse_endpoints(endpoints) if endpoints else []
    if playground is not None and not targets:
        targets = playground.native_endpoints()
    if not targets:
        print("etcd-console: no endpoints to connect to", file=sys.stderr)
        return 1
    if tls is None and playground is not None:
        tls = playground.client_tls()
    return _run(targets, playground, tls, user, password, "native")


def _run(
    targets: list[str],
    playground: Playground | None,
    tls: ClientTls | None,
    user: str | None,
    password: str | None,
    door: Door,
) -> int:
    try:
        asyncio.run(
            run_repl(
                targets,
                playground,
                history_file(playground),
                tls,
                user=user,
                password=password,
                door=door,
            )
        )
    except errors.EtcdError as error:  # the login was refused
        print(f"etcd-console: {error.message}", file=sys.stderr)
        return 1
    return 0
