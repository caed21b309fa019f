"""Member processes started with etcd's own flags, and the real etcdctl run against them.

The same ProcessCluster starts our members (`python -m node`) or, for comparison, the real
etcd binary: the command lines are identical. Ports come from 20000-29999 with the port
10000 above each one free as well, since our member also listens there (peer API, native
door). Every process is stopped by `stop_all`, whatever state it is in.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import grpc

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

ETCDCTL = shutil.which("etcdctl")
ETCD = shutil.which("etcd")
OUR_MEMBER = (sys.executable, "-m", "node")
HEARTBEAT_MS = 50
ELECTION_MS = 500
READY_S = 30.0
COMMAND_S = 20.0
STOP_S = 15.0
PORT_SIDECAR_OFFSET = 10_000
"""The native door listens at the client port + 10000 (etcd-node's default), so a client port
is only taken when that one is free too."""

_taken_ports: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free loopback port whose +10000 sibling is free too, not handed out before.

    Both stay below Linux's ephemeral range (32768 on): an outgoing connection's port there
    lingers in TIME_WAIT for a minute after every status poll, and a member restarting on it
    would fail with `bind: address already in use`."""
    rng = random.Random()
    while True:
        port = rng.randrange(20_000, 32_768 - PORT_SIDECAR_OFFSET)
        if port not in _taken_ports and _bindable(port) and _bindable(port + PORT_SIDECAR_OFFSET):
            _taken_ports.add(port)
            return port


@dataclass
class MemberProcess:
    """One member: its flags, its process while running, and its stderr log file."""

    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    command: tuple[str, ...]
    initial_cluster: str = ""
    state: str = "new"
    token: str = "compat"
    extra_args: tuple[str, ...] = ()
    credentials: grpc.ChannelCredentials | None = None
    """How `status` dials a member whose client URL is https."""
    environment: dict[str, str] = field(default_factory=dict)
    """Variables the process gets besides this one's (GOFAIL_FAILPOINTS, ...)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return self.client_url.split("://", 1)[-1]

    @property
    def log(self) -> Path:
        return self.data_dir.with_suffix(".stderr")

    def args(self) -> list[str]:
        """etcd's flags for this member (the same for our member and the real etcd)."""
        return [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            f"--initial-cluster-state={self.state}",
            f"--initial-cluster-token={self.token}",
            f"--heartbeat-interval={HEARTBEAT_MS}",
            f"--election-timeout={ELECTION_MS}",
            *self.extra_args,
        ]

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, *self.args()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment} if self.environment else None,
            )

    def stop(self, signum: int = signal.SIGTERM) -> int | None:
        """Signal the process and wait for it (killed after STOP_S); its exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        return process.returncode

    def status(self, timeout: float = 1.0) -> rpc_pb2.StatusResponse:
        if self.credentials is None:
            channel = grpc.insecure_channel(self.endpoint)
        else:
            channel = grpc.secure_channel(self.endpoint, self.credentials)
        with channel:
            return rpc_pb2_grpc.MaintenanceStub(channel).Status(
                rpc_pb2.StatusRequest(), timeout=timeout
            )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class ProcessCluster:
    """Members of one cluster on loopback, started with `command` (ours or the real etcd)."""

    directory: Path
    command: tuple[str, ...] = OUR_MEMBER
    token: str = "compat"
    members: list[MemberProcess] = field(default_factory=list)
    client_scheme: str = "http"
    peer_scheme: str = "http"
    extra_args: tuple[str, ...] = ()
    """Flags every member gets besides the cluster's own (TLS files, ...)."""
    credentials: grpc.ChannelCredentials | None = None

    @classmethod
    def new(
        cls,
        directory: Path,
        size: int,
        command: tuple[str, ...] = OUR_MEMBER,
        token: str = "compat",
        *,
        client_scheme: str = "http",
        peer_scheme: str = "http",
        extra_args: tuple[str, ...] = (),
        credentials: grpc.ChannelCredentials | None = None,
    ) -> ProcessCluster:
        directory.mkdir(parents=True, exist_ok=True)
        cluster = cls(
            directory, command, token, [], client_scheme, peer_scheme, extra_args, credentials
        )
        for index in range(1, size + 1):
            cluster.members.append(cluster._member(f"m{index}"))
        initial = cluster.initial_cluster()
        for member in cluster.members:
            member.initial_cluster = initial
        return cluster

    def _member(self, name: str) -> MemberProcess:
        return MemberProcess(
            name=name,
            client_url=f"{self.client_scheme}://127.0.0.1:{free_port()}",
            peer_url=f"{self.peer_scheme}://127.0.0.1:{free_port()}",
            data_dir=self.directory / f"{name}.etcd",
            command=self.command,
            token=self.token,
            extra_args=self.extra_args,
            credentials=self.credentials,
        )

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> str:
        """--endpoints for etcdctl: every running member."""
        return ",".join(m.endpoint for m in self.members if m.process is not None)

    def member(self, name: str) -> MemberProcess:
        return next(m for m in self.members if m.name == name)

    def start_all(self) -> None:
        for member in self.members:
            member.start()
        self.wait_for_leader(self.members)

    def joining_member(self, name: str) -> MemberProcess:
        """A new member's flags for joining this cluster (after `member add`); not started."""
        member = self._member(name)
        self.members.append(member)
        member.initial_cluster = self.initial_cluster()
        member.state = "existing"
        return member

    def remove(self, member: MemberProcess) -> None:
        member.stop()
        self.members.remove(member)

    def wait_for_leader(self, members: list[MemberProcess]) -> int:
        """Wait until every member in `members` answers Status naming the same leader."""
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            for member in members:
                if member.process is not None and member.process.poll() is not None:
                    raise RuntimeError(
                        f"{member.name} exited with {member.process.returncode}:\n"
                        f"{member.log_tail()}"
                    )
            leaders = set()
            with contextlib.suppress(grpc.RpcError):
                leaders = {member.status().leader for member in members}
            if len(leaders) == 1 and 0 not in leaders:
                return leaders.pop()
            time.sleep(0.05)
        tails = "\n".join(f"--- {m.name}\n{m.log_tail()}" for m in members)
        raise RuntimeError(f"no agreed leader after {READY_S}s\n{tails}")

    def stop_all(self) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        for member in self.members:
            member.stop()


@contextlib.contextmanager
def running_cluster(
    directory: Path, size: int, command: tuple[str, ...] = OUR_MEMBER
) -> Iterator[ProcessCluster]:
    """A started cluster of `size` members, every process stopped on the way out."""
    cluster = ProcessCluster.new(directory, size, command, token=f"compat-{directory.name}")
    try:
        cluster.start_all()
        yield cluster
    finally:
        cluster.stop_all()


# -- etcdctl ----------------------------------------------------------------------------------


def etcdctl_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    environment["ETCDCTL_API"] = "3"
    return environment


def etcdctl(
    endpoints: str, *args: str, stdin: str | None = None, timeout: float = COMMAND_S
) -> subprocess.CompletedProcess[str]:
    """Run etcdctl against `endpoints` to completion; its exit status, stdout and stderr."""
    assert ETCDCTL is not None
    return subprocess.run(
        [ETCDCTL, f"--endpoints={endpoints}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=etcdctl_environment(),
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The `Error: ...` line etcdctl ends its stderr with."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return lines[-1] if lines else ""


class RunningEtcdctl:
    """A long-running etcdctl (watch, lock, elect) whose stdout lines are read as they come."""

    def __init__(self, endpoints: str, *args: str) -> None:
        assert ETCDCTL is not None
        self.process = subprocess.Popen(
            [ETCDCTL, f"--endpoints={endpoints}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=etcdctl_environment(),
        )
        self.lines: Queue[str] = Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_lines(self, count: int, timeout: float = COMMAND_S) -> list[str]:
        """The next `count` stdout lines; fails if they do not come within `timeout`."""
        deadline = time.monotonic() + timeout
        lines = []
        while len(lines) < count:
            try:
                lines.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except Empty:
                raise AssertionError(
                    f"expected {count} lines, got {lines} (stderr: {self.stderr_so_far()})"
                ) from None
        self.seen.extend(lines)
        return lines

    def has_printed(self) -> bool:
        return not self.lines.empty()

    def stderr_so_far(self) -> str:
        if self.process.poll() is None:
            return "(running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        return self.stop(signal.SIGINT)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=COMMAND_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=COMMAND_S)
        return self.process.returncode

    def __enter__(self) -> RunningEtcdctl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(signal.SIGKILL)


def wait_until(condition: Callable[[], object], timeout: float = COMMAND_S) -> None:
    """Poll `condition` until it holds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)
