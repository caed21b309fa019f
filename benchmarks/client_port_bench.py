"""What the shared client port's splice costs a gRPC call, without a member in the way.

    .venv/bin/python benchmarks/client_port_bench.py [--clients 32] [--channels 4]
                                                     [--seconds 5] [--rounds 3]

A grpcio asyncio server with one trivial unary method (etcd's KV.Range answered empty, no
member behind it) runs in a thread; the member's ClientPort listener (node/api/client_port.py)
runs on trio in another, as in etcd-node. The load (grpcio asyncio clients in this process's
main thread) alternates between the gRPC server's own port and the shared port, `--rounds`
times each, and reports calls per second, latency, and the CPU time per call of the splice's
threads (the listener's trio thread and the copy threads it starts, read from Linux's
/proc/self/task): the cost of the shared port alone, which other load on the machine barely
disturbs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from pathlib import Path

import grpc
import grpc.aio
import trio

from node.api.client_port import ClientPort
from node.api.http_door import HttpDoor
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc


class _Range(rpc_pb2_grpc.KVServicer):
    async def Range(self, request, context):
        return rpc_pb2.RangeResponse()


def _serve_grpc(ready: threading.Event, port: list[int]) -> None:
    async def serve() -> None:
        server = grpc.aio.server()
        rpc_pb2_grpc.add_KVServicer_to_server(_Range(), server)
        port.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(serve())


class _Splice:
    """The ClientPort on trio in a thread of its own."""

    def __init__(self, grpc_port: int) -> None:
        self.port = ClientPort(HttpDoor([]), grpc_port)
        self.ready = threading.Event()
        self.thread_id = 0

    def run(self) -> None:
        self.thread_id = threading.get_native_id()

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.port.serve, [("127.0.0.1", 0)])
                self.ready.set()

        trio.run(main)


COPY_THREAD_NAME = "Trio thread"
"""How trio names its worker threads (which run the copies) to the OS."""


def _splice_cpu_seconds(listener_thread: int) -> float:
    """CPU time so far of the listener's thread and of the living copy threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # a thread that just ended
        if name.startswith(COPY_THREAD_NAME) or task.name == str(listener_thread):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def _load(port: int, clients: int, channels: int, seconds: float) -> list[float]:
    opened = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        kv = rpc_pb2_grpc.KVStub(opened[index % channels])
        request = rpc_pb2.RangeRequest(key=b"k")
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await kv.Range(request)
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(caller(index) for index in range(clients)))
    finally:
        for channel in opened:
            await channel.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    grpc_ready, grpc_port = threading.Event(), []
    threading.Thread(target=_serve_grpc, args=(grpc_ready, grpc_port), daemon=True).start()
    grpc_ready.wait()
    splice = _Splice(grpc_port[0])
    threading.Thread(target=splice.run, daemon=True).start()
    splice.ready.wait()
    targets = (("gRPC port", grpc_port[0]), ("shared port", splice.port.ports[0]))
    print(f"trivial unary gRPC calls, {args.clients} callers on {args.channels} channels")
    for _ in range(args.rounds):
        for name, port in targets:
            cpu_before = _splice_cpu_seconds(splice.thread_id)
            latencies = asyncio.run(_load(port, args.clients, args.channels, args.seconds))
            cpu_us = (_splice_cpu_seconds(splice.thread_id) - cpu_before) / len(latencies) * 1e6
            ordered = sorted(latencies)
            p50 = statistics.median(ordered) * 1000
            p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
            print(
                f"{name:>11}: {len(ordered) / args.seconds:7.0f} calls/s   p50 {p50:6.2f} ms   "
                f"p99 {p99:6.2f} ms   splice CPU {cpu_us:6.1f} us/call"
            )


if __name__ == "__main__":
    main()
