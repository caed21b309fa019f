"""The console's command language, run against a cluster: one API for every front end.

The REPL, the dashboard's command bar and the demo runner all go through this module:

    async with Console.open(client, playground) as console:    # playground: optional
        console.on_background = show                            # receives BackgroundOutput
        result = await console.execute("get foo --prefix")
        print(result.text)                                       # what etcdctl prints

The API:
- `parse(line, grammar=GRAMMAR) -> Command`, raising `CommandError` whose message is one
  line (an unknown command gets a "did you mean"). `GRAMMAR.extended(specs)` is a grammar with
  more verbs (the demo runner's `say`, `expect`, `wait`, `sleep`): parse with it, run those
  verbs yourself and hand every other Command to `execute`.
- `Console.open(client, playground=None, *, output="text", grammar=GRAMMAR, command_timeout=None)`:
  a Console, entered, of a `node.client.Client` (and a `playground.playground.Playground` for
  kill, partition, ...); `output` is the default format, "text" (etcdctl's) or "json"
  (etcd's JSON); `-w` overrides it per command. `command_timeout` bounds each command (default:
  the client's timeout plus one second). `Console(...)` alone runs foreground commands only.
- `await console.execute(line_or_command) -> Result`: `ok`, the `lines` to print, the
  JSON-able `value`, and for a background command the `job` it started. Errors never raise:
  they come back as one line, `Error: <etcd's text>`.
- Background commands (`watch`, `lease keep-alive`, `lock`, `elect`, `observe`) run in the
  task group the Console owns while `Console.open` is entered; `execute` returns once the job
  is established (the watch created, the lock acquired) and each later output goes to
  `console.on_background(BackgroundOutput)`. `jobs()` lists them; `await stop_job(id)`
  ends one (also `unwatch ID`, `stop ID`, `unlock NAME`, `resign NAME`).
- Interactive txn: `parse("txn")` gives a Command whose `txn` is None. Ask the user for the
  compares, success and failure lines (as `etcdctl txn -i`), then execute
  `dataclasses.replace(command, txn=grammar.parse_txn(compares, success, failure))`.
- Completion: `commands()`, `flags(command)`, `member_names()`, `await
  key_completions(prefix)` (live keys, a keys-only prefix range with a limit) and
  `grammar.expects(text_before_cursor)` (which of these the word being typed is).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import anyio
import anyio.abc

from console.command_grammar import (
    Command,
    CommandError,
    Expectation,
    Grammar,
    TxnRequest,
)
from console.command_help import help_lines
from console.command_output import (
    PERMISSION_TYPES,
    Rendered,
    etcd_json,
    keep_alive_ended,
    render_auth_message,
    render_compact,
    render_delete,
    render_hashes,
    render_keep_alive,
    render_leader_kv,
    render_lease_grant,
    render_lease_revoke,
    render_leases,
    render_member_added,
    render_member_list,
    render_member_promoted,
    render_member_removed,
    render_names,
    render_put,
    render_range,
    render_role,
    render_statuses,
    render_time_to_live,
    render_txn,
    render_user,
    render_watch,
    revoked_range_text,
    text_of,
)
from console.command_specs import GRAMMAR, INSPECT, PLAYGROUND
from console.disk_inspection import data_dir_of, inspector_argv, run_inspector
from console.held_output import NOTHING_HELD, held_lines
from console.member_table import MemberState, render_member_states
from console.trace_window import SETTLE_SECONDS as TRACE_SETTLE_SECONDS
from console.trace_window import TraceWindow, known_kinds
from node.client import (
    Client,
    ConnectionLost,
    GrpcUnreachable,
    NoEndpointAvailable,
    Response,
    SortOrder,
    SortTarget,
    op_delete,
    op_get,
    op_put,
    prefix_end,
)
from node.messages import errors
from playground.errors import PlaygroundError
from playground.playground import Playground
from playground.step_mode import StepOutcome

__all__ = [
    "GRAMMAR",
    "BackgroundOutput",
    "Command",
    "CommandError",
    "Console",
    "Expectation",
    "Grammar",
    "Job",
    "Result",
    "TxnRequest",
    "parse",
]

OutputFormat = Literal["text", "json"]
COMPLETION_TIMEOUT = 0.5
"""Seconds a live key completion may take before it offers nothing."""
COMPLETION_LIMIT = 50

_Answer = TypeVar("_Answer")
"""What one member answers to a call made on each member."""

MEMBER_CALL_TIMEOUT = 2.0
"""Seconds one member may take to answer status or hash (a paused one never does)."""
CLEANUP_TIMEOUT = 2.0
"""Seconds a stopping job may spend releasing what it holds (revoking its session lease)."""
ELECTION_TTL = 60
"""Seconds of the session lease an election is led under, as etcdctl elect."""

_SORT_TARGETS = {
    "CREATE": SortTarget.CREATE,
    "KEY": SortTarget.KEY,
    "MODIFY": SortTarget.MOD,
    "VALUE": SortTarget.VALUE,
    "VERSION": SortTarget.VERSION,
}
_NO_KEY_END = "\0"
"""A range end meaning "to the end of the key space" (--from-key)."""


def parse(line: str, grammar: Grammar = GRAMMAR) -> Command:
    """The command on `line`; CommandError with one clear line if it is not one."""
    return grammar.parse(line)


@dataclass(slots=True)
class Job:
    """A background command: its id, what it is, and how it is stopped."""

    id: int
    kind: str
    """watch, keep-alive, lock, elect or observe."""
    command: str
    """The line that started it."""
    name: str = ""
    """The lock or election it holds, if any."""
    write_out: str = "text"
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope, repr=False)
    done: anyio.Event = field(default_factory=anyio.Event, repr=False)

    @property
    def stop_hint(self) -> str:
        """The command that stops it."""
        if self.kind == "watch":
            return f"unwatch {self.id}"
        if self.kind == "lock":
            return f"unlock {self.name}"
        if self.kind == "elect":
            return f"resign {self.name}"
        return f"stop {self.id}"


@dataclass(slots=True)
class Result:
    """What one command did: its output lines (or one error line) and its JSON-able value."""

    ok: bool
    lines: list[str]
    value: Any = None
    job: Job | None = None
    """The background job the command started, if it started one."""

    @property
    def text(self) -> str:
        """The output as one string."""
        return "\n".join(self.lines)


@dataclass(slots=True)
class BackgroundOutput:
    """Output of a background job: a watch event, a renewal, or the job's last words."""

    job: Job
    lines: list[str]
    value: Any
    finished: bool = False
    """The job ended (watch canceled, lease gone, error); nothing more comes from it."""
    ok: bool = True


JobBody = Callable[[Job, Callable[[Rendered], None]], Awaitable[Rendered | None]]
"""A background job: it calls `started` once established, and may return its last words."""


class Console:
    """Runs command lines against a cluster (and a playground), as etcdctl would print them."""

    def __init__(
        self,
        client: Client,
        playground: Playground | None = None,
        *,
        output: OutputFormat = "text",
        grammar: Grammar = GRAMMAR,
        command_timeout: float | None = None,
        trace_window: TraceWindow | None = None,
    ) -> None:
        self.client = client
        self.playground = playground
        self.output = output
        self.grammar = grammar
        self.command_timeout = client.timeout + 1 if command_timeout is None else command_timeout
        self.on_background: Callable[[BackgroundOutput], None] | None = None
        self._jobs: dict[int, Job] = {}
        self._next_job_id = 1
        self._task_group: anyio.abc.TaskGroup | None = None
        self._known_member_names: list[str] = []
        self._handlers: dict[str, Callable[[Command], Awaitable[Result]]] = {
            "put": self._put,
            "get": self._get,
            "del": self._delete,
            "txn": self._txn,
            "compact": self._compact,
            "watch": self._watch,
            "unwatch": self._unwatch,
            "lease grant": self._lease_grant,
            "lease revoke": self._lease_revoke,
            "lease keep-alive": self._lease_keep_alive,
            "lease timetolive": self._lease_time_to_live,
            "lease list": self._lease_list,
            "lock": self._lock,
            "unlock": self._unlock,
            "elect": self._elect,
            "observe": self._observe,
            "resign": self._resign,
            "member list": self._member_list,
            "member add": self._member_add,
            "member remove": self._member_remove,
            "member promote": self._member_promote,
            "status": self._status,
            "members": self._member_states,
            "leader": self._leader,
            "move-leader": self._move_leader,
            "snapshot save": self._snapshot_save,
            "hash": self._hash,
            "inspect wal": self._inspect,
            "inspect snap": self._inspect,
            "inspect db": self._inspect,
            "kill": self._kill,
            "restart": self._restart,
            "pause": self._pause,
            "resume": self._resume,
            "partition": self._partition,
            "heal": self._heal,
            "slow": self._slow,
            "add-node": self._add_node,
            "remove-node": self._remove_node,
            "hold": self._step_hold,
            "held": self._step_held,
            "deliver": self._step_deliver,
            "drop": self._step_drop,
            "tick": self._step_tick,
            "release": self._step_release,
            "auth enable": self._auth_enable,
            "auth disable": self._auth_disable,
            "user add": self._user_add,
            "user get": self._user_get,
            "user list": self._user_list,
            "user delete": self._user_delete,
            "user passwd": self._user_passwd,
            "user grant-role": self._user_grant_role,
            "user revoke-role": self._user_revoke_role,
            "role add": self._role_add,
            "role get": self._role_get,
            "role list": self._role_list,
            "role delete": self._role_delete,
            "role grant-permission": self._role_grant_permission,
            "role revoke-permission": self._role_revoke_permission,
            "jobs": self._list_jobs,
            "stop": self._stop_command,
            "help": self._help,
            "trace": self._trace,
        }
        self._trace_window = TraceWindow() if trace_window is None else trace_window
        """What `trace` prints; sessions of one story share one, so that `trace` shows what
        the previous command of any of them did."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        client: Client,
        playground: Playground | None = None,
        *,
        output: OutputFormat = "text",
        grammar: Grammar = GRAMMAR,
        command_timeout: float | None = None,
        trace_window: TraceWindow | None = None,
    ) -> AsyncIterator[Self]:
        """A Console whose background commands run in a task group it owns until the block
        ends; leaving the block stops them. A Console made without it runs foreground
        commands only."""
        console = cls(
            client,
            playground,
            output=output,
            grammar=grammar,
            command_timeout=command_timeout,
            trace_window=trace_window,
        )
        async with anyio.create_task_group() as group:
            console._task_group = group
            try:
                with (
                    anyio.move_on_after(MEMBER_CALL_TIMEOUT),
                    contextlib.suppress(errors.EtcdError),
                ):
                    await console._members()
                yield console
            finally:
                console._task_group = None
                group.cancel_scope.cancel()

    # -- running commands ----------------------------------------------------------------------

    async def execute(self, line: str | Command) -> Result:
        """Run one command line (or parsed Command); errors come back as one line, not raised."""
        try:
            command = self.grammar.parse(line) if isinstance(line, str) else line
            handler = self._handlers.get(command.name)
            if handler is None:
                raise CommandError(
                    f"{command.name} is not a console command: its front end runs it"
                )
            spec = self.grammar.spec(command.name)
            if self._trace_window.started and command.name != "trace":
                self._trace_window.begin_command()
            waits_for_others = spec.group in (PLAYGROUND, INSPECT) or command.name in (
                "lock", "elect"
            )
            with anyio.fail_after(None if waits_for_others else self.command_timeout):
                return await handler(command)
        except (CommandError, PlaygroundError, errors.EtcdError, TimeoutError, OSError) as error:
            return Result(False, [self.error_line(error)], {"error": self.error_line(error)})

    def error_line(self, error: BaseException) -> str:
        """The one line a failed command prints, with etcd's text where etcd has one."""
        if isinstance(error, TimeoutError):
            return "Error: context deadline exceeded"
        if isinstance(error, NoEndpointAvailable):
            endpoints = ", ".join(self.client.endpoints)
            line = f"Error: cannot reach the cluster: no member answers at {endpoints}"
            reason = _grpc_reason(error)
            return f"{line} ({reason})" if reason else line
        if isinstance(error, ConnectionLost):
            return (
                f"Error: {error.message}: the connection to the member broke mid-call "
                "(the request may or may not have been applied)"
            )
        if isinstance(error, OSError):
            where = f": {error.filename}" if error.filename else ""
            return f"Error: {error.strerror or error}{where}"
        return f"Error: {error}"

    def _result(self, command: Command, rendered: Rendered, job: Job | None = None) -> Result:
        write_out = command.write_out or self.output
        lines = rendered.lines_for(write_out)
        if job is not None and write_out != "json":
            lines = [*lines, f"[{job.id}] {job.command} (in the background: {job.stop_hint})"]
        return Result(True, lines, rendered.value, job)

    # -- keys ----------------------------------------------------------------------------------

    async def _put(self, command: Command) -> Result:
        args, flags = command.args, command.flags
        reply = await self.client.put(args["key"], args["value"] or "", **_put_options(flags))
        return self._result(command, render_put(reply))

    async def _get(self, command: Command) -> Result:
        key, end, options = _range_request(command)
        reply = await self.client.get(key, end, **options)
        flags = command.flags
        rendered = render_range(
            reply, value_only=flags["print_value_only"], count_only=flags["count_only"]
        )
        return self._result(command, rendered)

    async def _delete(self, command: Command) -> Result:
        key, end, prefix = _key_range(command)
        reply = await self.client.delete(key, end, prefix=prefix, prev_kv=command.flags["prev_kv"])
        return self._result(command, render_delete(reply))

    async def _txn(self, command: Command) -> Result:
        if command.txn is None:
            raise CommandError(
                "txn needs its compares and requests: in the REPL type txn alone to be asked "
                "for them, or write COMPARES : SUCCESS-OPS [: FAILURE-OPS] on one line"
            )
        reply = await self.client.txn(
            command.txn.compares,
            [_txn_op(op) for op in command.txn.success],
            [_txn_op(op) for op in command.txn.failure],
        )
        return self._result(command, render_txn(reply))

    async def _compact(self, command: Command) -> Result:
        revision = command.args["rev"]
        reply = await self.client.compact(revision, physical=command.flags["physical"])
        return self._result(command, render_compact(revision, reply))

    # -- watches -------------------------------------------------------------------------------

    async def _watch(self, command: Command) -> Result:
        key, end, prefix = _key_range(command)
        flags = command.flags

        async def watch(job: Job, started: Callable[[Rendered], None]) -> Rendered | None:
            async with self.client.watch(
                key, end, prefix=prefix, start_revision=flags["rev"], prev_kv=flags["prev_kv"]
            ) as stream:
                started(Rendered([], {"job": job.id}))
                async for response in stream:
                    if response.canceled:
                        return _watch_canceled(response)
                    if response.events:
                        self._emit(job, render_watch(response))
            return None

        return await self._start_job("watch", command, watch)

    async def _unwatch(self, command: Command) -> Result:
        job = self._job(command.args["id"])
        if job.kind != "watch":
            raise CommandError(f"job {job.id} is not a watch: {job.stop_hint} stops it")
        return await self._stop_job(job)

    # -- leases --------------------------------------------------------------------------------

    async def _lease_grant(self, command: Command) -> Result:
        reply = await self.client.lease_grant(command.args["ttl"])
        return self._result(command, render_lease_grant(reply))

    async def _lease_revoke(self, command: Command) -> Result:
        lease_id = command.args["id"]
        reply = await self.client.lease_revoke(lease_id)
        return self._result(command, render_lease_revoke(lease_id, reply))

    async def _lease_keep_alive(self, command: Command) -> Result:
        lease_id = command.args["id"]
        if command.flags["once"]:
            reply = await self.client.keep_alive_once(lease_id)
            return self._result(command, render_keep_alive(reply))

        async def keep_alive(job: Job, started: Callable[[Rendered], None]) -> Rendered:
            async with self.client.lease_keep_alive(lease_id) as keeper:
                line = f"lease {lease_id:016x} keepalived with TTL({keeper.ttl})"
                started(Rendered([line], {"ID": lease_id, "TTL": keeper.ttl}))
                async for reply in keeper:
                    self._emit(job, render_keep_alive(reply))
            return keep_alive_ended(lease_id)

        return await self._start_job("keep-alive", command, keep_alive)

    async def _lease_time_to_live(self, command: Command) -> Result:
        keys = command.flags["keys"]
        reply = await self.client.lease_time_to_live(command.args["id"], keys=keys)
        return self._result(command, render_time_to_live(reply, keys=keys))

    async def _lease_list(self, command: Command) -> Result:
        return self._result(command, render_leases(await self.client.lease_leases()))

    # -- auth (etcdctl's auth, user and role commands) -----------------------------------------

    async def _auth_enable(self, command: Command) -> Result:
        reply = await self.client.auth_enable()
        return self._result(command, render_auth_message("Authentication Enabled", reply))

    async def _auth_disable(self, command: Command) -> Result:
        reply = await self.client.auth_disable()
        return self._result(command, render_auth_message("Authentication Disabled", reply))

    async def _user_add(self, command: Command) -> Result:
        name, _, password = command.args["user"].partition(":")
        reply = await self.client.user_add(
            name, password, no_password=command.flags["no_password"]
        )
        return self._result(command, render_auth_message(f"User {name} created", reply))

    async def _user_get(self, command: Command) -> Result:
        name = command.args["user"]
        reply = await self.client.user_get(name)
        roles = []
        if command.flags["detail"]:
            roles = [(role, await self.client.role_get(role)) for role in reply.roles]
        return self._result(command, render_user(name, reply, roles))

    async def _user_list(self, command: Command) -> Result:
        return self._result(command, render_names(await self.client.user_list(), "users"))

    async def _user_delete(self, command: Command) -> Result:
        name = command.args["user"]
        reply = await self.client.user_delete(name)
        return self._result(command, render_auth_message(f"User {name} deleted", reply))

    async def _user_passwd(self, command: Command) -> Result:
        reply = await self.client.user_change_password(
            command.args["user"], command.args["password"]
        )
        return self._result(command, render_auth_message("Password updated", reply))

    async def _user_grant_role(self, command: Command) -> Result:
        user, role = command.args["user"], command.args["role"]
        reply = await self.client.user_grant_role(user, role)
        line = f"Role {role} is granted to user {user}"
        return self._result(command, render_auth_message(line, reply))

    async def _user_revoke_role(self, command: Command) -> Result:
        user, role = command.args["user"], command.args["role"]
        reply = await self.client.user_revoke_role(user, role)
        line = f"Role {role} is revoked from user {user}"
        return self._result(command, render_auth_message(line, reply))

    async def _role_add(self, command: Command) -> Result:
        role = command.args["role"]
        reply = await self.client.role_add(role)
        return self._result(command, render_auth_message(f"Role {role} created", reply))

    async def _role_get(self, command: Command) -> Result:
        role = command.args["role"]
        return self._result(command, render_role(role, await self.client.role_get(role)))

    async def _role_list(self, command: Command) -> Result:
        return self._result(command, render_names(await self.client.role_list(), "roles"))

    async def _role_delete(self, command: Command) -> Result:
        role = command.args["role"]
        reply = await self.client.role_delete(role)
        return self._result(command, render_auth_message(f"Role {role} deleted", reply))

    async def _role_grant_permission(self, command: Command) -> Result:
        role, word = command.args["role"], command.args["permission"]
        perm_type = PERMISSION_TYPES.get(word.lower())
        if perm_type is None:
            raise CommandError(f"invalid permission type {word}")
        key, end = _permission_range(command)
        reply = await self.client.role_grant_permission(role, perm_type, key, end)
        return self._result(command, render_auth_message(f"Role {role} updated", reply))

    async def _role_revoke_permission(self, command: Command) -> Result:
        role = command.args["role"]
        key, end = _permission_range(command)
        reply = await self.client.role_revoke_permission(role, key, end)
        line = f"{revoked_range_text(key, end)} from role {role}"
        return self._result(command, render_auth_message(line, reply))

    # -- locks and elections -------------------------------------------------------------------

    async def _lock(self, command: Command) -> Result:
        name = command.args["name"]
        self._check_not_held("lock", name)

        async def hold_lock(job: Job, started: Callable[[Rendered], None]) -> Rendered:
            session = await self.client.lease_grant(command.flags["ttl"])
            try:
                acquired = await self.client.lock(name, lease=session.ID)
                held = await self.client.get(acquired.key)
                async with self.client.lease_keep_alive(session.ID) as keeper:
                    started(Rendered([text_of(acquired.key)], etcd_json(held)))
                    async for _ in keeper:
                        pass
            finally:
                await self._release(lambda: self.client.lease_revoke(session.ID))
            return Rendered([f"lock {name} lost: its session lease expired"], {"lost": name})

        return await self._start_job("lock", command, hold_lock, name)

    async def _unlock(self, command: Command) -> Result:
        name = command.args["name"]
        job = self._held("lock", name)
        await self._stop_job(job)
        return self._result(command, Rendered([f"unlocked {name}"], {"unlocked": name}))

    async def _elect(self, command: Command) -> Result:
        name, value = command.args["name"], command.args["value"]
        self._check_not_held("elect", name)

        async def lead(job: Job, started: Callable[[Rendered], None]) -> Rendered:
            session = await self.client.lease_grant(ELECTION_TTL)
            won: Response | None = None

            async def give_up() -> None:
                try:
                    if won is not None:
                        await self.client.resign(won.leader)
                finally:
                    await self.client.lease_revoke(session.ID)

            try:
                won = await self.client.campaign(name, value, lease=session.ID)
                async with self.client.lease_keep_alive(session.ID) as keeper:
                    started(Rendered([text_of(won.leader.key), value], etcd_json(won)))
                    async for _ in keeper:
                        pass
            finally:
                await self._release(give_up)
            return Rendered([f"election {name} lost: its session lease expired"], {"lost": name})

        return await self._start_job("elect", command, lead, name)

    async def _observe(self, command: Command) -> Result:
        name = command.args["name"]

        async def observe(job: Job, started: Callable[[Rendered], None]) -> Rendered:
            async with self.client.observe(name) as leaders:
                started(Rendered([], {"job": job.id}))
                async for leader in leaders:
                    self._emit(job, render_leader_kv(leader))
            return Rendered([f"observe {name} ended"], {"ended": name})

        return await self._start_job("observe", command, observe, name)

    async def _resign(self, command: Command) -> Result:
        name = command.args["name"]
        await self._stop_job(self._held("elect", name))
        return self._result(command, Rendered([f"resigned from {name}"], {"resigned": name}))

    async def _release(self, release: Callable[[], Awaitable[Any]]) -> None:
        """Give back what a stopping job holds; the session lease expires anyway if this fails."""
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(CLEANUP_TIMEOUT),
            contextlib.suppress(errors.EtcdError, OSError),
        ):
            await release()

    # -- cluster -------------------------------------------------------------------------------

    async def _members(self) -> list[Response]:
        members = (await self.client.member_list()).members
        self._known_member_names = [member.name for member in members if member.name]
        return members

    async def _member_id(self, name_or_id: str) -> int:
        """The ID of the member named `name_or_id`, or that hex ID."""
        members = await self._members()
        for member in members:
            if member.name == name_or_id:
                return member.ID
        with contextlib.suppress(ValueError):
            return int(name_or_id, 16)
        names = ", ".join(member.name or f"{member.ID:x}" for member in members)
        raise CommandError(f"no member named {name_or_id!r} (members: {names})")

    async def _member_list(self, command: Command) -> Result:
        reply = await self.client.member_list()
        self._known_member_names = [member.name for member in reply.members if member.name]
        return self._result(command, render_member_list(reply))

    async def _member_add(self, command: Command) -> Result:
        peer_urls = [url for url in command.flags["peer_urls"].split(",") if url]
        reply = await self.client.member_add(peer_urls, is_learner=command.flags["learner"])
        return self._result(command, render_member_added(reply, command.args["name"]))

    async def _member_remove(self, command: Command) -> Result:
        member_id = await self._member_id(command.args["member"])
        reply = await self.client.member_remove(member_id)
        return self._result(command, render_member_removed(member_id, reply))

    async def _member_promote(self, command: Command) -> Result:
        member_id = await self._member_id(command.args["member"])
        reply = await self.client.member_promote(member_id)
        return self._result(command, render_member_promoted(member_id, reply))

    def _endpoints(self) -> list[str]:
        """Every member's native endpoint this console knows of."""
        if self.playground is not None:
            return self.playground.native_endpoints()
        return list(self.client.endpoints)

    async def _ask_each_member(
        self, call: Callable[[Client], Awaitable[_Answer]]
    ) -> list[tuple[str, _Answer | str]]:
        """`call` on every endpoint at once: its reply, or why there is none."""
        answers: dict[str, _Answer | str] = {}

        async def ask(endpoint: str) -> None:
            try:
                with anyio.fail_after(MEMBER_CALL_TIMEOUT):
                    async with self.client.member_client(
                        endpoint, timeout=MEMBER_CALL_TIMEOUT
                    ) as client:
                        answers[endpoint] = await call(client)
            except TimeoutError:
                answers[endpoint] = "context deadline exceeded"
            except NoEndpointAvailable as error:
                answers[endpoint] = _grpc_reason(error) or _os_reason(error) or error.message
            except errors.EtcdError as error:
                answers[endpoint] = str(error)

        endpoints = self._endpoints()
        async with anyio.create_task_group() as group:
            for endpoint in endpoints:
                group.start_soon(ask, endpoint)
        return [(endpoint, answers[endpoint]) for endpoint in endpoints]

    async def _leader_status(self) -> tuple[str, Response]:
        """The endpoint and status of the member that leads in the highest term."""
        leaders = [
            (endpoint, status)
            for endpoint, status in await self._ask_each_member(lambda client: client.status())
            if not isinstance(status, str) and status.leader == status.header.member_id
        ]
        if not leaders:
            raise errors.NoLeader()
        return max(leaders, key=lambda leader: leader[1].raftTerm)

    async def _status(self, command: Command) -> Result:
        results = await self._ask_each_member(lambda client: client.status())
        return self._result(command, render_statuses(results))

    async def _member_states(self, command: Command) -> Result:
        self._check_ours(command, "each member's raft state (status shows etcd's)")
        async def state(client: Client) -> MemberState:
            return await client.status(), await client.raft_status()

        answers = await self._ask_each_member(state)
        names: dict[int, str] = {}
        by_endpoint: dict[str, str] = {}
        if self.playground is not None:
            records = self.playground.members.items()
            names = {record.id: name for name, record in records if record.id}
            by_endpoint = {record.native_endpoint: name for name, record in records}
        else:
            with anyio.move_on_after(MEMBER_CALL_TIMEOUT), contextlib.suppress(errors.EtcdError):
                names = {member.ID: member.name for member in await self._members()}
        rows = [
            (by_endpoint.get(endpoint) or _member_name(answer, names) or endpoint, answer)
            for endpoint, answer in answers
        ]
        return self._result(command, render_member_states(rows, names))

    async def _hash(self, command: Command) -> Result:
        results = await self._ask_each_member(lambda client: client.hash_kv())
        return self._result(command, render_hashes(results))

    async def _leader(self, command: Command) -> Result:
        _, status = await self._leader_status()
        leader_id = status.header.member_id
        members = await self._members()
        name = next((member.name for member in members if leader_id == member.ID), "")
        line = (
            f"{name or 'unnamed member'} is the leader (ID {leader_id:x}, term {status.raftTerm})"
        )
        value = {"ID": leader_id, "name": name, "raftTerm": status.raftTerm}
        return self._result(command, Rendered([line], value))

    async def _move_leader(self, command: Command) -> Result:
        target = await self._member_id(command.args["member"])
        try:
            endpoint, status = await self._leader_status()
        except errors.NoLeader:
            raise CommandError(f"no leader endpoint given at {self._endpoints()}") from None
        async with self.client.member_client(endpoint, timeout=self.client.timeout) as leader:
            reply = await leader.move_leader(target)
        line = f"Leadership transferred from {status.header.member_id:x} to {target:x}"
        return self._result(command, Rendered([line], etcd_json(reply)))

    async def _snapshot_save(self, command: Command) -> Result:
        path = Path(command.args["file"])
        partial = path.with_name(f"{path.name}.part")
        size = 0
        async with self.client.snapshot() as chunks, await anyio.open_file(partial, "wb") as out:
            async for chunk in chunks:
                await out.write(chunk)
                size += len(chunk)
            await out.flush()
            await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
        partial.replace(path)
        rendered = Rendered([f"Snapshot saved at {path}"], {"path": str(path), "size": size})
        return self._result(command, rendered)

    async def _inspect(self, command: Command) -> Result:
        what = command.name.split()[1]
        options = []
        for flag, value in command.flags.items():
            if value is not None:
                options += ["--" + flag.replace("_", "-"), str(value)]
        json_lines = (command.write_out or self.output) == "json"
        data_dir = data_dir_of(command.args["name"], self.playground)
        done = await run_inspector(inspector_argv(what, data_dir, options, json_lines))
        if not done.ok:
            raise CommandError(done.stderr.strip().removeprefix("Error: "))
        lines = done.stdout.splitlines()
        value = [json.loads(line) for line in lines] if json_lines else lines
        return self._result(command, Rendered(lines, value))

    # -- playground ----------------------------------------------------------------------------

    def _playground(self, command: Command) -> Playground:
        if self.playground is None:
            flag = "--etcd-endpoints" if self.client.door == "grpc" else "--endpoints"
            raise CommandError(
                f"{command.name} needs a playground: start the console with "
                f"etcd-console repl --dir DIR (this one is attached with {flag})"
            )
        return self.playground

    def _check_ours(self, command: Command, what: str) -> None:
        """Refuse a command that reads what only members of ours tell (their raft state,
        their trace) when the console is attached to etcd's gRPC API."""
        if self.client.door == "grpc":
            raise CommandError(
                f"{command.name} shows {what}, which only members of ours tell: this console "
                "is attached to etcd's gRPC API (--etcd-endpoints)"
            )

    def _supervised(self, command: Command, line: str, action: str) -> Result:
        value = {"action": action, **command.args}
        return self._result(command, Rendered([line], value))

    async def _kill(self, command: Command) -> Result:
        name = command.args["name"]
        await self._playground(command).kill(name)
        return self._supervised(command, f"killed {name}", "kill")

    async def _restart(self, command: Command) -> Result:
        name = command.args["name"]
        await self._playground(command).restart(name)
        return self._supervised(command, f"restarted {name}", "restart")

    async def _pause(self, command: Command) -> Result:
        name = command.args["name"]
        await self._playground(command).pause(name)
        return self._supervised(command, f"paused {name}", "pause")

    async def _resume(self, command: Command) -> Result:
        name = command.args["name"]
        await self._playground(command).resume(name)
        return self._supervised(command, f"resumed {name}", "resume")

    async def _partition(self, command: Command) -> Result:
        playground = self._playground(command)
        groups = [
            [name.strip() for name in group.split(",") if name.strip()]
            for group in command.args["groups"].split("/")
        ]
        await playground.partition(groups)
        drawn = " / ".join(",".join(group) for group in playground.faults.partition)
        return self._supervised(command, f"partitioned: {drawn}", "partition")

    async def _heal(self, command: Command) -> Result:
        await self._playground(command).heal()
        return self._supervised(command, "healed: no partition, no slow link", "heal")

    async def _slow(self, command: Command) -> Result:
        name, delay = command.args["name"], command.args["ms"]
        await self._playground(command).slow(name, delay)
        line = f"{name}'s links delayed by {delay} ms" if delay else f"{name}'s links not delayed"
        return self._supervised(command, line, "slow")

    async def _add_node(self, command: Command) -> Result:
        learner = command.flags["learner"]
        name = await self._playground(command).add_node(learner=learner)
        line = f"added {name}{' as a learner' if learner else ''}"
        return self._result(command, Rendered([line], {"action": "add-node", "name": name}))

    async def _remove_node(self, command: Command) -> Result:
        name = command.args["name"]
        await self._playground(command).remove_node(name)
        return self._supervised(command, f"removed {name}", "remove-node")

    # -- step mode -----------------------------------------------------------------------------

    def _step_result(self, command: Command, head: list[str], outcome: StepOutcome) -> Result:
        lines = [*head, *(held_lines(outcome.held) or [NOTHING_HELD])]
        value = {
            "action": command.name,
            "ticks": outcome.ticks,
            "done": [asdict(m) for m in outcome.done],
            "held": [asdict(m) for m in outcome.held],
        }
        return self._result(command, Rendered(lines, value))

    async def _step_hold(self, command: Command) -> Result:
        playground = self._playground(command)
        outcome = await playground.step_mode.hold()
        running = [name for name in playground.members if playground.state(name) == "up"]
        line = f"holding {', '.join(running)}: clocks stopped, peer messages held"
        return self._step_result(command, [line], outcome)

    async def _step_held(self, command: Command) -> Result:
        return self._step_result(command, [], await self._playground(command).step_mode.settled())

    async def _step_deliver(self, command: Command) -> Result:
        step_mode = self._playground(command).step_mode
        outcome = await step_mode.deliver(command.args["id"], command.flags["to"])
        head = [f"delivered {line}" for line in held_lines(outcome.done)]
        return self._step_result(command, head, outcome)

    async def _step_drop(self, command: Command) -> Result:
        outcome = await self._playground(command).step_mode.drop(command.args["id"])
        head = [f"dropped {line}" for line in held_lines(outcome.done)]
        return self._step_result(command, head, outcome)

    async def _step_tick(self, command: Command) -> Result:
        name, ticks = command.args["name"], command.args["n"] or 0
        outcome = await self._playground(command).step_mode.tick(name, ticks)
        head = [f"{name}: {outcome.ticks} tick{'s' if outcome.ticks != 1 else ''}"]
        return self._step_result(command, head, outcome)

    async def _step_release(self, command: Command) -> Result:
        outcome = await self._playground(command).step_mode.release()
        line = f"released: real time again, {len(outcome.done)} held messages delivered"
        return self._step_result(command, [line], outcome)

    # -- the console's own ---------------------------------------------------------------------

    async def _list_jobs(self, command: Command) -> Result:
        lines = [f"[{job.id}] {job.command}" for job in self.jobs()]
        value = [{"id": job.id, "kind": job.kind, "command": job.command} for job in self.jobs()]
        return self._result(command, Rendered(lines or ["no background jobs"], value))

    async def _stop_command(self, command: Command) -> Result:
        return await self._stop_job(self._job(command.args["id"]))

    async def _help(self, command: Command) -> Result:
        lines = help_lines(self.grammar, command.args["command"])
        return self._result(command, Rendered(lines, {"help": lines}))

    async def _trace(self, command: Command) -> Result:
        self._check_ours(command, "the members' trace events")
        flags = command.flags
        try:
            kinds = known_kinds(_names(flags["types"]))
        except ValueError as error:
            raise CommandError(str(error)) from None
        window = self._trace_window
        if not window.started:
            await self._start_trace_window()
            lines = [
                f"trace: following {len(window.following)} members' trace events from now on; "
                "trace after a command shows what it did inside"
            ]
            return self._result(command, Rendered(lines, {"trace": []}))
        await anyio.sleep(TRACE_SETTLE_SECONDS)
        lines = window.lines(
            kinds, _names(flags["members"]), everything=flags["all"], commands=flags["commands"]
        )
        return self._result(command, Rendered(lines, {"trace": lines}))

    async def _start_trace_window(self) -> None:
        group = self._task_group
        if group is None:
            raise CommandError("trace needs a console that runs background work (the REPL's)")
        if self.playground is not None:
            endpoints = {n: r.native_endpoint for n, r in self.playground.members.items()}
        else:
            endpoints = {endpoint: endpoint for endpoint in self.client.endpoints}
        window = self._trace_window
        window.started = True
        for name, endpoint in endpoints.items():
            subscribed = anyio.Event()
            group.start_soon(window.follow, name, endpoint, subscribed, self.client.tls)
            with anyio.move_on_after(MEMBER_CALL_TIMEOUT):
                await subscribed.wait()
        window.begin_command()

    # -- background jobs -----------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """The background jobs running now."""
        return list(self._jobs.values())

    async def stop_job(self, job_id: int) -> Result:
        """Stop background job `job_id`, releasing what it holds (a lock, a leadership)."""
        return await self.execute(Command("stop", {"id": job_id}, line=f"stop {job_id}"))

    def _job(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise CommandError(f"no background job {job_id}: jobs lists them")
        return job

    def _held(self, kind: str, name: str) -> Job:
        for job in self._jobs.values():
            if job.kind == kind and job.name == name:
                return job
        what = "lock" if kind == "lock" else "election"
        raise CommandError(f"this console holds no {what} named {name!r}")

    def _check_not_held(self, kind: str, name: str) -> None:
        for job in self._jobs.values():
            if job.kind == kind and job.name == name:
                raise CommandError(f"this console already holds {name!r} (job {job.id})")

    async def _stop_job(self, job: Job) -> Result:
        job.scope.cancel()
        with anyio.fail_after(CLEANUP_TIMEOUT * 2):
            await job.done.wait()
        return Result(True, [f"[{job.id}] stopped: {job.command}"], {"stopped": job.id})

    async def _start_job(
        self, kind: str, command: Command, body: JobBody, name: str = ""
    ) -> Result:
        if self._task_group is None:
            raise CommandError(f"{command.name} runs in the background: enter the Console first")
        write_out = command.write_out or self.output
        job = Job(self._next_job_id, kind, command.line or command.name, name, write_out)
        self._next_job_id += 1
        rendered = await self._task_group.start(self._run_job, job, body)
        return self._result(command, rendered, job)

    async def _run_job(
        self,
        job: Job,
        body: JobBody,
        *,
        task_status: anyio.abc.TaskStatus[Rendered] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        established = False

        def started(rendered: Rendered) -> None:
            nonlocal established
            established = True
            self._jobs[job.id] = job
            task_status.started(rendered)

        last_words: Rendered | None = None
        try:
            with job.scope:
                last_words = await body(job, started)
            if last_words is not None:
                self._emit(job, last_words, finished=True)
        except Exception as error:
            # Before it is established the error is the command's; after, a job must never
            # take the console down: its failure becomes its last output.
            if not established:
                raise
            line = self.error_line(error)
            self._emit(job, Rendered([line], {"error": line}), finished=True, ok=False)
        finally:
            self._jobs.pop(job.id, None)
            job.done.set()

    def _emit(
        self, job: Job, rendered: Rendered, *, finished: bool = False, ok: bool = True
    ) -> None:
        if self.on_background is not None:
            lines = rendered.lines_for(job.write_out)
            self.on_background(BackgroundOutput(job, lines, rendered.value, finished, ok))

    # -- completion ----------------------------------------------------------------------------

    def commands(self) -> list[str]:
        """Every command name (two words for groups: "lease grant")."""
        return [spec.name for spec in self.grammar.specs()]

    def flags(self, command: str) -> list[str]:
        """The flags `command` takes, as typed: --prefix, --rev, ..."""
        try:
            spec = self.grammar.spec(command)
        except CommandError:
            return []
        return [f"--{flag.name}" for flag in spec.all_flags]

    def member_names(self) -> list[str]:
        """The members' names: the playground's, else those the last member list gave."""
        if self.playground is not None:
            return list(self.playground.members)
        return list(self._known_member_names)

    async def key_completions(self, prefix: str, limit: int = COMPLETION_LIMIT) -> list[str]:
        """Live keys starting with `prefix` (at most `limit`); none if the cluster is slow."""
        with anyio.move_on_after(COMPLETION_TIMEOUT):
            try:
                reply = await self.client.get(
                    prefix, prefix=True, keys_only=True, limit=limit, serializable=True
                )
            except (errors.EtcdError, OSError):
                return []
            return [text_of(kv.key) for kv in reply.kvs]
        return []


def _put_options(flags: dict[str, Any]) -> dict[str, Any]:
    return {
        "lease": flags["lease"],
        "prev_kv": flags["prev_kv"],
        "ignore_value": flags["ignore_value"],
        "ignore_lease": flags["ignore_lease"],
    }


def _range_request(command: Command) -> tuple[str, str, dict[str, Any]]:
    """get's key, range end and Client.get options, as etcdctl builds its RangeRequest."""
    flags = command.flags
    key, end, prefix = _key_range(command)
    sort_by, order = flags["sort_by"], flags["order"]
    if sort_by is not None and order is None:
        order = "ASCEND"
    options = {
        "prefix": prefix,
        "revision": flags["rev"],
        "limit": flags["limit"],
        "serializable": flags["consistency"] == "s",
        "keys_only": flags["keys_only"],
        "count_only": flags["count_only"],
        "sort_order": SortOrder[order] if order else SortOrder.NONE,
        "sort_target": _SORT_TARGETS[sort_by or "KEY"],
    }
    return key, end, options


def _key_range(command: Command) -> tuple[str, str, bool]:
    """The key, range end and prefix switch of a ranged command (--from-key made a range)."""
    key, end = command.args["key"], command.args["end"] or ""
    if command.flags.get("from_key"):
        return key or _NO_KEY_END, _NO_KEY_END, False
    return key, end, command.flags["prefix"]


def _permission_range(command: Command) -> tuple[bytes, bytes]:
    """A permission's key and range end as etcdctl builds them: a key, [KEY, END), a prefix
    (--prefix) or every key from KEY (--from-key: range end "\\0")."""
    key = command.args["key"].encode()
    if command.flags["from_key"]:
        return key, b"\x00"
    if command.flags["prefix"]:
        return key, prefix_end(key) if key else b"\x00"
    return key, (command.args["end"] or "").encode()


def _txn_op(command: Command) -> dict[str, Any]:
    """A txn RequestOp from a put, get or del command."""
    if command.name == "put":
        return op_put(
            command.args["key"], command.args["value"] or "", **_put_options(command.flags)
        )
    if command.name == "get":
        key, end, options = _range_request(command)
        return op_get(key, end, **options)
    key, end, prefix = _key_range(command)
    return op_delete(key, end, prefix=prefix, prev_kv=command.flags["prev_kv"])


def _os_reason(error: BaseException) -> str | None:
    """The operating system's words (Connection refused) for what caused `error`, if any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno)
        cause = cause.__cause__ or cause.__context__
    return None


def _grpc_reason(error: BaseException) -> str | None:
    """gRPC's words for why no member could be reached (a TLS handshake that failed, ...)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, GrpcUnreachable):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return None


def _member_name(answer: MemberState | str, names: dict[int, str]) -> str:
    """The name of the member that sent `answer`, if it answered and has one."""
    return "" if isinstance(answer, str) else names.get(answer[0].header.member_id, "")


def _watch_canceled(response: Response) -> Rendered:
    if response.compact_revision:
        reason = errors.Compacted.message
    else:
        reason = response.cancel_reason or "canceled by the member"
    return Rendered(
        [f"watch was canceled ({reason})"],
        {"Canceled": True, "CompactRevision": response.compact_revision, "reason": reason},
    )


def _names(text: str) -> list[str]:
    """The names of a comma-separated flag value."""
    return [name.strip() for name in text.split(",") if name.strip()]
