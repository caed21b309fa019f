"""Put and linearizable-get throughput and latency through the native door of a 3-member cluster.

    .venv/bin/python benchmarks/native_bench.py [--members 3] [--clients 32] [--connections 4]
                                               [--seconds 5] [--value-bytes 256]

The members run in-process in one child process (one trio loop, so one core serves all three;
real member processes would spread over the cores), fsync on, on loopback. The load comes from
this process: `--clients` concurrent callers shared over `--connections` client connections,
every connection to the leader (writes) or spread over the members (reads).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from node.client import Client

if TYPE_CHECKING:
    from node.server.etcdserver import EtcdServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_native_members(
    nursery: trio.Nursery, directory: str, names: list[str], token: str
) -> list[tuple[EtcdServer, str]]:
    """Run members `names` with native doors in `nursery`; each one's (server, native endpoint)
    once they all follow one leader."""
    from node.api.native import serve_native
    from node.server.config import ServerConfig
    from node.server.member import open_server

    peers = {name: [f"http://127.0.0.1:{_free_port()}"] for name in names}

    async def run_member(name: str, task_status: trio.TaskStatus) -> None:
        client_url = [f"http://127.0.0.1:{_free_port()}"]
        config = ServerConfig(
            name=name,
            data_dir=str(Path(directory) / name),
            listen_client_urls=client_url,
            advertise_client_urls=client_url,
            listen_peer_urls=peers[name],
            initial_advertise_peer_urls=peers[name],
            initial_cluster=peers,
            initial_cluster_token=token,
            listen_native_urls=["http://127.0.0.1:0"],
        )
        async with open_server(config) as server, trio.open_nursery() as doors:
            (port,) = await doors.start(serve_native, server, config)
            task_status.started((server, f"127.0.0.1:{port}"))
            await trio.sleep_forever()

    started = [await nursery.start(run_member, name) for name in names]
    with trio.fail_after(30):
        while len({server.leader_id for server, _ in started} - {0}) != 1 or any(  # noqa: ASYNC110
            server.leader_id == 0 for server, _ in started
        ):
            await trio.sleep(0.05)
    return started


def _serve_cluster(directory: str, members: int, pipe: Connection) -> None:
    """Child process: run the members with native doors until the parent says stop."""
    names = [f"m{i}" for i in range(1, members + 1)]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            started = await start_native_members(nursery, directory, names, "native-bench")
            leader = next(endpoint for server, endpoint in started if server.is_leader)
            pipe.send((leader, [endpoint for _, endpoint in started]))
            await trio.to_thread.run_sync(pipe.recv)
            nursery.cancel_scope.cancel()

    trio.run(main)


async def _load(
    kind: str, endpoints: list[str], clients: int, connections: int, seconds: float, value: bytes
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    opened = [await Client.connect([endpoints[i % len(endpoints)]]) for i in range(connections)]
    async with trio.open_nursery() as nursery:
        for client in opened:
            await nursery.start(_enter, client)

        async def caller(index: int) -> None:
            client = opened[index % connections]
            key = f"bench/{index}".encode()
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if kind == "put":
                    await client.put(key, value)
                else:
                    await client.get(key)
                latencies.append(time.perf_counter() - started)

        async with trio.open_nursery() as callers:
            for index in range(clients):
                callers.start_soon(caller, index)
        nursery.cancel_scope.cancel()
    return latencies


async def _enter(client: Client, task_status: trio.TaskStatus) -> None:
    async with client:
        task_status.started()
        await trio.sleep_forever()


def _report(kind: str, latencies: list[float], seconds: float) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{kind:>4}: {len(ordered) / seconds:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
        f"   ({len(ordered)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--value-bytes", type=int, default=256)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="native-bench-") as directory:
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_serve_cluster, args=(directory, args.members, theirs)
        )
        child.start()
        try:
            leader, endpoints = ours.recv()
            print(
                f"{args.members} in-process members in one child process, native door, "
                f"{args.clients} callers on {args.connections} connections, "
                f"{args.value_bytes} B values"
            )
            value = bytes(args.value_bytes)
            puts = trio.run(
                _load, "put", [leader], args.clients, args.connections, args.seconds, value
            )
            _report("put", puts, args.seconds)
            gets = trio.run(
                _load, "get", endpoints, args.clients, args.connections, args.seconds, value
            )
            _report("get", gets, args.seconds)
        finally:
            ours.send("stop")
            child.join(30)


if __name__ == "__main__":
    main()
