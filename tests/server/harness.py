"""In-process members on 127.0.0.1 for the server tests: configs, start/stop, waits."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer, open_etcd_server

HEARTBEAT_MS = 20
ELECTION_MS = 200
WAL_SEGMENT_SIZE = 1 << 20
WAIT = 10.0
"""Upper bound for any awaited condition in these tests."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()


def reserve_peer_port() -> int:
    """A free port never handed out before in this process, below the OS's ephemeral range
    (32768 on) so outgoing connections do not take it; the port after it is left for the
    (unbound) client URL."""
    rng = random.Random()
    while True:
        port = rng.randrange(10_000, 20_000, 2)
        if port in _handed_out:
            continue
        if _bindable(port):
            _handed_out.add(port)
            return port


@dataclass
class Member:
    """One member's configuration and, while it runs, its server and cancel scope."""

    config: ServerConfig
    server: EtcdServer | None = None
    scope: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)

    @property
    def name(self) -> str:
        return self.config.name


def member_config(
    tmp_path: Path,
    name: str,
    peer_port: int,
    initial_cluster: dict[str, list[str]],
    state: str = "new",
    **overrides: object,
) -> ServerConfig:
    url = f"http://127.0.0.1:{peer_port}"
    settings: dict = {
        "name": name,
        "data_dir": str(tmp_path / name),
        "listen_peer_urls": [url],
        "initial_advertise_peer_urls": [url],
        "listen_client_urls": [f"http://127.0.0.1:{peer_port + 1}"],
        "advertise_client_urls": [f"http://127.0.0.1:{peer_port + 1}"],
        "initial_cluster": initial_cluster,
        "initial_cluster_state": state,
        "heartbeat_interval_ms": HEARTBEAT_MS,
        "election_timeout_ms": ELECTION_MS,
    }
    settings.update(overrides)
    return ServerConfig(**settings)


def cluster_configs(tmp_path: Path, size: int, **overrides: object) -> list[ServerConfig]:
    ports = {f"m{i}": reserve_peer_port() for i in range(size)}
    initial = {name: [f"http://127.0.0.1:{port}"] for name, port in ports.items()}
    return [
        member_config(tmp_path, name, port, initial, **overrides) for name, port in ports.items()
    ]


class Cluster:
    """Members running in one nursery; each can be stopped and started again."""

    def __init__(self, nursery: trio.Nursery, configs: list[ServerConfig]) -> None:
        self.nursery = nursery
        self.members = [Member(config) for config in configs]

    async def start_all(self) -> None:
        async with trio.open_nursery() as starting:
            for member in self.members:
                starting.start_soon(self.start, member)

    async def start(self, member: Member) -> EtcdServer:
        member.stopped = trio.Event()
        member.server = await self.nursery.start(self._run, member)
        return member.server

    async def _run(self, member: Member, *, task_status: trio.TaskStatus) -> None:
        try:
            with trio.CancelScope() as scope:
                member.scope = scope
                async with open_etcd_server(
                    member.config, wal_segment_size=WAL_SEGMENT_SIZE
                ) as server:
                    await server.run(task_status=task_status)
        finally:
            member.server = None
            member.stopped.set()

    async def stop(self, member: Member) -> None:
        """Cancel the member's scope (as a crash of its tasks) and wait until it is down."""
        assert member.scope is not None
        member.scope.cancel()
        await member.stopped.wait()

    def add(self, config: ServerConfig) -> Member:
        member = Member(config)
        self.members.append(member)
        return member

    @property
    def running(self) -> list[EtcdServer]:
        return [m.server for m in self.members if m.server is not None]

    async def leader(self) -> EtcdServer:
        """The running member that leads, once all running members agree on it."""
        return await wait_for(self._agreed_leader)

    def _agreed_leader(self) -> EtcdServer | None:
        running = self.running
        leads = {s.leader_id for s in running}
        if len(leads) != 1 or 0 in leads:
            return None
        for server in running:
            if server.is_leader:
                return server
        return None

    def followers(self, leader: EtcdServer) -> list[EtcdServer]:
        return [s for s in self.running if s is not leader]

    def member_of(self, server: EtcdServer) -> Member:
        return next(m for m in self.members if m.server is server)


async def wait_for(condition: Callable[[], object]) -> object:
    """Poll `condition` until it returns something truthy, for at most WAIT seconds."""
    with trio.fail_after(WAIT):
        while True:
            value = condition()
            if value:
                return value
            await trio.sleep(0.01)
