"""Real etcd 3.4 against ours, side by side: every row of issue 16's table, with the ratios.

    .venv/bin/python benchmarks/versus_etcd.py [--seconds 10] [--warmup 2] [--value-bytes 256]
                                               [--check-perf m,l] [--only etcd|ours]
                                               [--json FILE] [--etcd-figures FILE]
                                               [--grpc-only-port] [--serializable-get]

Starts --members (3) real etcd processes (/usr/bin/etcd), runs the loads, stops them; then as
many of ours (`python -m node`, each member its own process), runs the same loads and the native
door's, stops them. Both get the same command line: etcd's flags with etcd's defaults
(heartbeat, election timeout, fsync on), on loopback ports the OS picked, each cluster in a
temp dir removed afterwards.

A load runs in --processes (2) client processes, each one event loop with --callers (32)
closed-loop callers over --channels (8) gRPC channels or native connections: they connect, wait
for a common start, run a warm-up that is not counted, then --seconds that are (a request
counts when it completes inside them). Puts of --value-bytes go to the leader; linearizable
gets spread the channels over the members. Over each load's counted window the leader's and a
follower's CPU time (user + system, from /proc/<pid>/stat) gives CPU-seconds per 1,000
requests. Then the real `etcdctl check perf` runs for each load of --check-perf (60 s each;
'' skips). Failed requests are counted and shown, never hidden in the rate.

Prints the table (real etcd | ours | ratio; for the native door the issue's targets) and, with
--json, writes every figure, for a before/after comparison. `--only ours --etcd-figures
FILE` runs ours alone and takes real etcd's column from an earlier --json FILE (quick
iterations; the two runs then saw different machine load). `--grpc-only-port` starts ours with
gRPC alone on the client port (no HTTP splice), to see what sharing the port costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from array import array
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import trio

from node.client import Client
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.messages.native_protocol import NATIVE_PORT_OFFSET

READY_S = 60.0
"""How long a cluster may take to agree on a leader, and a client process to connect."""
STOP_S = 30.0
CHECK_PERF_S = 180.0
"""check perf runs 60 s; the rest is its own start and the cluster's slowness under load."""
SHAPE_ARGUMENTS = (
    "seconds",
    "warmup",
    "value_bytes",
    "members",
    "processes",
    "callers",
    "channels",
)
"""The arguments that make two runs' figures comparable."""
NATIVE_PUT_TARGET = 8_000.0
NATIVE_PUT_P99_TARGET_MS = 50.0
NATIVE_GET_TARGET = 15_000.0


# --- the clusters ---------------------------------------------------------------------------


@dataclass(slots=True)
class Member:
    """One member process and where it serves."""

    name: str
    endpoint: str
    """host:port of its client URL (gRPC)."""
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def native_endpoint(self) -> str:
        host, port = self.endpoint.rsplit(":", 1)
        return f"{host}:{int(port) + NATIVE_PORT_OFFSET}"


def _free_port(taken: set[int]) -> int:
    """A port the OS just handed out, not handed out before, whose +10000 sibling is free too:
    our member also listens there (native door beside the client port, peer API beside the
    peer port)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port in taken or port + NATIVE_PORT_OFFSET >= 65_536:
            continue
        with socket.socket() as sibling:
            try:
                sibling.bind(("127.0.0.1", port + NATIVE_PORT_OFFSET))
            except OSError:
                continue
        taken.add(port)
        return port


@contextmanager
def running_cluster(directory: Path, size: int, command: list[str]) -> Iterator[list[Member]]:
    """Start `size` members with `command` and etcd's flags; stop them all on leaving."""
    taken: set[int] = set()
    names = [f"m{i}" for i in range(1, size + 1)]
    peers = {name: f"http://127.0.0.1:{_free_port(taken)}" for name in names}
    initial = ",".join(f"{name}={url}" for name, url in peers.items())
    members: list[Member] = []
    try:
        for name in names:
            client = f"http://127.0.0.1:{_free_port(taken)}"
            args = [
                f"--name={name}", f"--data-dir={directory / name}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peers[name]}", f"--initial-advertise-peer-urls={peers[name]}",
                f"--initial-cluster={initial}", "--initial-cluster-token=versus-etcd",
            ]  # fmt: skip
            log = directory / f"{name}.log"
            with log.open("wb") as output:
                process = subprocess.Popen([*command, *args], stdout=output, stderr=output)
            members.append(Member(name, client.removeprefix("http://"), process, log))
        yield members
    finally:
        for member in members:
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        for member in members:
            try:
                member.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()


def check_alive(members: list[Member]) -> None:
    """Raise, with its log's tail, if a member process has exited."""
    for member in members:
        if member.process.poll() is not None:
            tail = member.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"member {member.name} exited ({member.process.returncode}):\n{tail}"
            )


def leader(members: list[Member]) -> Member:
    """Wait until every member names the same leader; that member."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        check_alive(members)
        statuses = {}
        for member in members:
            with suppress(grpc.RpcError), grpc.insecure_channel(member.endpoint) as channel:
                stub = rpc_pb2_grpc.MaintenanceStub(channel)
                statuses[member.name] = stub.Status(rpc_pb2.StatusRequest(), timeout=1)
        leaders = {status.leader for status in statuses.values()}
        if len(statuses) == len(members) and len(leaders) == 1 and 0 not in leaders:
            return next(m for m in members if statuses[m.name].header.member_id in leaders)
        time.sleep(0.1)
    raise RuntimeError(f"the members agreed on no leader within {READY_S:.0f} s")


def wait_native_doors(members: list[Member]) -> None:
    """Wait until every member's native door takes connections."""
    deadline = time.monotonic() + READY_S
    for member in members:
        host, port = member.native_endpoint.rsplit(":", 1)
        while True:
            check_alive(members)
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far, all its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the client processes -------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """When the callers start (monotonic clock, the same in every process on Linux), and the
    counted window after the warm-up."""

    begin: float
    start: float
    end: float


@dataclass(slots=True)
class Tally:
    """What one client process's callers saw: latencies of the requests completed inside the
    window; failures at any time."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    errors: int = 0
    first_error: str = ""


@dataclass(slots=True)
class ClientFailure:
    """A client process that could not run its load."""

    text: str


Call = Callable[[], Awaitable[object]]


async def _call_until(call: Call, window: Window, tally: Tally) -> None:
    """One closed-loop caller: a request, then the next, until the window ends."""
    while (started := time.monotonic()) < window.end:
        try:
            await call()
        except Exception as exc:
            tally.errors += 1
            tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"[:300]
            continue
        done = time.monotonic()
        if window.start <= done <= window.end:
            tally.latencies.append(done - started)


def _keys(process_index: int, callers: int) -> list[bytes]:
    return [f"versus/{process_index}/{caller}".encode() for caller in range(callers)]


async def _grpc_load(
    kind: str, endpoints: list[str], keys: list[bytes], value: bytes, pipe: Connection
) -> Tally:
    channels = [grpc.aio.insecure_channel(endpoint) for endpoint in endpoints]
    try:
        async with asyncio.timeout(READY_S):
            for channel in channels:
                await channel.channel_ready()
        stubs = [rpc_pb2_grpc.KVStub(channel) for channel in channels]
        calls: list[Call] = []
        for index, key in enumerate(keys):
            stub = stubs[index % len(stubs)]
            if kind == "put":
                calls.append(partial(stub.Put, rpc_pb2.PutRequest(key=key, value=value)))
            else:
                request = rpc_pb2.RangeRequest(key=key, serializable=kind == "serializable get")
                calls.append(partial(stub.Range, request))
        pipe.send("ready")
        window: Window = await asyncio.to_thread(pipe.recv)
        await asyncio.sleep(window.begin - time.monotonic())
        tally = Tally()
        await asyncio.gather(*(_call_until(call, window, tally) for call in calls))
        return tally
    finally:
        for channel in channels:
            await channel.close()


async def _native_load(
    kind: str, endpoints: list[str], keys: list[bytes], value: bytes, pipe: Connection
) -> Tally:
    with trio.fail_after(READY_S):
        clients = [await Client.connect([endpoint]) for endpoint in endpoints]
    async with trio.open_nursery() as nursery:
        for client in clients:
            await nursery.start(_entered, client)
        calls: list[Call] = []
        for index, key in enumerate(keys):
            client = clients[index % len(clients)]
            if kind == "put":
                calls.append(partial(client.put, key, value))
            else:
                calls.append(partial(client.get, key, serializable=kind == "serializable get"))
        pipe.send("ready")
        window: Window = await trio.to_thread.run_sync(pipe.recv)
        await trio.sleep(max(0.0, window.begin - time.monotonic()))
        tally = Tally()
        async with trio.open_nursery() as callers:
            for call in calls:
                callers.start_soon(_call_until, call, window, tally)
        nursery.cancel_scope.cancel()
    return tally


async def _entered(client: Client, task_status: trio.TaskStatus[None]) -> None:
    """Keep `client` entered (its connection readers running) until cancelled."""
    async with client:
        task_status.started()
        await trio.sleep_forever()


def client_process(
    door: str, kind: str, endpoints: list[str], keys: list[bytes], value: bytes, pipe: Connection
) -> None:
    """A client process: connect, say ready, run the load from the window the parent sends,
    send back the Tally (or a ClientFailure)."""
    try:
        if door == "grpc":
            tally = asyncio.run(_grpc_load(kind, endpoints, keys, value, pipe))
        else:
            tally = trio.run(_native_load, kind, endpoints, keys, value, pipe)
        pipe.send(tally)
    except BaseException:
        pipe.send(ClientFailure(traceback.format_exc()))


# --- one load, measured ---------------------------------------------------------------------


@dataclass(slots=True)
class LoadFigures:
    """One load's throughput, latency and members' CPU cost."""

    rate: float
    """Requests completed per second of the counted window."""
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    first_error: str
    cpu_s_per_1000: dict[str, float]
    """CPU-seconds the leader and a follower spent per 1,000 requests."""
    client_cores: float
    """CPU the client processes used together, in cores: near one core a process, the
    clients, not the members, set the pace."""
    leader_changed: bool


@dataclass(slots=True)
class LoadShape:
    """How a load's clients are laid out: processes x callers over channels, window lengths."""

    processes: int
    callers: int
    channels: int
    warmup: float
    seconds: float
    value: bytes


def _receive(pipe: Connection, seconds: float) -> Any:
    if not pipe.poll(seconds):
        raise RuntimeError(f"a client process said nothing for {seconds:.0f} s")
    message = pipe.recv()
    if isinstance(message, ClientFailure):
        raise RuntimeError(f"a client process failed:\n{message.text}")
    return message


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _cpu_at(moment: float, pids: dict[str, list[int]]) -> tuple[float, dict[str, float]]:
    """At `moment`, the CPU time each group of processes has used; and when it was read."""
    _sleep_until(moment)
    return time.monotonic(), {name: sum(map(cpu_seconds, group)) for name, group in pids.items()}


def run_load(
    door: str, kind: str, targets: list[str], members: list[Member], shape: LoadShape
) -> LoadFigures:
    """Run one load from shape.processes client processes against `targets` (endpoints the
    channels are spread over), with the leader's and a follower's CPU measured over it."""
    first_leader = leader(members)
    follower = next(member for member in members if member is not first_leader)
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    try:
        for index in range(shape.processes):
            ours, theirs = context.Pipe()
            offset = index * shape.channels
            endpoints = [
                targets[(offset + channel) % len(targets)] for channel in range(shape.channels)
            ]
            process = context.Process(
                target=client_process,
                args=(door, kind, endpoints, _keys(index, shape.callers), shape.value, theirs),
                daemon=True,
            )
            process.start()
            theirs.close()
            pipes.append(ours)
            processes.append(process)
        for pipe in pipes:
            _receive(pipe, READY_S)
        begin = time.monotonic() + 0.2
        window = Window(begin, begin + shape.warmup, begin + shape.warmup + shape.seconds)
        for pipe in pipes:
            pipe.send(window)
        pids = {
            "leader": [first_leader.process.pid],
            "follower": [follower.process.pid],
            "clients": [process.pid for process in processes if process.pid is not None],
        }
        started, cpu_before = _cpu_at(window.start, pids)
        ended, cpu_after = _cpu_at(window.end, pids)
        tallies: list[Tally] = [_receive(pipe, READY_S) for pipe in pipes]
    finally:
        for pipe in pipes:
            pipe.close()
        for process in processes:
            process.join(timeout=STOP_S)
            if process.is_alive():
                process.kill()
    check_alive(members)
    latencies = sorted(latency for tally in tallies for latency in tally.latencies)
    if len(latencies) < 2:
        raise RuntimeError(f"{door} {kind}: no requests completed ({tallies[0].first_error})")
    # CPU per second of the time between the two readings (a busy machine wakes this process
    # late), over the window's requests
    cpu_rate = {name: (cpu_after[name] - cpu_before[name]) / (ended - started) for name in pids}
    per_1000 = 1000 * shape.seconds / len(latencies)
    return LoadFigures(
        rate=len(latencies) / shape.seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        requests=len(latencies),
        errors=sum(tally.errors for tally in tallies),
        first_error=next((tally.first_error for tally in tallies if tally.first_error), ""),
        cpu_s_per_1000={role: cpu_rate[role] * per_1000 for role in ("leader", "follower")},
        client_cores=cpu_rate["clients"],
        leader_changed=leader(members) is not first_leader,
    )


# --- etcdctl check perf ---------------------------------------------------------------------


@dataclass(slots=True)
class CheckPerfFigures:
    """What `etcdctl check perf` concluded."""

    verdict: str
    """PASS or FAIL (its last line), or ERROR when it did not finish."""
    writes_per_s: float | None
    lines: list[str]


def check_perf(members: list[Member], load: str) -> CheckPerfFigures:
    """Run the real `etcdctl check perf --load=LOAD` against the cluster, then remove its keys."""
    etcdctl = shutil.which("etcdctl") or "/usr/bin/etcdctl"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    endpoints = f"--endpoints={','.join(member.endpoint for member in members)}"
    try:
        result = subprocess.run(
            [etcdctl, endpoints, "check", "perf", f"--load={load}"],
            capture_output=True, text=True, env=environment, timeout=CHECK_PERF_S, check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired:
        output = f"etcdctl check perf did not finish within {CHECK_PERF_S:.0f} s"
    finally:
        subprocess.run(
            [etcdctl, endpoints, "del", "--prefix", "/etcdctl-check-perf/"],
            capture_output=True, env=environment, timeout=CHECK_PERF_S, check=False,
        )  # fmt: skip
    lines = [line for line in output.splitlines() if re.match(r"(PASS|FAIL|Slowest|Stddev)", line)]
    verdicts = [line for line in lines if line in ("PASS", "FAIL")]
    throughput = re.search(r"(\d+(?:\.\d+)?) writes/s", output)
    return CheckPerfFigures(
        verdict=verdicts[-1] if verdicts else "ERROR",
        writes_per_s=float(throughput[1]) if throughput else None,
        lines=lines or output.strip().splitlines()[-5:],
    )


# --- one side -------------------------------------------------------------------------------


def measure(
    side: str, command: list[str], args: argparse.Namespace, shape: LoadShape
) -> dict[str, Any]:
    """Start one side's cluster, run its loads, stop it; its figures by row name."""
    figures: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with (
        tempfile.TemporaryDirectory(prefix=f"versus-{side}-") as directory,
        running_cluster(Path(directory), args.members, command) as members,
    ):
        first = leader(members)
        print(f"{side}: {len(members)} members up, leader {first.name}", flush=True)
        doors = ["grpc", "native"] if side == "ours" else ["grpc"]
        if side == "ours":
            wait_native_doors(members)
        for door in doors:
            kinds = ["put", "linearizable get"]
            if door == "grpc" and args.serializable_get:
                kinds.append("serializable get")
            for kind in kinds:
                serving = [leader(members)] if kind == "put" else members
                targets = [m.native_endpoint if door == "native" else m.endpoint for m in serving]
                load = run_load(door, kind, targets, members, shape)
                figures[f"{door} {kind}"] = asdict(load)
                print(
                    f"  {door} {kind}: {_load_cell(load)}; clients used "
                    f"{load.client_cores:.2f} cores",
                    flush=True,
                )
        for perf_load in filter(None, args.check_perf.split(",")):
            result = check_perf(members, perf_load)
            figures[f"check perf {perf_load}"] = asdict(result)
            print(f"  check perf --load={perf_load}: {' / '.join(result.lines)}", flush=True)
            check_alive(members)
    figures["load_average_after"] = os.getloadavg()
    return figures


# --- the table ------------------------------------------------------------------------------


def _load_cell(load: LoadFigures | dict[str, Any]) -> str:
    figures = asdict(load) if isinstance(load, LoadFigures) else load
    rate, p50, p99 = figures["rate"], figures["p50_ms"], figures["p99_ms"]
    cell = f"{rate:,.0f}/s, p50 {p50:.1f} ms, p99 {p99:.0f} ms"
    if figures["errors"]:
        cell += f", {figures['errors']} errors"
    if figures["leader_changed"]:
        cell += ", leader changed"
    return cell


def _check_perf_cell(figures: dict[str, Any]) -> str:
    writes = figures["writes_per_s"]
    return figures["verdict"] + ("" if writes is None else f", {writes:,.0f} writes/s")


def _ratio(ours: float | None, etcd: float | None) -> str:
    return "-" if ours is None or not etcd else f"{ours / etcd:.2f}"


def table_rows(
    etcd: dict[str, Any] | None,
    ours: dict[str, Any] | None,
    shape: LoadShape,
    loads: list[str],
    members: int,
) -> list[tuple[str, str, str, str]]:
    """The issue's table: (row, real etcd, ours, ratio) for what was measured."""
    etcd, ours = etcd or {}, ours or {}
    callers, channels = shape.processes * shape.callers, shape.processes * shape.channels
    rows = []
    names = {
        "put": f"gRPC put, {len(shape.value)} B, {callers} closed-loop callers over {channels} "
        f"channels in {shape.processes} client processes",
        "linearizable get": "gRPC linearizable get, same callers, spread over members",
        "serializable get": "gRPC serializable get, same callers, spread over members",
    }
    for kind in loads:
        row, theirs, mine = names[kind], etcd.get(f"grpc {kind}"), ours.get(f"grpc {kind}")
        ratio = _ratio(mine and mine["rate"], theirs and theirs["rate"])
        if kind == "put" and mine and theirs:
            ratio += f" (p99 {mine['p99_ms'] / theirs['p99_ms']:.1f}x)"
        rows.append((row, _cell(theirs, _load_cell), _cell(mine, _load_cell), ratio))
    perf_loads = dict.fromkeys(key.rpartition(" ")[2] for key in [*etcd, *ours] if "perf" in key)
    for perf_load in perf_loads:
        theirs, mine = etcd.get(f"check perf {perf_load}"), ours.get(f"check perf {perf_load}")
        ratio = _ratio(mine and mine["writes_per_s"], theirs and theirs["writes_per_s"])
        rows.append(
            (
                f"`etcdctl check perf --load={perf_load}`",
                _cell(theirs, _check_perf_cell),
                _cell(mine, _check_perf_cell),
                ratio,
            )
        )
    put, get = ours.get("native put"), ours.get("native linearizable get")
    if put:
        meets = "yes" if put["p99_ms"] < NATIVE_PUT_P99_TARGET_MS else "no"
        rows.append(
            (
                f"native door, put {len(shape.value)} B ({members} member processes, "
                f"{shape.processes} client processes x {shape.callers} callers)",
                "-",
                _load_cell(put),
                f"{put['rate'] / NATIVE_PUT_TARGET:.2f} of target {NATIVE_PUT_TARGET:,.0f}/s; "
                f"p99 < {NATIVE_PUT_P99_TARGET_MS:.0f} ms: {meets}",
            )
        )
    if get:
        rows.append(
            (
                "native door, linearizable get",
                "-",
                _load_cell(get),
                f"{get['rate'] / NATIVE_GET_TARGET:.2f} of target {NATIVE_GET_TARGET:,.0f}/s",
            )
        )
    theirs, mine = etcd.get("grpc put"), ours.get("grpc put")
    for role in ("leader", "follower"):
        spent_theirs = theirs and theirs["cpu_s_per_1000"][role]
        spent_mine = mine and mine["cpu_s_per_1000"][role]
        rows.append(
            (
                f"CPU-s per 1,000 gRPC puts, {role}",
                "-" if spent_theirs is None else f"{spent_theirs:.3f}",
                "-" if spent_mine is None else f"{spent_mine:.3f}",
                _ratio(spent_mine, spent_theirs),
            )
        )
    return rows


def _cell(figures: dict[str, Any] | None, render: Callable[[dict[str, Any]], str]) -> str:
    return "not run" if figures is None else render(figures)


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    """The rows as a Markdown table, its columns padded to line up in a terminal too."""
    header = ("", "real etcd", "ours", "ratio (ours/etcd)")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(4)]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="counted seconds per load")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before")
    parser.add_argument("--value-bytes", type=int, default=256)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--callers", type=int, default=32, help="callers per client process")
    parser.add_argument("--channels", type=int, default=8, help="channels per client process")
    parser.add_argument("--check-perf", default="m,l", help="check perf loads; '' skips")
    parser.add_argument("--only", choices=["etcd", "ours"], help="run one side only")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument(
        "--etcd-figures", type=Path, help="with --only ours: real etcd's column from this --json"
    )
    parser.add_argument(
        "--grpc-only-port",
        action="store_true",
        help="our members without HTTP on the client port (gRPC binds it directly)",
    )
    parser.add_argument(
        "--serializable-get", action="store_true", help="add a gRPC serializable get row"
    )
    args = parser.parse_args()
    if args.etcd_figures and args.only != "ours":
        parser.error("--etcd-figures goes with --only ours")
    etcd_binary = shutil.which("etcd") or "/usr/bin/etcd"
    ours_command = [sys.executable, "-m", "node"]
    if args.grpc_only_port:
        ours_command.append("--client-port-http=false")
    shape = LoadShape(
        args.processes, args.callers, args.channels, args.warmup, args.seconds,
        bytes(args.value_bytes),
    )  # fmt: skip
    version = subprocess.run([etcd_binary, "--version"], capture_output=True, text=True).stdout
    report: dict[str, Any] = {
        "conditions": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "etcd": version.splitlines()[0] if version else etcd_binary,
            "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        },
        "etcd": None,
        "ours": None,
    }
    print(
        f"{args.members} members a side; each load: {args.processes} client processes x "
        f"{args.callers} callers over {args.channels} channels, {args.warmup:g} s warm-up, "
        f"{args.seconds:g} s counted; {args.value_bytes} B values; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
        flush=True,
    )
    if args.etcd_figures:
        earlier = json.loads(args.etcd_figures.read_text())
        report["etcd"] = earlier["etcd"]
        for name in SHAPE_ARGUMENTS:
            if earlier["conditions"]["arguments"][name] != getattr(args, name):
                print(f"warning: {args.etcd_figures} was run with another --{name}", flush=True)
    elif args.only != "ours":
        report["etcd"] = measure("etcd", [etcd_binary], args, shape)
    if args.only != "etcd":
        report["ours"] = measure("ours", ours_command, args, shape)
    loads = ["put", "linearizable get"] + (["serializable get"] * args.serializable_get)
    print()
    print_table(table_rows(report["etcd"], report["ours"], shape, loads, args.members))
    for side in ("etcd", "ours"):
        if report[side]:
            before, after = report[side]["load_average_before"], report[side]["load_average_after"]
            print(f"{side}: load average {before[0]:.1f} before its run, {after[0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
