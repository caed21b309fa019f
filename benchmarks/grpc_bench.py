"""Throughput through the gRPC door of a 3-member cluster of etcd-node processes, and what
the real `etcdctl check perf` says about it.

    .venv/bin/python benchmarks/grpc_bench.py [--members 3] [--clients 32] [--channels 4]
                                              [--seconds 5] [--value-bytes 256]
                                              [--check-perf s,m] [--etcd]
                                              [--grpc-only-port]

Each member is its own `python -m node` process (etcd's flags, default heartbeat and election
timeout, fsync on) on loopback. The load comes from this process through grpcio's asyncio
client: `--clients` concurrent callers over `--channels` channels, puts to the leader,
linearizable and serializable gets spread over the members; each load reports the members'
CPU time per request beside throughput and latency. Then `etcdctl check perf` runs
for each load named by `--check-perf` (60 s each; `--check-perf ''` skips it). `--etcd` runs
the same against the real etcd binary instead, for comparison. Our members share the client
port between gRPC and HTTP as etcd does (gRPC connections spliced through the member to its
gRPC door); `--grpc-only-port` starts them with `--client-port-http=false`, gRPC alone on the
port, to measure what the sharing costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import grpc.aio

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

READY_S = 60.0
SIDECAR_OFFSET = 10_000
"""Our member also listens 10000 above its client (native door) and peer (peer API) ports."""


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + SIDECAR_OFFSET < 65_536:
            with socket.socket() as sidecar:
                try:
                    sidecar.bind(("127.0.0.1", port + SIDECAR_OFFSET))
                except OSError:
                    continue
            return port


def _start_cluster(directory: Path, members: int, command: list[str]) -> tuple[list, list[str]]:
    """Start the members; their processes and client endpoints (host:port)."""
    names = [f"m{i}" for i in range(1, members + 1)]
    peers = {name: f"http://127.0.0.1:{_free_port()}" for name in names}
    initial = ",".join(f"{name}={url}" for name, url in peers.items())
    processes, endpoints = [], []
    for name in names:
        client = f"http://127.0.0.1:{_free_port()}"
        args = [
            f"--name={name}", f"--data-dir={directory / name}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peers[name]}", f"--initial-advertise-peer-urls={peers[name]}",
            f"--initial-cluster={initial}", "--initial-cluster-token=grpc-bench",
        ]  # fmt: skip
        log = (directory / f"{name}.log").open("wb")
        processes.append(subprocess.Popen([*command, *args], stdout=log, stderr=log))
        endpoints.append(client.removeprefix("http://"))
    return processes, endpoints


def _leader_endpoint(endpoints: list[str]) -> str:
    """Wait until every member names the same leader; that leader's endpoint."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        statuses = {}
        for endpoint in endpoints:
            with contextlib.suppress(grpc.RpcError), grpc.insecure_channel(endpoint) as channel:
                stub = rpc_pb2_grpc.MaintenanceStub(channel)
                statuses[endpoint] = stub.Status(rpc_pb2.StatusRequest(), timeout=1)
        leaders = {status.leader for status in statuses.values()}
        if len(statuses) == len(endpoints) and len(leaders) == 1 and 0 not in leaders:
            return next(e for e, s in statuses.items() if s.header.member_id == s.leader)
        time.sleep(0.1)
    raise RuntimeError(f"no leader within {READY_S}s")


async def _load(
    kind: str, endpoints: list[str], clients: int, channels: int, seconds: float, value: bytes
) -> list[float]:
    opened = [grpc.aio.insecure_channel(endpoints[i % len(endpoints)]) for i in range(channels)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        kv = rpc_pb2_grpc.KVStub(opened[index % channels])
        key = f"bench/{index}".encode()
        put = rpc_pb2.PutRequest(key=key, value=value)
        get = rpc_pb2.RangeRequest(key=key, serializable=kind == "serializable get")
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if kind == "put":
                await kv.Put(put)
            else:
                await kv.Range(get)
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(caller(index) for index in range(clients)))
    finally:
        for channel in opened:
            await channel.close()
    return latencies


def _cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User and system CPU time the member processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _report(kind: str, latencies: list[float], seconds: float, cpu_seconds: float) -> None:
    """Throughput and latency; and the members' CPU time per request, which a machine busy
    with other work disturbs far less than the throughput."""
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    cpu_us = cpu_seconds / len(ordered) * 1e6
    print(
        f"{kind:>16}: {len(ordered) / seconds:7.0f} req/s   p50 {p50:6.2f} ms   "
        f"p99 {p99:6.2f} ms   members' CPU {cpu_us:5.0f} us/req   ({len(ordered)} requests)"
    )


def _check_perf(endpoints: list[str], load: str) -> None:
    etcdctl = shutil.which("etcdctl")
    if etcdctl is None:
        print("etcdctl is not installed: check perf skipped")
        return
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    started = time.monotonic()
    result = subprocess.run(
        [etcdctl, f"--endpoints={','.join(endpoints)}", "check", "perf", f"--load={load}"],
        capture_output=True, text=True, env=environment, check=False,
    )  # fmt: skip
    verdicts = re.findall(r"^(?:PASS|FAIL).*$", result.stdout, re.MULTILINE)
    print(f"check perf --load={load} ({time.monotonic() - started:.0f} s):")
    for line in verdicts or [result.stderr.strip()]:
        print(f"    {line}")
    subprocess.run(
        [etcdctl, f"--endpoints={','.join(endpoints)}", "del", "--prefix", "/etcdctl-check-perf/"],
        capture_output=True, env=environment, check=False,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--value-bytes", type=int, default=256)
    parser.add_argument("--check-perf", default="s,m", help="loads to check, comma-separated")
    parser.add_argument("--etcd", action="store_true", help="measure the real etcd instead")
    parser.add_argument(
        "--grpc-only-port",
        action="store_true",
        help="our members without HTTP on the client port (gRPC binds it directly)",
    )
    args = parser.parse_args()
    command = [shutil.which("etcd") or "etcd"] if args.etcd else [sys.executable, "-m", "node"]
    if args.grpc_only_port and not args.etcd:
        command.append("--client-port-http=false")

    with tempfile.TemporaryDirectory(prefix="grpc-bench-") as directory:
        processes, endpoints = _start_cluster(Path(directory), args.members, command)
        try:
            leader = _leader_endpoint(endpoints)
            print(
                f"{args.members} {'etcd' if args.etcd else 'etcd-node'} processes, gRPC"
                f"{' alone on the client port' if args.grpc_only_port else ''}, "
                f"{args.clients} callers on {args.channels} channels, {args.value_bytes} B values"
            )
            value = bytes(args.value_bytes)
            for kind, targets in (
                ("put", [leader]),
                ("linearizable get", endpoints),
                ("serializable get", endpoints),
            ):
                cpu_before = _cpu_seconds(processes)
                latencies = asyncio.run(
                    _load(kind, targets, args.clients, args.channels, args.seconds, value)
                )
                _report(kind, latencies, args.seconds, _cpu_seconds(processes) - cpu_before)
            for load in filter(None, args.check_perf.split(",")):
                _check_perf(endpoints, load)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
