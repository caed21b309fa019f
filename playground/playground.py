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

import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import anyio

from node.client import Client, ClientTls
from playground.certificates import CERTS_DIRECTORY, CLIENT_NAME, CertificateFiles
from playground.errors import PlaygroundError, unknown_member
from playground.faults import Faults, faults_of, inject_faults, partition_groups
from playground.member_call import CALL_TIMEOUT, RECONFIG_TIMEOUT, call_members
from playground.member_process import POLL_INTERVAL, MemberProcesses, MemberState, last_log_line
from playground.membership import (
    add_member,
    joining_initial_cluster,
    next_member_name,
    remove_member,
    wait_until_published,
)
from playground.ports import LOOPBACK, PortClaims
from playground.record import (
    PLAYGROUND_FILE,
    MemberRecord,
    PlaygroundRecord,
    new_member_record,
    scheme,
)
from playground.status import MemberStatus, agreed_leader, describe_statuses
from playground.step_mode import ClusterStepMode

DEFAULT_DIRECTORY = ".etcd-console"
MIN_MEMBERS, MAX_MEMBERS = 1, 7
DEFAULT_MEMBERS = 3
START_TIMEOUT = 30.0
"""Seconds a started or restarted member gets to serve, and a new cluster to elect a leader."""

_Result = TypeVar("_Result")


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
        tls: bool | None = None,
        auth: bool | None = None,
    ) -> None:
        if members is not None and not MIN_MEMBERS <= members <= MAX_MEMBERS:
            raise PlaygroundError(
                f"--members must be between {MIN_MEMBERS} and {MAX_MEMBERS}, got {members}"
            )
        self.directory = Path(directory).resolve()
        self.requested_members = members
        self.requested_tls = tls
        """--tls (True), asked for plaintext (False), or whatever the record says (None)."""
        self.requested_auth = auth
        """--auth (True), asked for auth off (False), or whatever the record says (None)."""
        self.record = PlaygroundRecord(
            token="",
            running=False,
            heartbeat_interval_ms=heartbeat_interval_ms,
            election_timeout_ms=election_timeout_ms,
            tls=bool(tls),
            auth=bool(auth),
        )
        self._processes = MemberProcesses(self.directory)
        self._ports = PortClaims()
        """This playground's claims on its members' ports, passed to each member it starts."""
        self.step_mode = ClusterStepMode(
            lambda: self.members, lambda name: self.state(name) == "up", self.client_tls
        )
        """Step mode over the running members: hold, deliver, drop, tick, release."""

    # -- the record in playground.json ------------------------------------------------------

    @property
    def record_path(self) -> Path:
        """Where the playground is recorded."""
        return self.directory / PLAYGROUND_FILE

    @property
    def members(self) -> dict[str, MemberRecord]:
        """Every member by name, in the order they were added."""
        return self.record.members

    @property
    def faults(self) -> Faults:
        """The network faults in force."""
        return self.record.faults

    @property
    def running(self) -> bool:
        """Whether the playground is started (its members may still be down one by one)."""
        return self.record.running

    @property
    def token(self) -> str:
        """The cluster's --initial-cluster-token, new for every new cluster."""
        return self.record.token

    @classmethod
    def attach(cls, directory: str | os.PathLike[str]) -> Playground:
        """The playground recorded in `directory`, whoever started it."""
        playground = cls(directory)
        if not playground.record_path.exists():
            raise PlaygroundError(
                f"no playground in {playground.directory}: start one with etcd-console up"
            )
        playground.record = PlaygroundRecord.load(playground.record_path)
        return playground

    def _save(self) -> None:
        self.record.save(self.record_path)

    # -- looking at members -----------------------------------------------------------------

    def member(self, name: str) -> MemberRecord:
        """The record of member `name`."""
        try:
            return self.members[name]
        except KeyError:
            raise unknown_member(name, self.members) from None

    def state(self, name: str) -> MemberState:
        """Whether member `name`'s process runs (up), is stopped by SIGSTOP (paused) or is gone."""
        return self._processes.state(self.member(name))

    def native_endpoints(self) -> list[str]:
        """Every member's native endpoint, for a client of the whole cluster."""
        return [member.native_endpoint for member in self.members.values()]

    @property
    def certificates(self) -> CertificateFiles | None:
        """The files of a TLS playground (its CA, member and client certificates), else None."""
        if not self.record.tls:
            return None
        return CertificateFiles.in_directory(self.directory / CERTS_DIRECTORY)

    def client_tls(self) -> ClientTls | None:
        """How a client dials this playground's members: with its client certificate (CN
        root) and CA when it runs TLS, in plaintext otherwise."""
        files = self.certificates
        if files is None:
            return None
        return ClientTls(str(files.ca), str(files.client_cert), str(files.client_key))

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
        state = self._processes.state(record)
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
        self, within: float = START_TIMEOUT, *, everyone: bool = False
    ) -> str:
        """The name of the leader once a majority of the voting members (or all) follow it;
        PlaygroundError if none does `within` seconds."""
        statuses: list[MemberStatus] = []
        with anyio.move_on_after(within):
            while True:
                statuses = await self.statuses()
                leader = agreed_leader(statuses, everyone)
                if leader is not None:
                    return leader
                await anyio.sleep(POLL_INTERVAL)
        raise PlaygroundError(
            f"no leader elected within {within:g} s: {describe_statuses(statuses)}"
        )

    # -- starting and stopping the playground ------------------------------------------------

    async def start(self) -> str:
        """Start the cluster and wait until every member follows one leader; returns its name.

        A directory without a playground gets a new cluster of `members` members (3 unless
        given); a stopped playground is started again with its data. If the cluster does not
        come up within START_TIMEOUT, every member started is stopped again.
        """
        created = not self.record_path.exists()
        if created:
            self._create(self.requested_members or DEFAULT_MEMBERS)
        else:
            self.record = PlaygroundRecord.load(self.record_path)
            self._check_can_start_again()
        self.record.running = True
        try:
            for record in self.members.values():
                self._spawn(record)
            self._save()
            try:
                with anyio.fail_after(START_TIMEOUT):
                    await self._wait_until_each_answers(self.members.values())
            except TimeoutError:
                raise PlaygroundError(
                    f"the cluster did not come up within {START_TIMEOUT:g} s; "
                    f"see the stdout.log files in {self.directory}"
                ) from None
            self._save()
            leader = await self.wait_for_leader(everyone=True)
            if created and self.record.auth:
                await self._turn_auth_on()
            return leader
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
        if self.requested_tls is not None and self.requested_tls != self.record.tls:
            has = "TLS" if self.record.tls else "no TLS"
            raise PlaygroundError(
                f"the playground in {self.directory} runs with {has}: start it "
                f"{'with' if self.record.tls else 'without'} --tls, or use another --dir"
            )
        if self.requested_auth is not None and self.requested_auth != self.record.auth:
            has = "auth on" if self.record.auth else "auth off"
            raise PlaygroundError(
                f"the playground in {self.directory} runs with {has}: start it "
                f"{'with' if self.record.auth else 'without'} --auth, or use another --dir"
            )
        wanted = self.requested_members
        if wanted is not None and wanted != len(self.members):
            raise PlaygroundError(
                f"the playground in {self.directory} has {len(self.members)} members, not "
                f"{wanted}: start it without --members, or use another --dir"
            )
        self.record.faults = Faults()

    def _create(self, count: int) -> None:
        if self.record.auth and not self.record.tls:
            raise PlaygroundError(
                "--auth needs --tls: the playground's root user has no password, its client "
                f"certificate (CN {CLIENT_NAME}) is how one is root"
            )
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
        self.record.token = f"etcd-console-{uuid.uuid4().hex[:16]}"
        if self.record.tls:
            # cryptography is loaded only to make a TLS playground's certificates
            from playground.certificate_authority import make_certificates

            make_certificates(self.directory / CERTS_DIRECTORY)
        ports = self._ports.pick(3 * count)
        url = scheme(self.record.tls)
        peers = {
            name: f"{url}://{LOOPBACK}:{ports[3 * index + 1]}" for index, name in enumerate(names)
        }
        initial_cluster = ",".join(f"{name}={url}" for name, url in peers.items())
        for index, name in enumerate(names):
            client, peer, native = ports[3 * index : 3 * index + 3]
            self.members[name] = new_member_record(
                self.directory, name, (client, peer, native), initial_cluster, "new", self.record
            )

    async def _turn_auth_on(self) -> None:
        """Auth on, as etcd's op-guide/authentication says: a root user holding the root role,
        then `auth enable`. The root user has no password (`user add --no-password`): with
        --client-cert-auth, etcd takes the verified client certificate's CN for the user, and
        the playground's is root."""

        async def enable(client: Client) -> None:
            await client.user_add(CLIENT_NAME, no_password=True)
            await client.role_add("root")
            await client.user_grant_role(CLIENT_NAME, "root")
            await client.auth_enable()

        await self._call_cluster(enable)

    async def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL after STOP_TIMEOUT) and mark it stopped."""
        async with anyio.create_task_group() as group:
            for record in self.members.values():
                group.start_soon(self._processes.stop, record)
        self._ports.release_all()
        self.record.running = False
        self.record.faults = Faults()
        if self.record_path.exists():
            self._save()

    # -- process faults ------------------------------------------------------------------------

    async def kill(self, name: str) -> None:
        """SIGKILL member `name`, as a crash: it stays down until restarted."""
        await self._processes.kill(self._running_member(name))

    async def restart(self, name: str) -> None:
        """Start member `name` again with its flags and data dir (stopping it first if it runs).

        Returns once it serves; the partition and slow links in force apply to it again, and
        it is held if the rest of the cluster is in step mode.
        """
        record = self.member(name)
        self._check_running_playground()
        await self._processes.stop(record)
        self._spawn(record)
        self._save()
        await self._wait_until_serving(record)
        if self.faults.in_force():
            await self._apply_faults(record)
        await self.step_mode.hold_if_held(name)

    async def pause(self, name: str) -> None:
        """SIGSTOP member `name`: it keeps its sockets but answers nothing until resumed."""
        record = self._running_member(name)
        if self.state(name) == "paused":
            raise PlaygroundError(f"member {name} is already paused")
        await self._processes.pause(record)

    async def resume(self, name: str) -> None:
        """SIGCONT a paused member `name`; faults set while it was paused reach it now."""
        record = self.member(name)
        if self.state(name) != "paused":
            raise PlaygroundError(f"member {name} is not paused")
        await self._processes.resume(record)
        if self.faults.in_force():
            await self._apply_faults(record)

    # -- network faults ------------------------------------------------------------------------

    async def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Cut the cluster into groups that cannot reach each other.

        Members named in no group form one more group together, so `partition([["n1"]])`
        isolates n1 from the rest.
        """
        named = partition_groups(groups, self.members)
        self._check_running_playground()
        self.faults.partition = named
        self._save()
        await self._apply_faults_everywhere()

    async def heal(self) -> None:
        """Remove every partition and slow link."""
        self._check_running_playground()
        self.record.faults = Faults()
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

    async def _apply_faults_everywhere(self) -> None:
        """Give every running member the faults in force; paused and down ones get them later."""
        async with anyio.create_task_group() as group:
            for record in self.members.values():
                if self.state(record.name) == "up":
                    group.start_soon(self._apply_faults, record)

    async def _apply_faults(self, record: MemberRecord) -> None:
        """Replace member `record`'s faults by its share of the playground's faults."""
        isolated, delays = faults_of(record.name, self.faults, self.members.values())
        await self._call(record, lambda client: inject_faults(client, isolated, delays))

    # -- membership ----------------------------------------------------------------------------

    async def add_node(self, learner: bool = False) -> str:
        """Add a member through MemberAdd and start its process; returns its name.

        It joins with `--initial-cluster-state existing` on new free ports, as a learner if
        asked, and this returns once it serves. Under a partition it joins the largest side.
        """
        self._check_running_playground()
        name = next_member_name(self.members, self.directory)
        client_port, peer_port, native_port = self._ports.pick(3)
        peer_url = f"{scheme(self.record.tls)}://{LOOPBACK}:{peer_port}"
        membership = await add_member(self._call_cluster, peer_url, learner)
        added_id = next(member.ID for member in membership.members if peer_url in member.peerURLs)
        names_by_id = {member.id: member.name for member in self.members.values()}
        names_by_id[added_id] = name
        record = new_member_record(
            self.directory,
            name,
            (client_port, peer_port, native_port),
            joining_initial_cluster(membership, names_by_id),
            "existing",
            self.record,
        )
        record.id, record.learner = added_id, learner
        self.members[name] = record
        if self.faults.partition:
            max(self.faults.partition, key=len).append(name)
        self._spawn(record)
        self._save()
        await self._wait_until_serving(record)
        others = [member for member in self.members.values() if member is not record]
        try:
            with anyio.fail_after(START_TIMEOUT):
                await wait_until_published(self._call_cluster, record, others)
        except TimeoutError:
            raise PlaygroundError(
                f"member {name} did not publish its name within {START_TIMEOUT:g} s"
            ) from None
        if self.faults.in_force():
            await self._apply_faults_everywhere()
        await self.step_mode.hold_if_held(name)
        return name

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
        leader = agreed_leader(await self.statuses(), everyone=False)
        asked = sorted(self.members.values(), key=lambda m: (m.name != leader, m.name == name))
        await remove_member(self._call_cluster, record.id, asked)
        await self._processes.stop(record)
        self._ports.release(_ports_of(record))
        del self.members[name]
        self.faults.slow.pop(name, None)
        groups = ([member for member in group if member != name] for group in self.faults.partition)
        self.faults.partition = [group for group in groups if group]
        self._save()

    def _spawn(self, record: MemberRecord) -> None:
        """Start the member's process holding this playground's claims on its ports (taken
        again if another process started it: a port another playground claimed meanwhile is
        left to fail the member's bind, with etcd's message in its stdout.log)."""
        ports = _ports_of(record)
        for port in ports:
            self._ports.claim(port)
        self._processes.spawn(record, self._ports.handles(ports))

    # -- waiting for members -----------------------------------------------------------------

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

    async def _wait_until_serving(self, record: MemberRecord) -> None:
        try:
            with anyio.fail_after(START_TIMEOUT):
                await self._wait_until_each_answers([record])
        except TimeoutError:
            raise PlaygroundError(
                f"member {record.name} did not serve within {START_TIMEOUT:g} s; "
                f"see {record.data_dir}/stdout.log"
            ) from None

    async def _wait_until_each_answers(self, records: Iterable[MemberRecord]) -> None:
        """Wait until every member answers a status call; PlaygroundError if one exits."""
        waiting = list(records)
        while waiting:
            for record in list(waiting):
                if self._processes.state(record) == "down":
                    raise PlaygroundError(f"member {record.name} exited: {last_log_line(record)}")
                status = await self._status_of(record)
                if status.role:
                    waiting.remove(record)
            if waiting:
                await anyio.sleep(POLL_INTERVAL)

    # -- talking to members ------------------------------------------------------------------

    async def _call(
        self, record: MemberRecord, call: Callable[[Client], Awaitable[_Result]]
    ) -> _Result:
        """Run `call` with a client of member `record` alone."""
        endpoints = [record.native_endpoint]
        return await call_members(
            endpoints, call, f"member {record.name}", CALL_TIMEOUT, self.client_tls()
        )

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
        return await call_members(
            endpoints, call, "the cluster", RECONFIG_TIMEOUT, self.client_tls()
        )


def _ports_of(record: MemberRecord) -> tuple[int, int, int]:
    return record.client_port, record.peer_port, record.native_port
