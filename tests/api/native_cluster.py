"""In-process members with their native door, for the door and client tests.

Each member is a real EtcdServer (raft, WAL, LMDB, transport on loopback) with a NativeDoor in
front; ports are picked by the OS. A member can be stopped on its own to test fail-over.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trio

from node.api.native import serve_native
from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer
from node.server.member import open_server

HEARTBEAT_MS = 20
ELECTION_MS = 200
LEADER_WAIT_S = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_configs(directory: Path, size: int, **overrides: Any) -> list[ServerConfig]:
    """Configs for a new cluster of `size` members on free loopback ports; `overrides` set
    other ServerConfig fields (enable_fault_injection=True, ...)."""
    names = [f"m{i}" for i in range(1, size + 1)]
    peer_urls = {name: [f"http://127.0.0.1:{_free_port()}"] for name in names}
    configs = []
    for name in names:
        client_url = [f"http://127.0.0.1:{_free_port()}"]
        configs.append(
            ServerConfig(
                name=name,
                data_dir=str(directory / name),
                listen_client_urls=client_url,
                advertise_client_urls=client_url,
                listen_peer_urls=peer_urls[name],
                initial_advertise_peer_urls=peer_urls[name],
                initial_cluster=peer_urls,
                initial_cluster_token=f"native-{directory.name}",
                heartbeat_interval_ms=HEARTBEAT_MS,
                election_timeout_ms=ELECTION_MS,
                listen_native_urls=["http://127.0.0.1:0"],
                **overrides,
            )
        )
    return configs


@dataclass(slots=True)
class NativeMember:
    """A running member: its server, the endpoint of its native door, and a way to stop it."""

    name: str
    server: EtcdServer
    endpoint: str
    scope: trio.CancelScope
    stopped: trio.Event

    async def stop(self) -> None:
        """Stop the member and wait until it is down (its sockets closed)."""
        self.scope.cancel()
        await self.stopped.wait()


def joining_config(directory: Path, members: list[NativeMember], name: str) -> ServerConfig:
    """The config of a member `name` joining the running `members` (add it first)."""
    ours = members[0].server.config
    peer_urls = {m.name: list(m.server.config.initial_advertise_peer_urls) for m in members}
    peer_urls[name] = [f"http://127.0.0.1:{_free_port()}"]
    client_url = [f"http://127.0.0.1:{_free_port()}"]
    return replace(
        ours,
        name=name,
        data_dir=str(directory / name),
        listen_client_urls=client_url,
        advertise_client_urls=client_url,
        listen_peer_urls=peer_urls[name],
        initial_advertise_peer_urls=peer_urls[name],
        initial_cluster=peer_urls,
        initial_cluster_state="existing",
    )


async def run_member(
    config: ServerConfig, *, task_status: trio.TaskStatus[NativeMember] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run one member until cancelled; started with its NativeMember."""
    stopped = trio.Event()
    try:
        with trio.CancelScope() as scope:
            async with open_server(config) as server, trio.open_nursery() as nursery:
                (port,) = await nursery.start(serve_native, server, config)
                endpoint = f"127.0.0.1:{port}"
                task_status.started(NativeMember(config.name, server, endpoint, scope, stopped))
                await trio.sleep_forever()
    finally:
        stopped.set()


async def wait_for_leader(members: list[NativeMember]) -> None:
    """Until every running member knows the same leader."""
    with trio.fail_after(LEADER_WAIT_S):
        while True:
            leaders = {m.server.leader_id for m in members if not m.scope.cancel_called}
            if len(leaders) == 1 and 0 not in leaders:
                return
            await trio.sleep(HEARTBEAT_MS / 1000)


@asynccontextmanager
async def native_cluster(
    directory: Path, size: int = 1, **overrides: Any
) -> AsyncIterator[list[NativeMember]]:
    """Start `size` members with native doors, wait for a leader, stop them all on exit."""
    async with trio.open_nursery() as nursery:
        members = [
            await nursery.start(run_member, config)
            for config in cluster_configs(directory, size, **overrides)
        ]
        await wait_for_leader(members)
        yield members
        nursery.cancel_scope.cancel()


@contextmanager
def native_cluster_in_thread(directory: Path, size: int = 1) -> Iterator[list[str]]:
    """A cluster served by trio in a thread of its own, for clients on another event loop
    (asyncio); yields the members' native endpoints."""
    started = threading.Event()
    running: dict[str, object] = {}

    async def serve() -> None:
        with trio.CancelScope() as scope:
            async with native_cluster(directory, size) as members:
                running["endpoints"] = [m.endpoint for m in members]
                running["stop"] = scope.cancel
                running["token"] = trio.lowlevel.current_trio_token()
                started.set()
                await trio.sleep_forever()

    def run() -> None:
        try:
            trio.run(serve)
        except BaseException as exc:
            running["failure"] = exc
        finally:
            started.set()

    thread = threading.Thread(target=run, name="native-cluster", daemon=True)
    thread.start()
    started.wait(LEADER_WAIT_S * 2)
    if "failure" in running:
        raise running["failure"]
    try:
        yield running["endpoints"]
    finally:
        trio.from_thread.run_sync(running["stop"], trio_token=running["token"])
        thread.join(LEADER_WAIT_S)
