"""The nemesis: faults done to a playground cluster one at a time, on a schedule from a seed.

Each fault is injected, held a few seconds while the workload runs, then undone, and the
cluster gets a quiet spell before the next one. The schedule (which faults, in which order,
how long each is held, which member each picks among the candidates of the moment) comes
from one seeded generator, so `--seed` replays a run's faults; who is leader at each moment
still depends on the run.

Fault kinds (`--faults` names them): SIGKILL of the leader, of a follower, of a random member
and of a majority; SIGSTOP/SIGCONT pauses; partitions (a majority from a minority, the leader
isolated, a bridge member that alone sees both sides); link delay and message drop; fsync
delay; membership churn (remove a member, add a fresh one as a learner, promote it); a torn
WAL tail on a killed member (it must repair and start); step mode (the whole cluster held:
its clocks ticked and its messages delivered in rounds, in a shuffled order, some dropped,
then released); a flipped bit in an earlier WAL
record (it must refuse to start); a flipped bit in a snapshot file (it must refuse to start
or set the file aside, never serve what the damage says); a crash point (one of the member's
gofail failpoints, armed to panic once on a random member, which is then driven there: a
defragment or a compaction for their points, the workload for the rest; a member that died
there is restarted when the fault is undone, an unreached point disarmed). After a refusal
the nemesis restores the damaged file from the bytes it kept and starts the member again: the member
keeps its identity and its data, so the run goes on with the same membership.

What the nemesis sees going wrong (a member that will not start after a torn tail, one that
serves from a corrupt WAL) is reported as violations next to the checkers' verdicts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel

from checker.validate.violation import Violation
from console.chaos import disk_faults
from console.chaos.disk_faults import Damage
from node.client import Client, ClientTls, FaultKind
from node.messages.errors import EtcdError, LearnerNotReady
from node.messages.faults import FAILPOINTS
from playground.errors import OutcomeUnknown, PlaygroundError
from playground.playground import Playground

FAULT_CALL_TIMEOUT = 3.0
SNAPSHOT_POINTS = frozenset(
    {
        "raftBeforeSaveSnap",
        "raftAfterSaveSnap",
        "raftBeforeLogCompaction",
        "raftAfterLogCompaction",
        "raftAfterWALRelease",
    }
)
"""Crash points every member passes when it takes a snapshot of its own."""
SNAPSHOT_DRIVE_TIMEOUT = 30.0
SNAPSHOT_DRIVE_CALLERS = 16
"""Seconds one fault-injection call to a member may take."""
STEP_DROP_RATIOS = (0.0, 0.1, 0.25)
"""Shares of the held messages a step-mode fault drops in each round."""
STEP_ROUND_TICKS = 1
"""Ticks each member's clock moves per step-mode round."""
PROMOTE_TIMEOUT = 30.0
"""Seconds a new learner gets to catch up and be promoted."""
CRASH_POLL_S = 0.1
"""Seconds between two looks at whether a member armed with a crash point has died."""
COMPACT_BEHIND = 5
"""Revisions behind the current one a crash-point fault compacts at."""
RECOVERY_ATTEMPTS = 3
RESTORE_TIMEOUT = 60.0
"""Seconds the end of a run keeps trying to make the cluster whole."""
NEMESIS_FAILURES = (PlaygroundError, EtcdError, OSError, TimeoutError, ExceptionGroup)
"""What a fault or its undoing can fail with (the playground's client calls may raise
their failures wrapped in an exception group)."""


class Fault(StrEnum):
    """The faults the nemesis can do, by their `--faults` names."""

    KILL_LEADER = "kill-leader"
    KILL_FOLLOWER = "kill-follower"
    KILL_RANDOM = "kill-random"
    KILL_MAJORITY = "kill-majority"
    PAUSE = "pause"
    PARTITION_MAJORITY = "partition-majority"
    PARTITION_LEADER = "partition-leader"
    PARTITION_BRIDGE = "partition-bridge"
    LINK_DELAY = "link-delay"
    LINK_DROP = "link-drop"
    FSYNC_DELAY = "fsync-delay"
    MEMBERSHIP = "membership"
    TORN_WAL_TAIL = "torn-wal-tail"
    WAL_BITFLIP = "wal-bitflip"
    SNAPSHOT_BITFLIP = "snapshot-bitflip"
    STEP_MODE = "step-mode"
    CRASH_POINT = "crash-point"


ALL_FAULTS: tuple[Fault, ...] = tuple(Fault)


def parse_faults(text: str) -> list[Fault]:
    """`--faults`: comma-separated names, or `all`; ValueError naming an unknown one."""
    if text.strip() == "all":
        return list(ALL_FAULTS)
    faults = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        try:
            faults.append(Fault(name))
        except ValueError:
            known = ", ".join(fault.value for fault in ALL_FAULTS)
            raise ValueError(f"unknown fault {name!r} (known: all, {known})") from None
    if not faults:
        raise ValueError("--faults names no fault")
    return faults


def parse_crash_points(text: str) -> list[str]:
    """`--crash-points`: comma-separated failpoint names, or `all`; ValueError naming an
    unknown one."""
    if text.strip() == "all":
        return list(FAILPOINTS)
    points = [name.strip() for name in text.split(",") if name.strip()]
    for name in points:
        if name not in FAILPOINTS:
            known = ", ".join(FAILPOINTS)
            raise ValueError(f"unknown crash point {name!r} (known: all, {known})")
    if not points:
        raise ValueError("--crash-points names no crash point")
    return points


@dataclass(slots=True, frozen=True)
class Timing:
    """How long faults are held and how long the cluster rests between them (seconds)."""

    hold: tuple[float, float] = (2.0, 5.0)
    quiet: tuple[float, float] = (1.0, 3.0)


@dataclass(slots=True)
class FaultRecord:
    """One fault as it happened, for the display and the history file; times are seconds
    since the run started."""

    kind: str
    started: float
    detail: str = ""
    ended: float | None = None
    skipped: bool = False


@dataclass(slots=True)
class _Injected:
    """A fault in force: what it did, how to undo it, and what to do while it is held
    (nothing but wait, when None)."""

    detail: str
    undo: Callable[[], Awaitable[None]]
    during: Callable[[], Awaitable[None]] | None = None


class _Skip(Exception):
    """The fault cannot be done now (no leader, too few members, nothing to damage)."""


@dataclass(slots=True)
class Nemesis:
    """Injects `faults` into `playground` until a deadline, one at a time, from `seed`."""

    playground: Playground
    faults: Sequence[Fault]
    seed: int
    members: int
    """How many voting members the whole cluster has."""
    timing: Timing = field(default_factory=Timing)
    crash_points: Sequence[str] = FAILPOINTS
    """The points the crash-point fault picks from."""
    snapshot_count: int | None = None
    """The members' --snapshot-count, when the run set one: a crash point on the way to a
    snapshot is driven there by that many raft entries (etcd-node's default is too many)."""
    clock: Callable[[], float] = anyio.current_time
    log: list[FaultRecord] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    current: FaultRecord | None = None
    on_change: Callable[[FaultRecord], None] = lambda record: None
    on_violation: Callable[[Violation], None] = lambda violation: None
    _rng: random.Random = field(init=False)
    _origin: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}/nemesis")

    def schedule(self) -> FaultSchedule:
        """The order faults come in: every selected kind once per round, shuffled."""
        return FaultSchedule(self.faults, self._rng)

    async def run(self, seconds: float, origin: float) -> None:
        """Inject faults for `seconds` from now; `origin` is the run's start (for the log)."""
        self._origin = origin
        deadline = self.clock() + seconds
        schedule = self.schedule()
        while True:
            quiet = self._rng.uniform(*self.timing.quiet)
            hold = self._rng.uniform(*self.timing.hold)
            fault = schedule.next()
            if self.clock() + quiet >= deadline:
                return
            await anyio.sleep(quiet)
            await self._one(fault, min(hold, max(0.5, deadline - self.clock())))

    def _elapsed(self) -> float:
        return self.clock() - self._origin

    async def _one(self, fault: Fault, hold: float) -> None:
        record = FaultRecord(fault.value, self._elapsed())
        self.current = record
        try:
            injected = await self._inject(fault)
        except (_Skip, *NEMESIS_FAILURES) as reason:
            record.skipped = True
            record.detail = f"skipped: {_reason(reason)}"
            record.ended = record.started
            self._finish(record)
            if not isinstance(reason, _Skip):
                await self._settle()
            return
        record.detail = injected.detail
        self.on_change(record)
        with anyio.move_on_after(hold):
            if injected.during is None:
                await anyio.sleep(hold)
            else:
                await self._during(fault, injected.during)
        await self._undo(fault, injected)
        record.ended = self._elapsed()
        self._finish(record)

    async def _during(self, fault: Fault, during: Callable[[], Awaitable[None]]) -> None:
        """Run what a fault does while held; if it fails, the fault is simply held on."""
        try:
            await during()
        except NEMESIS_FAILURES as failure:
            if self.current is not None:
                self.current.detail += f" (stopped stepping: {_reason(failure)})"
            await anyio.sleep_forever()

    def _finish(self, record: FaultRecord) -> None:
        self.log.append(record)
        self.current = None
        self.on_change(record)

    async def _undo(self, fault: Fault, injected: _Injected) -> None:
        """Undo a fault, trying again a few times; a member that will not come back is a
        violation (and `restore` tries once more at the end)."""
        error: Exception | None = None
        for _ in range(RECOVERY_ATTEMPTS):
            try:
                await injected.undo()
                return
            except NEMESIS_FAILURES as failure:
                error = failure
                await anyio.sleep(1.0)
        self._violation(
            "recovery", fault.value, f"could not undo ({injected.detail}): {_reason(error)}"
        )

    def _violation(self, check: str, subject: str, detail: str) -> None:
        violation = Violation(check, subject, 0, detail)
        self.violations.append(violation)
        self.on_violation(violation)

    # -- choosing members ------------------------------------------------------------------

    async def _leader(self) -> str:
        try:
            return await self.playground.wait_for_leader(within=5.0)
        except PlaygroundError:
            raise _Skip("no leader to pick") from None

    def _up(self) -> list[str]:
        return sorted(n for n in self.playground.members if self.playground.state(n) == "up")

    def _pick(self, names: Sequence[str]) -> str:
        if not names:
            raise _Skip("no member to pick")
        return self._rng.choice(sorted(names))

    def _member_id(self, name: str) -> int:
        member_id = self.playground.member(name).id
        if not member_id:
            raise _Skip(f"member {name} has not told its id yet")
        return member_id

    async def _with_client(
        self, endpoints: list[str], call: Callable[[Client], Awaitable[object]]
    ) -> None:
        """`call` with a client of `endpoints`, dialing as the playground's own clients do."""
        await _with_client(endpoints, call, self.playground.client_tls())

    async def _fault_call(self, name: str, call: Callable[[Client], Awaitable[object]]) -> None:
        endpoint = self.playground.member(name).native_endpoint
        with anyio.fail_after(FAULT_CALL_TIMEOUT):
            await self._with_client([endpoint], call)

    # -- the faults ------------------------------------------------------------------------

    async def _inject(self, fault: Fault) -> _Injected:
        match fault:
            case Fault.KILL_LEADER:
                return await self._kill([await self._leader()], "leader")
            case Fault.KILL_FOLLOWER:
                leader = await self._leader()
                followers = [n for n in self._up() if n != leader]
                return await self._kill([self._pick(followers)], "follower")
            case Fault.KILL_RANDOM:
                return await self._kill([self._pick(self._up())], "random member")
            case Fault.KILL_MAJORITY:
                names = sorted(self.playground.members)
                majority = self._rng.sample(names, len(names) // 2 + 1)
                return await self._kill(sorted(majority), "majority")
            case Fault.PAUSE:
                return await self._pause(self._pick(self._up()))
            case Fault.PARTITION_MAJORITY:
                names = sorted(self.playground.members)
                minority = sorted(self._rng.sample(names, max(1, (len(names) - 1) // 2)))
                return await self._partition(minority, "minority")
            case Fault.PARTITION_LEADER:
                return await self._partition([await self._leader()], "leader")
            case Fault.PARTITION_BRIDGE:
                return await self._bridge()
            case Fault.LINK_DELAY:
                return await self._link_delay(self._pick(self._up()))
            case Fault.LINK_DROP:
                return await self._link_drop(self._pick(self._up()))
            case Fault.FSYNC_DELAY:
                return await self._fsync_delay(self._pick(self._up()))
            case Fault.MEMBERSHIP:
                return await self._churn(self._pick(self._up()))
            case Fault.TORN_WAL_TAIL | Fault.WAL_BITFLIP | Fault.SNAPSHOT_BITFLIP:
                return await self._damage(fault, self._pick(self._up()))
            case Fault.STEP_MODE:
                return await self._step_mode()
            case Fault.CRASH_POINT:
                return await self._crash_point(self._pick(self._up()))

    async def _kill(self, names: list[str], role: str) -> _Injected:
        for name in names:
            await self.playground.kill(name)
        return _Injected(f"killed {', '.join(names)} ({role})", partial(self._restart_all, names))

    async def _restart_all(self, names: list[str]) -> None:
        for name in names:
            if self.playground.state(name) == "down":
                await self.playground.restart(name)

    async def _pause(self, name: str) -> _Injected:
        await self.playground.pause(name)

        async def resume() -> None:
            if self.playground.state(name) == "paused":
                await self.playground.resume(name)

        return _Injected(f"paused {name} (SIGSTOP)", resume)

    async def _partition(self, group: list[str], role: str) -> _Injected:
        await self.playground.partition([group])
        rest = sorted(n for n in self.playground.members if n not in group)
        return _Injected(
            f"partitioned {', '.join(group)} ({role}) from {', '.join(rest)}",
            self.playground.heal,
        )

    async def _bridge(self) -> _Injected:
        names = sorted(self.playground.members)
        if len(names) < 3:
            raise _Skip("a bridge needs at least 3 members")
        bridge = self._pick(names)
        others = [n for n in names if n != bridge]
        self._rng.shuffle(others)
        left, right = sorted(others[: len(others) // 2]), sorted(others[len(others) // 2 :])
        sides = [(left, right), (right, left)]
        ids = {name: self._member_id(name) for name in others}
        try:
            for side, far in sides:
                far_ids = [ids[n] for n in far]
                for name in side:
                    await self._fault_call(name, partial(_isolate_from, far_ids))
        except BaseException:
            await self.playground.heal()
            raise
        return _Injected(
            f"bridge: {', '.join(left)} | {bridge} | {', '.join(right)} "
            f"({bridge} alone sees both sides)",
            self.playground.heal,
        )

    async def _link_delay(self, name: str) -> _Injected:
        delay_ms = self._rng.choice((50, 100, 200, 400))
        await self.playground.slow(name, delay_ms)
        return _Injected(f"delayed every link of {name} by {delay_ms} ms", self.playground.heal)

    async def _link_drop(self, name: str) -> _Injected:
        ratio = self._rng.choice((0.2, 0.4, 0.6))
        others = [n for n in sorted(self.playground.members) if n != name]
        ids = {n: self._member_id(n) for n in [name, *others]}
        try:
            await self._fault_call(name, partial(_drop, [ids[n] for n in others], ratio))
            for other in others:
                if self.playground.state(other) == "up":
                    await self._fault_call(other, partial(_drop, [ids[name]], ratio))
        except BaseException:
            await self.playground.heal()
            raise
        return _Injected(
            f"dropping {ratio:.0%} of the messages on every link of {name}", self.playground.heal
        )

    async def _fsync_delay(self, name: str) -> _Injected:
        delay_ms = self._rng.choice((20, 50, 100, 200))
        await self._fault_call(name, partial(_delay_fsync, delay_ms))
        return _Injected(
            f"delayed every WAL fsync of {name} by {delay_ms} ms", self.playground.heal
        )

    async def _step_mode(self) -> _Injected:
        """Hold the cluster, then step it in rounds while the fault is held: every member's
        clock moves a tick, and the held messages are delivered in a shuffled order, a share
        of them dropped. Undoing it releases the cluster, delivering what is still held."""
        step_mode = self.playground.step_mode
        drop_ratio = self._rng.choice(STEP_DROP_RATIOS)
        try:
            await step_mode.hold()
        except BaseException:
            await step_mode.release()
            raise

        async def step_rounds() -> None:
            while True:
                held = [message.ref for message in (await step_mode.held()).held]
                self._rng.shuffle(held)
                dropped = [ref for ref in held if self._rng.random() < drop_ratio]
                if dropped:
                    await step_mode.drop_each(dropped)
                delivered = [ref for ref in held if ref not in dropped]
                if delivered:
                    await step_mode.deliver_each(delivered)
                for name in self._up():
                    await step_mode.tick(name, STEP_ROUND_TICKS, settle=False)

        return _Injected(
            f"step mode: held the cluster, delivering in a shuffled order, "
            f"dropping {drop_ratio:.0%}",
            self._release,
            step_rounds,
        )

    async def _crash_point(self, name: str) -> _Injected:
        """Arm a crash point on `name` to panic once and drive the member to it; held until
        the member dies there, then undone by restarting it (or disarming an unreached point)."""
        point = self._rng.choice(sorted(self.crash_points))
        await self._fault_call(name, partial(_arm_once, point))
        try:
            if point.startswith("defrag"):
                await self._fault_call(name, _defragment)
            elif point.startswith("compact"):
                await self._fault_call(name, _compact_behind)
            elif point in SNAPSHOT_POINTS and self.snapshot_count:
                with anyio.fail_after(SNAPSHOT_DRIVE_TIMEOUT):
                    await self._with_client(
                        [self.playground.member(name).native_endpoint],
                        partial(_propose_entries, self.snapshot_count),
                    )
        except NEMESIS_FAILURES:
            pass  # the member died under the call, as it was meant to
        record = self.current

        async def until_dead() -> None:
            while self.playground.state(name) != "down":  # noqa: ASYNC110 - polls a process
                await anyio.sleep(CRASH_POLL_S)
            if record is not None:
                record.detail += "; it died there"
                self.on_change(record)
            await anyio.sleep_forever()

        return _Injected(
            f"armed {point} on {name} to panic once",
            partial(self._after_crash_point, name, point),
            until_dead,
        )

    async def _after_crash_point(self, name: str, point: str) -> None:
        """Restart the member that died at its crash point, or disarm the point it never
        reached."""
        if self.playground.state(name) == "up":
            try:
                await self._fault_call(name, partial(_disarm, point))
                return
            except NEMESIS_FAILURES:
                if self.playground.state(name) == "up":
                    raise
        if self.playground.state(name) == "down":
            await self.playground.restart(name)

    async def _release(self) -> None:
        await self.playground.step_mode.release()

    async def _churn(self, name: str) -> _Injected:
        """Remove `name`, add a fresh member as a learner and promote it once in sync: the
        whole change happens here, the hold follows it. When a step's reply is lost, the
        fault is held all the same and undoing it makes the membership whole again."""
        if len(self.playground.members) < 2:
            raise _Skip("membership churn needs at least 2 members")
        try:
            await self.playground.remove_node(name)
        except OutcomeUnknown as lost:
            return _Injected(f"removing {name}: {lost}", self._regrow)
        try:
            added = await self.playground.add_node(learner=True)
            await self._promote(added)
        except NEMESIS_FAILURES as failure:
            return _Injected(
                f"removed {name}; its replacement is not in yet: {_reason(failure)}",
                self._regrow,
            )
        return _Injected(f"removed {name}, added {added} as a learner and promoted it", _nothing)

    async def _promote(self, name: str) -> None:
        member_id = self._member_id(name)
        endpoints = [self.playground.member(n).native_endpoint for n in self._up() if n != name]
        with anyio.fail_after(PROMOTE_TIMEOUT):
            await self._with_client(endpoints, partial(_promote_when_in_sync, member_id))
        self.playground.member(name).learner = False

    async def _damage(self, fault: Fault, name: str) -> _Injected:
        data_dir = Path(self.playground.member(name).data_dir)
        if fault is Fault.SNAPSHOT_BITFLIP and not disk_faults.snapshot_files(data_dir):
            raise _Skip(f"member {name} has no snapshot file yet")
        await self.playground.kill(name)
        if fault is Fault.TORN_WAL_TAIL:
            damage = disk_faults.tear_wal_tail(data_dir)
        elif fault is Fault.WAL_BITFLIP:
            damage = disk_faults.flip_wal_bit(data_dir, self._rng)
        else:
            damage = disk_faults.flip_snapshot_bit(data_dir, self._rng)
        if damage is None:
            await self.playground.restart(name)
            raise _Skip(f"member {name} has nothing to damage yet")
        return await self._start_damaged(fault, name, damage)

    async def _start_damaged(self, fault: Fault, name: str, damage: Damage) -> _Injected:
        """Start the damaged member and judge what it did. One that refused stays down
        while the fault is held; undoing it restores the file and starts it again."""
        what = f"{name}: {damage.description}"
        try:
            await self.playground.restart(name)
        except PlaygroundError as refusal:
            if fault is Fault.TORN_WAL_TAIL:
                self._violation("torn WAL tail", name, f"did not repair {what}: {refusal}")
            elif fault is Fault.WAL_BITFLIP and damage.path.name not in str(refusal):
                self._violation(
                    "corrupt WAL", name, f"refused to start without naming the file: {refusal}"
                )
            return _Injected(
                f"{what}; refused to start ({refusal})", partial(self._repair, name, damage)
            )
        if fault is Fault.WAL_BITFLIP:
            self._violation("corrupt WAL", name, f"started and served after {what}")
            outcome = "started anyway (violation)"
        elif fault is Fault.TORN_WAL_TAIL:
            outcome = "repaired the tail and started"
        else:
            outcome = "set the snapshot aside and started"
        return _Injected(f"{what}; {outcome}", _nothing)

    async def _repair(self, name: str, damage: Damage) -> None:
        """Restore a file the member refused to start from, and start it."""
        damage.undo()
        await self.playground.restart(name)

    # -- making the cluster whole ------------------------------------------------------------

    async def restore(self) -> bool:
        """Heal the network, resume and restart every member, bring the voting members back
        to `members`, and wait for a leader; False (and a violation) when it cannot.

        Each step is tried again for up to RESTORE_TIMEOUT: a membership change asked for
        while a leader is being elected times out, as it does with etcd."""
        error: BaseException | None = None
        with anyio.move_on_after(RESTORE_TIMEOUT):
            while True:
                try:
                    await self._regrow()
                    await self.playground.wait_for_leader()
                    return True
                except NEMESIS_FAILURES as failure:
                    error = failure
                await anyio.sleep(1.0)
        self._violation("recovery", "cluster", f"could not be made whole: {_reason(error)}")
        return False

    async def _regrow(self) -> None:
        """Make the playground and the cluster agree on the members, every member run, and
        the voting members number `members` again (promoting learners, adding voters)."""
        await self._settle()
        await self.playground.wait_for_leader()
        await self._reconcile_members()
        await self._settle(strict=True)
        for name, member in sorted(self.playground.members.items()):
            if member.learner:
                await self._promote(name)
        while len(self.playground.members) < self.members:
            await self.playground.add_node()

    async def _reconcile_members(self) -> None:
        """After a membership change whose reply was lost: remove from the cluster a member
        the playground never started, and drop from the playground a member the cluster
        no longer has."""
        endpoints = [self.playground.member(n).native_endpoint for n in self._up()]
        listed: list[int] = []

        async def list_members(client: Client) -> None:
            listed.extend(member.ID for member in (await client.member_list()).members)

        with anyio.fail_after(FAULT_CALL_TIMEOUT):
            await self._with_client(endpoints, list_members)
        known = {member.id: name for name, member in self.playground.members.items()}
        for member_id in listed:
            if member_id not in known:
                with anyio.fail_after(FAULT_CALL_TIMEOUT):
                    await self._with_client(endpoints, partial(_remove_member, member_id))
        for member_id, name in sorted(known.items(), key=lambda item: item[1]):
            if member_id and member_id not in listed:
                await self.playground.remove_node(name)

    async def _settle(self, strict: bool = False) -> None:
        """Resume paused members, restart the ones down and heal the network; errors are
        raised only when `strict` (after a fault that failed halfway, this is best effort)."""
        try:
            for name in sorted(self.playground.members):
                state = self.playground.state(name)
                if state == "paused":
                    await self.playground.resume(name)
                elif state == "down":
                    await self.playground.restart(name)
            await self.playground.heal()
            await self.playground.step_mode.release()
        except NEMESIS_FAILURES:
            if strict:
                raise


class FaultSchedule:
    """Every selected fault once per round, each round shuffled from the nemesis' generator."""

    def __init__(self, faults: Sequence[Fault], rng: random.Random) -> None:
        self._faults = list(faults)
        self._rng = rng
        self._round: list[Fault] = []

    def next(self) -> Fault:
        """The next fault to inject."""
        if not self._round:
            self._round = list(self._faults)
            self._rng.shuffle(self._round)
        return self._round.pop(0)


def _reason(error: BaseException | None) -> str:
    """An error as one line; an exception group as its innermost errors."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in error.exceptions)
    return str(error) or type(error).__name__


async def _with_client(
    endpoints: list[str], call: Callable[[Client], Awaitable[object]], tls: ClientTls | None
) -> None:
    """Run `call` with a client of `endpoints` (dialing with `tls`); its failure is raised as
    it is (a client's task group would wrap it in an exception group), unless the caller
    cancelled the call: then what it met on the way out is not its outcome."""
    failure: Exception | None = None
    async with await Client.connect(endpoints, timeout=FAULT_CALL_TIMEOUT, tls=tls) as client:
        try:
            await call(client)
        except NEMESIS_FAILURES as error:
            failure = error
    if failure is not None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        raise failure


async def _promote_when_in_sync(member_id: int, client: Client) -> None:
    """MemberPromote, asked again while the learner is not yet in sync with the leader."""
    while True:
        try:
            await client.member_promote(member_id)
            return
        except LearnerNotReady:
            await anyio.sleep(0.5)


async def _nothing() -> None:
    return None


async def _remove_member(member_id: int, client: Client) -> None:
    await client.member_remove(member_id)


async def _isolate_from(peer_ids: list[int], client: Client) -> None:
    await client.fault(FaultKind.ISOLATE, peer_ids=peer_ids)


async def _drop(peer_ids: list[int], ratio: float, client: Client) -> None:
    await client.fault(FaultKind.LINK, peer_ids=peer_ids, drop_ratio=ratio)


async def _arm_once(point: str, client: Client) -> None:
    await client.fault(FaultKind.FAILPOINT, failpoint=point, terms="1*panic")


async def _disarm(point: str, client: Client) -> None:
    await client.fault(FaultKind.FAILPOINT, failpoint=point, terms="off")


async def _propose_entries(count: int, client: Client) -> None:
    """`count` raft entries that change nothing: alarm lists, which go through raft as
    etcd's do, so every member's log (and its next snapshot) moves on without a revision."""
    left = count

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.alarm()

    async with anyio.create_task_group() as callers:
        for _ in range(SNAPSHOT_DRIVE_CALLERS):
            callers.start_soon(caller)


async def _defragment(client: Client) -> None:
    await client.defragment()


async def _compact_behind(client: Client) -> None:
    """Compact a little behind the member's revision (the workload's readers stay ahead)."""
    revision = (await client.get("\0", serializable=True)).header.revision
    await client.compact(max(1, revision - COMPACT_BEHIND))


async def _delay_fsync(delay_ms: int, client: Client) -> None:
    await client.fault(FaultKind.FSYNC_DELAY, delay_ms=delay_ms)
