"""The playground supervisor: a local cluster of real etcd-node processes you can break on purpose.

A playground lives in one directory: `playground.json` records every member (flags, ports,
pid, id) so any process can attach to it, and `<name>/` is each member's data dir with its
`stdout.log`. Members run detached, in their own sessions, and outlive the command that
started them. Kill, restart, pause and resume act on the processes; partition, heal and slow
links go through each member's fault-injection admin call; add and remove go through the
Cluster API. Everything else about a member is learned through `node.client`, never by
importing node internals. A member that dies stays down until the user restarts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Literal, TypeVar

import anyio

from console.ports import LOOPBACK, free_ports
from node.client import Client, ConnectionLost, DeadlineExceeded, Response
from node.errors import (
    EtcdError,
    MemberNotFound,
    Timeout,
    TimeoutDueToConnectionLost,
    TimeoutDueToLeaderFail,
)

PLAYGROUND_FILE = "playground.json"
DEFAULT_DIRECTORY = ".etcd-console"
MIN_MEMBERS, MAX_MEMBERS = 1, 7
DEFAULT_MEMBERS = 3
START_TIMEOUT = 30.0
"""Seconds a started or restarted member gets to serve, and a new cluster to elect a leader."""
STOP_TIMEOUT = 5.0
"""Seconds a member gets to exit after SIGTERM before it is killed."""
CALL_TIMEOUT = 2.0
"""Seconds one status or fault call to a member may take."""
RECONFIG_TIMEOUT = 10.0
"""Seconds a MemberAdd or MemberRemove may take (etcd's request timeout is 5 s + 2 elections)."""
_POLL_INTERVAL = 0.05
_FORMAT_VERSION = 1

MemberState = Literal["up", "down", "paused"]
_Result = TypeVar("_Result")


class FaultKind(IntEnum):
    """The kinds of the native Admin.Fault call, by their wire numbers."""

    ISOLATE = 0
    LINK = 1
    HEAL = 5


class PlaygroundError(Exception):
    """A supervisor operation that failed; the message is one plain line meant for the user."""


class OutcomeUnknown(PlaygroundError):
    """A call whose reply never came: the change it asked for may or may not have been made."""


@dataclass(slots=True)
class MemberRecord:
    """One member as playground.json records it: how it is started and where it listens."""

    name: str
    data_dir: str
    client_port: int
    peer_port: int
    native_port: int
    args: list[str]
    """The etcd-node flags it is (re)started with."""
    pid: int = 0
    id: int = 0
    """Its member id, known once it answered a status call or MemberAdd named it."""
    learner: bool = False

    @property
    def client_url(self) -> str:
        """Its etcd v3 gRPC URL (what etcdctl's --endpoints takes)."""
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        """Its peer URL, as the cluster's membership knows it."""
        return f"http://{LOOPBACK}:{self.peer_port}"

    @property
    def native_endpoint(self) -> str:
        """Its native protocol endpoint (what node.client connects to)."""
        return f"{LOOPBACK}:{self.native_port}"


@dataclass(slots=True)
class MemberStatus:
    """What `status` shows of one member: its process, and its raft state when it answers."""

    name: str
    id: int
    pid: int
    state: MemberState
    endpoint: str
    role: str = ""
    """leader, follower or learner; empty when the member did not answer."""
    leader: int = 0
    term: int = 0
    raft_index: int = 0
    applied_index: int = 0
    error: str = ""
    """Why a member that is up did not answer, if it did not."""


@dataclass(slots=True)
class Faults:
    """The network faults in force, so a member that comes back gets them again."""

    partition: list[list[str]] = field(default_factory=list)
    slow: dict[str, int] = field(default_factory=dict)
    """Member name -> delay in ms on every link to and from it."""


class Playground:
    """A local cluster of etcd-node processes in one directory, and the faults done to it.

    `await Playground(dir).start()` starts a new cluster (or the stopped one recorded in dir);
    `Playground.attach(dir)` picks up a playground another process started. Every operation
    raises PlaygroundError with a one-line message when it cannot be done.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        members: int | None = None,
        *,
        heartbeat_interval_ms: int = 100,
        election_timeout_ms: int = 1000,
    ) -> None:
        if members is not None and not MIN_MEMBERS <= members <= MAX_MEMBERS:
            raise PlaygroundError(
                f"--members must be between {MIN_MEMBERS} and {MAX_MEMBERS}, got {members}"
            )
        self.directory = Path(directory).resolve()
        self.requested_members = members
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.token = ""
        self.running = False
        self.members: dict[str, MemberRecord] = {}
        self.faults = Faults()
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- the record in playground.json ------------------------------------------------------

    @property
    def record_path(self) -> Path:
        """Where the playground is recorded."""
        return self.directory / PLAYGROUND_FILE

    @classmethod
    def attach(cls, directory: str | os.PathLike[str]) -> Playground:
        """The playground recorded in `directory`, whoever started it."""
        playground = cls(directory)
        if not playground.record_path.exists():
            raise PlaygroundError(
                f"no playground in {playground.directory}: start one with etcd-console up"
            )
        playground._load()
        return playground

    def _load(self) -> None:
        try:
            recorded = json.loads(self.record_path.read_text())
            self.token = recorded["token"]
            self.running = recorded["state"] == "running"
            self.heartbeat_interval_ms = recorded["heartbeat_interval_ms"]
            self.election_timeout_ms = recorded["election_timeout_ms"]
            self.members = {
                member["name"]: MemberRecord(**member) for member in recorded["members"]
            }
            self.faults = Faults(**recorded["faults"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PlaygroundError(
                f"{self.record_path} is not a playground record ({error})"
            ) from None

    def _save(self) -> None:
        recorded = {
            "version": _FORMAT_VERSION,
            "state": "running" if self.running else "stopped",
            "token": self.token,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "election_timeout_ms": self.election_timeout_ms,
            "members": [asdict(member) for member in self.members.values()],
            "faults": asdict(self.faults),
        }
        partial = self.record_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(recorded, indent=2) + "\n")
        partial.replace(self.record_path)

    # -- looking at members -----------------------------------------------------------------

    def member(self, name: str) -> MemberRecord:
        """The record of member `name`."""
        try:
            return self.members[name]
        except KeyError:
            known = ", ".join(self.members) or "none"
            raise PlaygroundError(
                f"no member named {name!r} in the playground (members: {known})"
            ) from None

    def state(self, name: str) -> MemberState:
        """Whether member `name`'s process runs (up), is stopped by SIGSTOP (paused) or is gone."""
        record = self.member(name)
        if record.pid == 0:
            return "down"
        child = self._children.get(record.pid)
        if child is None:
            return _process_state(record.pid, record.data_dir)
        run_state = "down" if child.poll() is not None else _run_state(record.pid)
        if run_state == "down":
            child.wait()  # a zombie by now: reap it, so its pid is gone
            del self._children[record.pid]
        return run_state

    def native_endpoints(self) -> list[str]:
        """Every member's native endpoint, for a client of the whole cluster."""
        return [member.native_endpoint for member in self.members.values()]

    def client_urls(self) -> list[str]:
        """Every member's gRPC URL, for etcdctl --endpoints."""
        return [member.client_url for member in self.members.values()]

    async def statuses(self) -> list[MemberStatus]:
        """One status per member, asking every running member at once."""
        results: dict[str, MemberStatus] = {}

        async def ask(record: MemberRecord) -> None:
            results[record.name] = await self._status_of(record)

        async with anyio.create_task_group() as group:
            for record in self.members.values():
                group.start_soon(ask, record)
        return [results[name] for name in self.members]

    async def _status_of(self, record: MemberRecord) -> MemberStatus:
        state = self.state(record.name)
        status = MemberStatus(
            name=record.name, id=record.id, pid=record.pid, state=state, endpoint=record.client_url
        )
        if state != "up":
            return status
        try:
            reply = await self._call(record, lambda client: client.status())
        except PlaygroundError as error:
            status.error = str(error)
            return status
        record.id = status.id = reply.header.member_id
        record.learner = reply.isLearner
        status.leader, status.term = reply.leader, reply.raftTerm
        status.raft_index, status.applied_index = reply.raftIndex, reply.raftAppliedIndex
        if reply.leader == record.id:
            status.role = "leader"
        else:
            status.role = "learner" if reply.isLearner else "follower"
        return status

    async def wait_for_leader(
        self, timeout: float = START_TIMEOUT, *, everyone: bool = False
    ) -> str:
        """The name of the leader once a majority of the voting members (or all) follow it."""
        with anyio.move_on_after(timeout):
            while True:
                leader = _agreed_leader(await self.statuses(), everyone)
                if leader is not None:
                    return leader
                await anyio.sleep(_POLL_INTERVAL)
        raise PlaygroundError(f"no leader elected within {timeout:g} s")

    # -- starting and stopping the playground ------------------------------------------------

    async def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the cluster and wait until every member follows one leader; returns its name.

        A directory without a playground gets a new cluster of `members` members (3 unless
        given); a stopped playground is started again with its data. If the cluster does not
        come up, every member started is stopped again.
        """
        if self.record_path.exists():
            self._load()
            self._check_can_start_again()
        else:
            self._create(self.requested_members or DEFAULT_MEMBERS)
        self.running = True
        try:
            for record in self.members.values():
                self._spawn(record)
            self._save()
            try:
                with anyio.fail_after(timeout):
                    await self._wait_until_each_answers(self.members.values())
            except TimeoutError:
                raise PlaygroundError(
                    f"the cluster did not come up within {timeout:g} s; "
                    f"see the stdout.log files in {self.directory}"
                ) from None
            self._save()
            return await self.wait_for_leader(timeout, everyone=True)
        except PlaygroundError:
            await self.stop()
            raise

    def _check_can_start_again(self) -> None:
        running = [name for name in self.members if self.state(name) != "down"]
        if running:
            raise PlaygroundError(
                f"a playground is already running in {self.directory}: "
                "stop it with etcd-console down"
            )
        wanted = self.requested_members
        if wanted is not None and wanted != len(self.members):
            raise PlaygroundError(
                f"the playground in {self.directory} has {len(self.members)} members, not "
                f"{wanted}: start it without --members, or use another --dir"
            )
        self.faults = Faults()

    def _create(self, count: int) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PlaygroundError(f"cannot create {self.directory}: {error.strerror}") from None
        names = [f"n{index}" for index in range(1, count + 1)]
        for name in names:
            data_dir = self.directory / name
            if data_dir.is_dir() and any(data_dir.iterdir()):
                raise PlaygroundError(
                    f"{data_dir} already holds data but {self.record_path} is missing: "
                    "remove the directory or use another --dir"
                )
        self.token = f"etcd-console-{uuid.uuid4().hex[:16]}"
        ports = free_ports(3 * count)
        peers = {
            name: f"http://{LOOPBACK}:{ports[3 * index + 1]}" for index, name in enumerate(names)
        }
        initial_cluster = ",".join(f"{name}={url}" for name, url in peers.items())
        for index, name in enumerate(names):
            client, peer, native = ports[3 * index : 3 * index + 3]
            self.members[name] = self._new_record(
                name, client, peer, native, initial_cluster, state="new"
            )

    def _new_record(
        self, name: str, client: int, peer: int, native: int, initial_cluster: str, state: str
    ) -> MemberRecord:
        data_dir = str(self.directory / name)
        client_url, peer_url = f"http://{LOOPBACK}:{client}", f"http://{LOOPBACK}:{peer}"
        args = [
            "--name", name,
            "--data-dir", data_dir,
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--listen-native-urls", f"http://{LOOPBACK}:{native}",
            "--initial-cluster", initial_cluster,
            "--initial-cluster-state", state,
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", str(self.heartbeat_interval_ms),
            "--election-timeout", str(self.election_timeout_ms),
            "--enable-fault-injection",
        ]  # fmt: skip
        return MemberRecord(name, data_dir, client, peer, native, args)

    async def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL after STOP_TIMEOUT) and mark it stopped."""
        async with anyio.create_task_group() as group:
            for record in self.members.values():
                group.start_soon(self._stop_member, record)
        self.running = False
        self.faults = Faults()
        if self.record_path.exists():
            self._save()

    # -- process faults ------------------------------------------------------------------------

    async def kill(self, name: str) -> None:
        """SIGKILL member `name`, as a crash: it stays down until restarted."""
        record = self._running_member(name)
        self._signal(record, signal.SIGKILL)
        if not await self._wait_for_state(record, "down", STOP_TIMEOUT):
            raise PlaygroundError(f"member {name} (pid {record.pid}) survived SIGKILL")

    async def restart(self, name: str, timeout: float = START_TIMEOUT) -> None:
        """Start member `name` again with its flags and data dir (stopping it first if it runs).

        Returns once it serves; the partition and slow links in force apply to it again.
        """
        record = self.member(name)
        self._check_running_playground()
        await self._stop_member(record)
        self._spawn(record)
        self._save()
        await self._wait_until_serving(record, timeout)
        if self._has_faults():
            await self._apply_faults(record)

    async def pause(self, name: str) -> None:
        """SIGSTOP member `name`: it keeps its sockets but answers nothing until resumed."""
        record = self._running_member(name)
        if self.state(name) == "paused":
            raise PlaygroundError(f"member {name} is already paused")
        self._signal(record, signal.SIGSTOP)
        if not await self._wait_for_state(record, "paused", STOP_TIMEOUT):
            raise PlaygroundError(f"member {name} did not pause")

    async def resume(self, name: str) -> None:
        """SIGCONT a paused member `name`; faults set while it was paused reach it now."""
        record = self.member(name)
        if self.state(name) != "paused":
            raise PlaygroundError(f"member {name} is not paused")
        self._signal(record, signal.SIGCONT)
        if not await self._wait_for_state(record, "up", STOP_TIMEOUT):
            raise PlaygroundError(f"member {name} did not resume")
        if self._has_faults():
            await self._apply_faults(record)

    # -- network faults ------------------------------------------------------------------------

    async def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Cut the cluster into groups that cannot reach each other.

        Members named in no group form one more group together, so `partition([["n1"]])`
        isolates n1 from the rest.
        """
        named: list[list[str]] = []
        seen: set[str] = set()
        for group in groups:
            members = list(group)
            for name in members:
                self.member(name)
                if name in seen:
                    raise PlaygroundError(f"member {name} is in two groups")
                seen.add(name)
            if members:
                named.append(members)
        rest = [name for name in self.members if name not in seen]
        if rest:
            named.append(rest)
        if len(named) < 2:
            raise PlaygroundError("a partition needs at least two groups of members")
        self._check_running_playground()
        self.faults.partition = named
        self._save()
        await self._apply_faults_everywhere()

    async def heal(self) -> None:
        """Remove every partition and slow link."""
        self._check_running_playground()
        self.faults = Faults()
        self._save()
        await self._apply_faults_everywhere()

    async def slow(self, name: str, delay_ms: int) -> None:
        """Delay every message to and from member `name` by `delay_ms` (0 takes the delay off)."""
        self.member(name)
        if delay_ms < 0:
            raise PlaygroundError(f"a delay cannot be negative, got {delay_ms} ms")
        self._check_running_playground()
        if delay_ms:
            self.faults.slow[name] = delay_ms
        else:
            self.faults.slow.pop(name, None)
        self._save()
        await self._apply_faults_everywhere()

    def _has_faults(self) -> bool:
        return bool(self.faults.partition or self.faults.slow)

    async def _apply_faults_everywhere(self) -> None:
        """Give every running member the faults in force; paused and down ones get them later."""
        async with anyio.create_task_group() as group:
            for record in self.members.values():
                if self.state(record.name) == "up":
                    group.start_soon(self._apply_faults, record)

    async def _apply_faults(self, record: MemberRecord) -> None:
        """Replace member `record`'s faults by its share of the playground's faults."""
        isolated, delays = self._faults_of(record.name)

        async def inject(client: Client) -> None:
            await client.fault(kind=FaultKind.HEAL)
            if isolated:
                await client.fault(kind=FaultKind.ISOLATE, peer_ids=isolated)
            for delay_ms, peer_ids in delays.items():
                await client.fault(kind=FaultKind.LINK, peer_ids=peer_ids, delay_ms=delay_ms)

        await self._call(record, inject)

    def _faults_of(self, name: str) -> tuple[list[int], dict[int, list[int]]]:
        """The peer ids member `name` is cut off from, and its slow links: delay ms -> peer ids."""
        own_group = next((group for group in self.faults.partition if name in group), None)
        isolated = [
            peer.id
            for peer in self.members.values()
            if own_group is not None and peer.name not in own_group and peer.id
        ]
        delays: dict[int, list[int]] = {}
        for peer in self.members.values():
            if peer.name == name or not peer.id:
                continue
            delay = max(self.faults.slow.get(name, 0), self.faults.slow.get(peer.name, 0))
            if delay:
                delays.setdefault(delay, []).append(peer.id)
        return isolated, delays

    # -- membership ----------------------------------------------------------------------------

    async def add_node(self, learner: bool = False, timeout: float = START_TIMEOUT) -> str:
        """Add a member through MemberAdd and start its process; returns its name.

        It joins with `--initial-cluster-state existing` on new free ports, as a learner if
        asked, and this returns once it serves. Under a partition it joins the largest side.
        """
        self._check_running_playground()
        name = self._next_name()
        client_port, peer_port, native_port = free_ports(3)
        peer_url = f"http://{LOOPBACK}:{peer_port}"
        try:
            membership = await self._call_cluster(
                lambda client: client.member_add([peer_url], is_learner=learner)
            )
        except OutcomeUnknown as lost:
            membership = await self._membership_after_lost_add(peer_url, lost)
        added_id = next(member.ID for member in membership.members if peer_url in member.peerURLs)
        names_by_id = {member.id: member.name for member in self.members.values()}
        names_by_id[added_id] = name
        initial_cluster = ",".join(
            f"{member.name or names_by_id[member.ID]}={url}"
            for member in membership.members
            if member.name or member.ID in names_by_id
            for url in member.peerURLs
        )
        record = self._new_record(
            name, client_port, peer_port, native_port, initial_cluster, state="existing"
        )
        record.id, record.learner = added_id, learner
        self.members[name] = record
        if self.faults.partition:
            max(self.faults.partition, key=len).append(name)
        self._spawn(record)
        self._save()
        await self._wait_until_serving(record, timeout)
        await self._wait_until_published(record, timeout)
        if self._has_faults():
            await self._apply_faults_everywhere()
        return name

    async def _membership_after_lost_add(self, peer_url: str, lost: OutcomeUnknown) -> Response:
        """The member list, if it shows that the MemberAdd of `peer_url` whose reply was lost
        was made; else `lost` again, saying how to undo the add should it be made later."""
        with contextlib.suppress(PlaygroundError):
            listed = await self._call_cluster(lambda client: client.member_list())
            if any(peer_url in member.peerURLs for member in listed.members):
                return listed
        raise OutcomeUnknown(
            f"{lost}; if member list shows {peer_url} later, remove it with member remove ID"
        ) from None

    async def remove_node(self, name: str) -> None:
        """Remove member `name` through MemberRemove, then stop its process.

        A member the cluster has already removed (say, by a MemberRemove whose reply was lost)
        is only stopped and dropped from the playground. The leader is asked first, even when
        it is the member removed (as etcd, it answers before it stops): a member that joined
        a moment ago may not know the membership yet.
        """
        record = self.member(name)
        self._check_running_playground()
        if not record.id:
            raise PlaygroundError(f"member {name} has not told its id yet: try again")
        leader = _agreed_leader(await self.statuses(), everyone=False)
        asked = sorted(self.members.values(), key=lambda m: (m.name != leader, m.name == name))

        async def remove(client: Client) -> None:
            with contextlib.suppress(MemberNotFound):
                await client.member_remove(record.id)

        await self._call_cluster(remove, among=asked)
        await self._stop_member(record)
        del self.members[name]
        self.faults.slow.pop(name, None)
        groups = ([member for member in group if member != name] for group in self.faults.partition)
        self.faults.partition = [group for group in groups if group]
        self._save()

    def _next_name(self) -> str:
        index = len(self.members) + 1
        while f"n{index}" in self.members or (self.directory / f"n{index}").exists():
            index += 1
        return f"n{index}"

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, record: MemberRecord) -> None:
        """Start member `record`'s process, detached, its output appended to its stdout.log."""
        data_dir = Path(record.data_dir)
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("ETCD_")
        }
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(data_dir / "stdout.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "node", *record.args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    env=environment,
                    start_new_session=True,
                )
        except OSError as error:
            raise PlaygroundError(f"cannot start member {record.name}: {error}") from None
        record.pid = process.pid
        self._children[process.pid] = process

    def _signal(self, record: MemberRecord, signum: signal.Signals) -> None:
        """Send `signum` to the member's process, if that pid is still the member's."""
        if self.state(record.name) == "down":
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signum)

    async def _stop_member(self, record: MemberRecord) -> None:
        """SIGTERM the member (continuing it if paused), SIGKILL it if it lingers."""
        if self.state(record.name) == "down":
            return
        self._signal(record, signal.SIGTERM)
        self._signal(record, signal.SIGCONT)
        if await self._wait_for_state(record, "down", STOP_TIMEOUT):
            return
        self._signal(record, signal.SIGKILL)
        if not await self._wait_for_state(record, "down", STOP_TIMEOUT):
            raise PlaygroundError(f"member {record.name} (pid {record.pid}) did not stop")

    async def _wait_for_state(
        self, record: MemberRecord, state: MemberState, timeout: float
    ) -> bool:
        with anyio.move_on_after(timeout):
            while self.state(record.name) != state:
                await anyio.sleep(_POLL_INTERVAL)
            return True
        return False

    def _running_member(self, name: str) -> MemberRecord:
        record = self.member(name)
        if self.state(name) == "down":
            raise PlaygroundError(f"member {name} is not running")
        return record

    def _check_running_playground(self) -> None:
        if not self.running:
            raise PlaygroundError(
                f"the playground in {self.directory} is stopped: start it with etcd-console up"
            )

    async def _wait_until_serving(self, record: MemberRecord, timeout: float) -> None:
        try:
            with anyio.fail_after(timeout):
                await self._wait_until_each_answers([record])
        except TimeoutError:
            raise PlaygroundError(
                f"member {record.name} did not serve within {timeout:g} s; "
                f"see {record.data_dir}/stdout.log"
            ) from None

    async def _wait_until_published(self, record: MemberRecord, timeout: float) -> None:
        """Wait until the others list the member by its name: etcd counts it as started only
        then, and refuses a reconfiguration that needs it until it is."""

        async def published(client: Client) -> bool:
            members = (await client.member_list()).members
            return any(record.id == member.ID and member.name for member in members)

        others = [member for member in self.members.values() if member is not record]
        with anyio.move_on_after(timeout):
            while not await self._call_cluster(published, among=others):
                await anyio.sleep(_POLL_INTERVAL)
            return
        raise PlaygroundError(f"member {record.name} did not publish its name within {timeout:g} s")

    async def _wait_until_each_answers(self, records: Iterable[MemberRecord]) -> None:
        """Wait until every member answers a status call; PlaygroundError if one exits."""
        waiting = list(records)
        while waiting:
            for record in list(waiting):
                if self.state(record.name) == "down":
                    raise PlaygroundError(f"member {record.name} exited: {_last_log_line(record)}")
                status = await self._status_of(record)
                if status.role:
                    waiting.remove(record)
            if waiting:
                await anyio.sleep(_POLL_INTERVAL)

    # -- talking to members ------------------------------------------------------------------

    async def _call(
        self, record: MemberRecord, call: Callable[[Client], Awaitable[_Result]]
    ) -> _Result:
        """Run `call` with a client of member `record` alone."""
        endpoints = [record.native_endpoint]
        return await _call_endpoints(endpoints, call, f"member {record.name}", CALL_TIMEOUT)

    async def _call_cluster(
        self,
        call: Callable[[Client], Awaitable[_Result]],
        among: Iterable[MemberRecord] | None = None,
    ) -> _Result:
        """Run `call` with a client of every running member (of `among`, if given)."""
        candidates = self.members.values() if among is None else among
        endpoints = [m.native_endpoint for m in candidates if self.state(m.name) == "up"]
        if not endpoints:
            raise PlaygroundError("no member is running to ask")
        return await _call_endpoints(endpoints, call, "the cluster", RECONFIG_TIMEOUT)


_CALL_FAILURES = (TimeoutError, EtcdError, OSError)
"""How a call to members fails; anything else is a bug or a cancellation, and goes on up."""
_LOST_REPLIES = (
    DeadlineExceeded,
    ConnectionLost,
    Timeout,
    TimeoutDueToLeaderFail,
    TimeoutDueToConnectionLost,
)
"""etcd's errors for a request that may have been applied although it failed."""


async def _call_endpoints(
    endpoints: list[str], call: Callable[[Client], Awaitable[_Result]], whom: str, timeout: float
) -> _Result:
    """Run `call` with a client of `endpoints`; however it fails, that is one PlaygroundError."""
    try:
        with anyio.fail_after(timeout):
            async with await Client.connect(endpoints, timeout=timeout) as client:
                return await call(client)
    except BaseExceptionGroup as group:
        # The client's task group wraps what the call raised.
        failure = _call_failure_in(group)
        if failure is None:
            raise
        raise _playground_error(failure, whom, timeout) from None
    except _CALL_FAILURES as failure:
        raise _playground_error(failure, whom, timeout) from None


def _call_failure_in(group: BaseExceptionGroup) -> EtcdError | OSError | None:
    """The first failure in `group` if it holds call failures only, else None."""
    failures, others = group.split(_CALL_FAILURES)
    if failures is None or others is not None:
        return None
    failure: BaseException = failures
    while isinstance(failure, BaseExceptionGroup):
        failure = failure.exceptions[0]
    assert isinstance(failure, EtcdError | OSError)
    return failure


def _playground_error(failure: EtcdError | OSError, whom: str, timeout: float) -> PlaygroundError:
    """The one line that says how a call to `whom` failed."""
    if isinstance(failure, TimeoutError):
        return OutcomeUnknown(f"{whom} did not answer within {timeout:g} s")
    if isinstance(failure, _LOST_REPLIES):
        return OutcomeUnknown(f"{whom}: {failure}")
    if isinstance(failure, EtcdError):
        return PlaygroundError(f"{whom}: {failure}")
    return PlaygroundError(f"{whom}: {failure.strerror or failure}")


def _agreed_leader(statuses: list[MemberStatus], everyone: bool) -> str | None:
    """The member that says it leads, if a majority of the voters (or everyone) follow it."""
    voters = [status for status in statuses if status.role != "learner"]
    for status in statuses:
        if status.role != "leader":
            continue
        followers = [s for s in statuses if s.leader == status.id and s.term == status.term]
        if everyone and len(followers) == len(statuses):
            return status.name
        voting = [s for s in followers if s.role != "learner"]
        if not everyone and 2 * len(voting) > len(voters):
            return status.name
    return None


def _process_state(pid: int, data_dir: str) -> MemberState:
    """The state of a pid another process started: "down" unless it still runs this member.

    Its command line must name the member's data dir, in case the pid was reused since.
    """
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "down"
    return _run_state(pid) if os.fsencode(data_dir) in arguments else "down"


def _run_state(pid: int) -> MemberState:
    """A live pid's state from /proc: SIGSTOPped is paused, a zombie is down."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "down"
    code = stat.rpartition(")")[2].split()[0]
    if code in ("Z", "X", "x"):
        return "down"
    return "paused" if code in ("T", "t") else "up"


def _last_log_line(record: MemberRecord) -> str:
    """The last line member `record` wrote, to say why it stopped."""
    log = Path(record.data_dir) / "stdout.log"
    try:
        with open(log, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 4096))
            lines = file.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"no output (see {log})"
