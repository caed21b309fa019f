"""The REPL driven through prompt_toolkit's pipe input, against a member served in a thread.

The REPL runs under asyncio as `etcd-console repl` does; what it prints is read back from a
captured terminal output. Every wait is bounded and waits for something to be printed or
stored, never for time to pass.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from console.cli import main as cli_main
from console.command_specs import GRAMMAR
from console.commands import Console
from console.repl import Repl
from console.repl_input import CommandLexer, ConsoleCompleter
from node.client import Client
from tests.api.native_cluster import native_cluster_in_thread

WAIT = 10.0
CTRL_C, CTRL_D, TAB, ENTER = "\x03", "\x04", "\t", "\r"


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory):
    with native_cluster_in_thread(tmp_path_factory.mktemp("repl-cluster")) as served:
        yield served


class CapturedOutput(DummyOutput):
    """A terminal that keeps everything written to it."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)

    def write_raw(self, data: str) -> None:
        self.written.append(data)

    @property
    def text(self) -> str:
        return "".join(self.written).replace("\r\n", "\n")


@dataclass
class Session:
    """A running REPL: type into it, read what it printed, and a client on the side."""

    pipe: PipeInput
    output: CapturedOutput
    repl: Repl
    side: Client
    finished: anyio.Event

    def type(self, text: str) -> None:
        self.pipe.send_text(text)

    async def printed(self, text: str, after: int = 0) -> int:
        """Wait until `text` is printed (after offset `after`); where it starts."""
        with anyio.fail_after(WAIT):
            # the REPL's output pipe has no event to wait on
            while (found := self.output.text.find(text, after)) < 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        return found

    async def until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        with anyio.fail_after(WAIT):
            while not await condition():  # noqa: ASYNC110 - polls the members
                await anyio.sleep(0.01)

    async def keys_under(self, prefix: str) -> int:
        return (await self.side.get(prefix, prefix=True, count_only=True)).count


@asynccontextmanager
async def repl_session(
    endpoints: list[str], history: History | None = None, **client_options: Any
) -> AsyncIterator[Session]:
    """A REPL on a Client of `endpoints` made with `client_options` (door, tls, user, ...),
    and a side client made alike."""
    with create_pipe_input() as pipe:
        output = CapturedOutput()
        with create_app_session(input=pipe, output=output):
            async with (
                Client(endpoints, **client_options) as client,
                Client(endpoints, **client_options) as side,
                Console.open(client) as console,
                anyio.create_task_group() as group,
            ):
                repl = Repl(console, history=history)
                finished = anyio.Event()

                async def run() -> None:
                    await repl.run()
                    finished.set()

                group.start_soon(run)
                session = Session(pipe, output, repl, side, finished)
                yield session
                if not finished.is_set():
                    pipe.send_text(CTRL_D)
                with anyio.fail_after(WAIT):
                    await finished.wait()


def run_scenario(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(4 * WAIT):
            await scenario()

    asyncio.run(bounded())


def test_completion_offers_commands_flags_members_and_live_keys(endpoints):
    async def put_keys() -> None:
        async with Client(endpoints) as client:
            for key in ("complete/a", "complete/b", "complete/with space", "elsewhere"):
                await client.put(key, "v")

    asyncio.run(put_keys())

    async def offered() -> dict[str, list[str]]:
        async with Client(endpoints) as client, Console.open(client) as console:
            completer = ConsoleCompleter(console)
            texts = {
                "ge": "ge",
                "lease": "lease ",
                "flags": "get complete/a --pr",
                "choice": "get k --sort-by=MO",
                "member": "move-leader ",
                "keys": "get complete/",
                "end key": "get complete/a complete/",
            }
            found = {}
            for name, text in texts.items():
                document = Document(text)
                async_found = completer.get_completions_async(document, CompleteEvent())
                found[name] = [completion.text async for completion in async_found]
            return found

    found = asyncio.run(offered())

    assert found["ge"] == ["get"]
    assert found["lease"] == ["grant", "revoke", "keep-alive", "timetolive", "list"]
    assert found["flags"] == ["--prefix", "--print-value-only"]
    assert found["choice"] == ["--sort-by=MODIFY"]
    assert found["member"] == ["m1"]
    assert found["keys"] == ["complete/a", "complete/b", "'complete/with space'"]
    assert found["end key"] == found["keys"]


def test_tab_completes_a_live_key_in_the_prompt(endpoints):
    async def scenario() -> None:
        async with repl_session(endpoints) as session:
            await session.side.put("tabbed/only-one", "found it")
            buffer = session.repl.session.default_buffer
            session.type("get tabbed/on")

            async def offered() -> bool:
                state = buffer.complete_state
                return state is not None and [c.text for c in state.completions] == [
                    "tabbed/only-one"
                ]

            async def completed() -> bool:
                return buffer.text == "get tabbed/only-one"

            await session.until(offered)
            session.type(TAB)
            await session.until(completed)
            session.type(ENTER)
            await session.printed("tabbed/only-one\nfound it\n")

    run_scenario(scenario)


def test_the_line_being_typed_is_highlighted():
    lexer = CommandLexer(GRAMMAR)

    assert lexer.fragments('get "my key" --prefix 3') == [
        ("class:command", "get"),
        ("", " "),
        ("class:string", '"my key"'),
        ("", " "),
        ("class:flag", "--prefix"),
        ("", " "),
        ("class:number", "3"),
    ]
    assert lexer.fragments("lease grnt")[::2] == [
        ("class:command", "lease"),
        ("class:unknown", "grnt"),
    ]
    assert lexer.fragments("gett")[0] == ("class:unknown", "gett")


def test_a_txn_is_asked_part_by_part_as_etcdctl_txn_i(endpoints):
    async def scenario() -> None:
        async with repl_session(endpoints) as session:
            session.type("put txn-key 1" + ENTER)
            await session.printed("OK")
            session.type("txn" + ENTER)
            await session.printed("compares:")
            session.type('value("txn-key") = "1"' + ENTER)
            session.type("bogus" + ENTER)
            await session.printed("Error: malformed comparison: bogus")
            session.type(ENTER)
            await session.printed("success requests (get, put, del):")
            session.type("put txn-key 2" + ENTER + ENTER)
            await session.printed("failure requests (get, put, del):")
            session.type("get txn-key" + ENTER + ENTER)
            done = await session.printed("SUCCESS\n\nOK\n")
            session.type("get txn-key --print-value-only" + ENTER)
            await session.printed("\n2\n", after=done)

    run_scenario(scenario)


def test_a_background_watch_prints_while_typing_and_while_another_command_runs(endpoints):
    async def scenario() -> None:
        async with repl_session(endpoints) as session:
            session.type("watch watched" + ENTER)
            await session.printed("[1] watch watched (in the background: unwatch 1)")
            await session.side.put("watched", "while typing")
            await session.printed("[1] PUT\n[1] watched\n[1] while typing\n")

            gate = await session.side.lock("gate")
            session.type("lock gate" + ENTER)
            await session.until(lambda: _equals(session.keys_under("gate/"), 2))
            await session.side.put("watched", "while locking")
            event = await session.printed("[1] while locking\n")
            await session.side.unlock(gate.key)
            acquired = await session.printed("[2] lock gate (in the background: unlock gate)")

            session.type("unlock gate" + ENTER)
            await session.printed("unlocked gate")
            session.type("unwatch 1" + ENTER)
            await session.printed("[1] stopped: watch watched")
            assert event < acquired

    run_scenario(scenario)


async def _equals(count: Awaitable[int], expected: int) -> bool:
    return await count == expected


def test_ctrl_c_cancels_the_running_command_and_clears_the_line(endpoints):
    async def scenario() -> None:
        async with repl_session(endpoints) as session:
            busy = await session.side.lock("busy")
            session.type("lock busy" + ENTER)
            await session.until(lambda: _equals(session.keys_under("busy/"), 2))
            os.kill(os.getpid(), signal.SIGINT)
            canceled = await session.printed("^C: canceled")
            await session.until(lambda: _equals(session.keys_under("busy/"), 1))

            session.type("half typed" + CTRL_C)
            session.type("put after-ctrl-c yes" + ENTER)
            await session.printed("OK", after=canceled)
            await session.side.unlock(busy.key)
            assert 'unknown command "half"' not in session.output.text

    run_scenario(scenario)


def test_errors_are_one_line_json_is_per_command_and_ctrl_d_leaves(endpoints, tmp_path: Path):
    history = tmp_path / "history"

    async def scenario() -> None:
        async with repl_session(endpoints, FileHistory(str(history))) as session:
            session.type("gett" + ENTER)
            await session.printed('\nError: unknown command "gett": did you mean "get"?\n')
            session.type("put remembered yes" + ENTER)
            await session.printed("OK")
            session.type("get remembered -w json" + ENTER)
            await session.printed('{"header":{"cluster_id":')
            session.type("lease revoke 1" + ENTER)
            await session.printed("\nError: etcdserver: requested lease not found\n")
            session.type(CTRL_D)
            with anyio.fail_after(WAIT):
                await session.finished.wait()

    run_scenario(scenario)

    assert "+put remembered yes" in history.read_text().splitlines()


def test_etcd_endpoints_go_alone_and_skip_verify_is_the_repls_not_the_dashboards(capsys):
    """repl --etcd-endpoints names the whole cluster (etcd's gRPC API), so neither native
    --endpoints nor a playground --dir goes with it; the dashboard, whose real-etcd source
    always verifies, refuses --insecure-skip-tls-verify with --etcd-endpoints."""
    both = ["repl", "--etcd-endpoints", "127.0.0.1:1", "--endpoints", "127.0.0.1:2"]
    assert cli_main(both) == 2
    assert "--etcd-endpoints goes with neither --endpoints nor --dir" in capsys.readouterr().err
    skipping = ["--etcd-endpoints", "https://127.0.0.1:1", "--insecure-skip-tls-verify"]
    assert cli_main(["tui", *skipping]) == 1
    assert "give --etcd-endpoints their --cacert" in capsys.readouterr().err
