"""`etcd-console chaos`: one run, from a fresh playground to the verdict.

A run starts a playground cluster, reads the empty store, starts one watcher per member,
then drives the workload while the nemesis injects faults for `seconds`. When the time is
up it stops the clients, makes the cluster whole again (network healed, every member
running, the voting members back to their number), reads the final state, lets every
watcher catch up with it, and stops the cluster. The whole history goes to a JSON-lines
file (with the run's settings and the faults as extra records), and the checkers judge it.
`run_chaos` does it all; `ChaosRun` has the same steps one by one, for the dashboard, which
starts the cluster before it opens and runs the rest inside it. `check_file` judges a saved
history again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio

from checker.model.history import (
    History,
    KeyValue,
    StoreSnapshot,
    from_json_lines,
    to_json_lines,
)
from checker.validate.linearizability import Verdict
from checker.validate.verdict import RunVerdict, check_history
from checker.validate.violation import Violation
from console.chaos.doors import DOOR_FAILURES
from console.chaos.nemesis import ALL_FAULTS, Fault, FaultRecord, Nemesis, Timing
from console.chaos.progress import ProgressDisplay
from console.chaos.recorder import Recorder
from console.chaos.violation_marks import violation_marks
from console.chaos.watchers import WatcherFleet
from console.chaos.workload import MemberEndpoints, Workload, WorkloadConfig
from console.recording import (
    VIOLATION,
    VIOLATIONS_LANE,
    RecordingWriter,
    append_events,
    record_members,
)
from console.text_stream import TerminalStream
from console.timeline import TraceEvent
from node.client import Client
from node.messages.faults import FAILPOINTS
from playground.errors import PlaygroundError
from playground.playground import Playground

HISTORY_FILE = "history.jsonl"
READ_TIMEOUT = 30.0
"""Seconds reading the whole store may take, retries included."""
CATCH_UP_TIMEOUT = 30.0
"""Seconds the watchers get to deliver the final revision."""
_ALL_KEYS = b"\0"
_EXTRA_RECORDS = ('{"record":"run"', '{"record":"fault"')

EXIT_PASSED, EXIT_VIOLATION, EXIT_UNKNOWN = 0, 1, 2
DETAIL_LIMIT = 20
"""Violations of one kind of check a run's report details; `--check` shows them all."""


@dataclass(slots=True)
class ChaosConfig:
    """One run's settings (the command's flags)."""

    directory: Path
    seed: int
    seconds: float = 60.0
    clients: int = 8
    members: int = 3
    faults: list[Fault] = field(default_factory=lambda: list(ALL_FAULTS))
    history: Path | None = None
    """Where the history goes (default: history.jsonl in the playground directory)."""
    keys: int = 8
    timing: Timing = field(default_factory=Timing)
    crash_points: list[str] = field(default_factory=lambda: list(FAILPOINTS))
    """The member's failpoints the crash-point fault picks from."""
    snapshot_count: int | None = None
    """etcd-node's --snapshot-count for every member (None: its default, 100,000, which a
    short run never reaches; the snapshot faults need snapshot files to damage)."""
    record: Path | None = None
    """Where to record the session (every member event, trace included, and each fault), if
    anywhere: `etcd-console replay` and `diagram` read it."""
    tls: bool = False
    """The playground runs mutual TLS; every client dials with its client certificate."""
    auth: bool = False
    """The playground runs with auth on (needs `tls`): the clients are root through their
    certificate's CN, as etcd's --client-cert-auth."""

    @property
    def history_path(self) -> Path:
        """The history file of the run."""
        return self.history or self.directory / HISTORY_FILE


@dataclass(slots=True)
class ChaosResult:
    """What a run found: the checkers' verdict, the faults, and what the nemesis saw."""

    verdict: RunVerdict
    faults: list[FaultRecord] = field(default_factory=list)
    nemesis_violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that are no violation (a watcher that never caught up, ...)."""

    @property
    def exit_status(self) -> int:
        """0 when every check passed, 1 on any violation, 2 when a check was inconclusive."""
        verdict = self.verdict
        if (
            verdict.linearizability.verdict is Verdict.NOT_LINEARIZABLE
            or verdict.watch.violations
            or verdict.leases
            or verdict.durability
            or self.nemesis_violations
        ):
            return EXIT_VIOLATION
        return EXIT_PASSED if verdict.passed else EXIT_UNKNOWN

    def report(self, limit: int | None = DETAIL_LIMIT) -> str:
        """The verdict lines, the counts, then the details of whatever failed (at most
        `limit` lines per kind of check, None for all)."""
        verdict = self.verdict
        lines = [
            *self.check_lines(),
            f"{verdict.operations} operations ({verdict.indeterminate} indeterminate), "
            f"{verdict.watch.revisions} revisions watched, {self._fault_counts()}",
        ]
        lines.extend(self.notes)
        if verdict.linearizability.verdict is not Verdict.LINEARIZABLE:
            lines.append(verdict.linearizability.describe())
        violations = [
            *verdict.watch.violations,
            *verdict.leases,
            *verdict.durability,
            *self.nemesis_violations,
        ]
        lines.extend(_limited(violations, limit))
        return "\n".join(lines)

    def check_lines(self) -> list[str]:
        """One line per kind of check: `linearizable`, `watch OK`, `leases OK`, `no lost
        write`, `nemesis OK`, or what it found."""
        verdict = self.verdict
        return [
            verdict.linearizability.verdict.value,
            verdict.watch.summary,
            "leases OK" if not verdict.leases else f"{len(verdict.leases)} lease violations",
            "no lost write" if not verdict.durability else f"{len(verdict.durability)} lost writes",
            "nemesis OK"
            if not self.nemesis_violations
            else f"{len(self.nemesis_violations)} nemesis violations",
        ]

    def _fault_counts(self) -> str:
        done: dict[str, int] = {}
        for record in self.faults:
            if not record.skipped:
                done[record.kind] = done.get(record.kind, 0) + 1
        if not self.faults:
            return "no faults"
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(done.items()))
        skipped = sum(record.skipped for record in self.faults)
        return f"{sum(done.values())} faults ({kinds}; {skipped} skipped)"


def _limited(violations: list[Violation], limit: int | None) -> Iterator[str]:
    """Each violation's line, at most `limit` per check, then how many were left out."""
    shown: dict[str, int] = {}
    for violation in violations:
        count = shown.get(violation.check, 0)
        shown[violation.check] = count + 1
        if limit is None or count < limit:
            yield violation.describe()
    for check, count in shown.items():
        if limit is not None and count > limit:
            yield f"... and {count - limit} more [{check}] violations (--check FILE shows all)"


def closing_lines(config: ChaosConfig, result: ChaosResult) -> list[str]:
    """What a run prints at its end: the verdict lines, where the history is, and the
    command that runs the same schedule again."""
    faults = ",".join(fault.value for fault in config.faults)
    return [
        *result.report().split("\n"),
        f"history: {config.history_path}",
        *(
            [f"at the violation: etcd-console replay {config.record} --at-violation"]
            if config.record is not None and result.exit_status == EXIT_VIOLATION
            else []
        ),
        f"replay:  etcd-console chaos --seed {config.seed} --seconds {config.seconds:g} "
        f"--clients {config.clients} --members {config.members} --keys {config.keys} "
        f"--faults {faults}{_security_flags(config)}",
    ]


def _security_flags(config: ChaosConfig) -> str:
    return (" --tls" if config.tls else "") + (" --auth" if config.auth else "")


class ChaosRun:
    """One run on its own playground, in steps, so that a front end can bring the cluster up
    before it shows it: `start`, then `drive`, `stop` whatever happened, then `check`.
    Progress goes to `out` (and to `display.live` once set)."""

    def __init__(self, config: ChaosConfig, out: TerminalStream) -> None:
        if (config.directory / "playground.json").exists():
            raise PlaygroundError(
                f"{config.directory} already holds a playground: a chaos run needs a fresh "
                "directory (use another --dir)"
            )
        self.config = config
        self.recorder = Recorder()
        self.playground = Playground(
            config.directory, config.members, tls=config.tls, auth=config.auth
        )
        # the monotonic clock, not the event loop's: the dashboard starts the cluster in one
        # event loop and drives the run in another
        self.origin = time.monotonic()
        self.nemesis = Nemesis(
            self.playground,
            config.faults,
            config.seed,
            config.members,
            config.timing,
            crash_points=config.crash_points,
            snapshot_count=config.snapshot_count,
            clock=time.monotonic,
        )
        self.display = ProgressDisplay(
            out, self.recorder, self.nemesis, time.monotonic, self.origin
        )
        self.nemesis.on_change = self._fault_changed
        self.nemesis.on_violation = self._violation_seen
        self._wall_minus_monotonic = time.time() - time.monotonic()
        self.recording = (
            RecordingWriter(config.record, self.playground.members)
            if config.record is not None
            else None
        )
        self.notes: list[str] = []
        self.stopped = False
        """True once the cluster is stopped and the history saved."""
        self.display.line(
            f"chaos: seed {config.seed}, {config.seconds:g}s, {config.members} members, "
            f"{config.clients} clients, faults {','.join(f.value for f in config.faults)}"
            f"{_security_flags(config)}"
        )

    async def start(self) -> str:
        """Start the cluster (members snapshotting as configured); returns its leader."""
        leader = await self.playground.start()
        count = self.config.snapshot_count
        if count is not None:
            self.display.line(f"restarting each member with --snapshot-count {count}")
            leader = await _set_snapshot_count(self.playground, count)
        self.display.line(f"cluster up in {self.config.directory} (leader {leader})")
        return leader

    def _fault_changed(self, record: FaultRecord) -> None:
        self.display.fault_changed(record)
        if self.recording is None:
            return
        done = "" if record.ended is None or record.skipped else " (undone)"
        text = f"{record.kind}: {record.detail}{done}"
        named = [name for name in self.playground.members if name in record.detail.split()]
        for name in named or list(self.playground.members):
            self.recording.write(TraceEvent(name, time.time(), "fault", {"text": text}))

    async def drive(self) -> None:
        """Read the empty store, run the workload, watchers and nemesis, make the cluster
        whole again and read its final state."""
        initial = await read_store(self.playground)
        self.recorder.set_initial(initial)
        async with anyio.create_task_group() as recording:
            if self.recording is not None:
                recording.start_soon(
                    record_members,
                    self.recording,
                    self._native_endpoints,
                    self.playground.client_tls(),
                )
            self.notes = await _drive(
                self.config,
                self.playground,
                self.recorder,
                self.nemesis,
                self.display,
                initial.revision + 1,
                self.origin,
            )
            recording.cancel_scope.cancel()

    def _native_endpoints(self) -> dict[str, str]:
        return {name: m.native_endpoint for name, m in self.playground.members.items()}

    async def stop(self) -> None:
        """Stop every member (shielded from cancellation) and save the history so far."""
        self.display.line(f"stopping the cluster; history in {self.config.history_path}")
        with anyio.CancelScope(shield=True):
            await self.playground.stop()
        write_history(self.config, self.recorder.history, self.nemesis.log)
        if self.recording is not None:
            self.recording.close()
        self.stopped = True

    async def check(self) -> ChaosResult:
        """Judge the saved history (in a worker thread: the checkers are CPU-bound and a
        dashboard shares the event loop)."""
        history = self.recorder.history
        self.display.line(f"checking {len(history.operations)} operations")
        verdict = await anyio.to_thread.run_sync(check_history, history)
        if self.config.record is not None:
            self._mark_violations(verdict)
        nemesis = self.nemesis
        return ChaosResult(verdict, list(nemesis.log), list(nemesis.violations), self.notes)

    def _mark_violations(self, verdict: RunVerdict) -> None:
        """Add the checkers' violations to the recording at the moments they happened."""
        assert self.config.record is not None
        marks = violation_marks(verdict, self.recorder.history.operations)
        if marks:
            append_events(
                self.config.record,
                (
                    TraceEvent(VIOLATIONS_LANE, self._wall_time(m.t_ns), VIOLATION, m.fields())
                    for m in marks
                ),
            )

    def _wall_time(self, monotonic_ns: int) -> float:
        """A history time (monotonic ns) on the recording's clock (seconds since the epoch)."""
        return monotonic_ns / 1e9 + self._wall_minus_monotonic

    def _violation_seen(self, violation: Violation) -> None:
        if self.recording is not None:
            fields = {"check": violation.check, "revision": 0, "text": violation.describe()}
            self.recording.write(TraceEvent(VIOLATIONS_LANE, time.time(), VIOLATION, fields))


async def run_chaos(config: ChaosConfig, out: TerminalStream = sys.stdout) -> ChaosResult:
    """Run the workload and the nemesis against a fresh playground, then check the history."""
    run = ChaosRun(config, out)
    try:
        await run.start()
        run.display.line(
            f"watch it live from another terminal: etcd-console tui --dir {config.directory}"
        )
        await run.drive()
    finally:
        await run.stop()
    return await run.check()


async def _drive(
    config: ChaosConfig,
    playground: Playground,
    recorder: Recorder,
    nemesis: Nemesis,
    display: ProgressDisplay,
    first_revision: int,
    origin: float,
) -> list[str]:
    """The run proper: workload, watchers and nemesis; then the cluster made whole and the
    final state read. Returns notes for the report."""

    def endpoints() -> dict[str, tuple[str, str]]:
        return {n: (m.native_endpoint, m.client_url) for n, m in playground.members.items()}

    def voters() -> list[MemberEndpoints]:
        return [
            MemberEndpoints(n, m.native_endpoint, m.client_url)
            for n, m in sorted(playground.members.items())
            if not m.learner
        ]

    def watch_from() -> int:
        return max(first_revision, workload.compacted_to + 1)

    tls = playground.client_tls()
    fleet = WatcherFleet(endpoints, recorder, watch_from, tls)
    workload_config = WorkloadConfig(clients=config.clients, keys=config.keys)
    workload = Workload(workload_config, config.seed, recorder, voters, fleet.floor, tls)
    deadline = anyio.current_time() + config.seconds
    notes: list[str] = []
    async with anyio.create_task_group() as watching:
        watching.start_soon(fleet.run)
        async with anyio.create_task_group() as running:
            running.start_soon(workload.run)
            running.start_soon(display.run)
            await nemesis.run(config.seconds, origin)
            await anyio.sleep_until(deadline)
            running.cancel_scope.cancel()
        display.line("time is up: making the cluster whole again")
        if not await nemesis.restore():
            notes.append("note: the cluster was not whole again: the final state is not read")
            watching.cancel_scope.cancel()
            return notes
        final = await read_store(playground)
        recorder.set_final(final)
        display.line(f"final state read at revision {final.revision}; watchers catching up")
        behind = await fleet.wait_caught_up(final.revision, CATCH_UP_TIMEOUT)
        notes.extend(
            f"note: watcher {w.watcher_id} reached only revision {w.covered_to} of {final.revision}"
            for w in behind
        )
        watching.cancel_scope.cancel()
    return notes


async def _set_snapshot_count(playground: Playground, count: int) -> str:
    """Restart the members one by one with `--snapshot-count count` (the playground starts
    them with etcd-node's defaults); returns the leader once they are all back."""
    for name, member in sorted(playground.members.items()):
        member.args += ["--snapshot-count", str(count)]
        await playground.restart(name)
    return await playground.wait_for_leader()


async def read_store(playground: Playground) -> StoreSnapshot:
    """Every key, read linearizably from whichever member answers (retried for a while)."""
    with anyio.fail_after(READ_TIMEOUT):
        while True:
            try:
                async with await Client.connect(
                    playground.native_endpoints(), tls=playground.client_tls()
                ) as client:
                    reply = await client.get(_ALL_KEYS, _ALL_KEYS)
                break
            except* DOOR_FAILURES:
                await anyio.sleep(0.2)
    kvs = tuple(
        KeyValue(
            kv.key.decode(), kv.value.decode(), kv.create_revision, kv.mod_revision, kv.version,
            kv.lease,
        )
        for kv in reply.kvs
    )  # fmt: skip
    return StoreSnapshot(reply.header.revision, kvs)


def write_history(config: ChaosConfig, history: History, faults: Iterable[FaultRecord]) -> None:
    """The history file: a `run` record with the settings, the history's records, then one
    `fault` record per fault."""
    path = config.history_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as file:
        for line in _history_lines(config, history, faults):
            file.write(line + "\n")


def _history_lines(
    config: ChaosConfig, history: History, faults: Iterable[FaultRecord]
) -> Iterator[str]:
    settings = {
        "seed": config.seed,
        "seconds": config.seconds,
        "clients": config.clients,
        "members": config.members,
        "keys": config.keys,
        "faults": [fault.value for fault in config.faults],
        "tls": config.tls,
        "auth": config.auth,
    }
    yield json.dumps({"record": "run", **settings}, separators=(",", ":"))
    yield from to_json_lines(history)
    for fault in faults:
        yield json.dumps({"record": "fault", **asdict(fault)}, separators=(",", ":"))


def load_history(path: Path) -> History:
    """A saved history (the run and fault records are skipped)."""
    with open(path) as file:
        return from_json_lines(line for line in file if not line.startswith(_EXTRA_RECORDS))


def load_faults(path: Path) -> list[FaultRecord]:
    """The fault records of a saved history."""
    faults = []
    with open(path) as file:
        for line in file:
            if line.startswith('{"record":"fault"'):
                data = json.loads(line)
                del data["record"]
                faults.append(FaultRecord(**data))
    return faults


def check_file(path: Path) -> ChaosResult:
    """Judge a saved history again."""
    return ChaosResult(check_history(load_history(path)), load_faults(path))
