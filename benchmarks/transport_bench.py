"""Peer transport throughput on loopback: batched raft messages, then one large snapshot.

    .venv/bin/python benchmarks/transport_bench.py [--messages N] [--batch N] [--snapshot-mib N]

Two transports in one process (one core does both ends, so real members do better).
"""

from __future__ import annotations

import argparse
import time

import trio

from node.raft.types import Entry, Message, MessageType, Snapshot, SnapshotMetadata
from node.transport import Transport


class Receiver:
    """Counts what arrives and wakes the benchmark when the expected total is reached."""

    def __init__(self) -> None:
        self.messages = 0
        self.snapshot_bytes = 0
        self.expected = 0
        self.done = trio.Event()

    async def on_messages(self, messages: list[Message]) -> None:
        self.messages += len(messages)
        if self.messages >= self.expected:
            self.done.set()

    async def on_snapshot(self, message: Message) -> None:
        self.snapshot_bytes = len(message.snapshot.data)
        self.done.set()


def transport(member_id: int, receiver: Receiver) -> Transport:
    return Transport(
        member_id,
        1,
        on_messages=receiver.on_messages,
        on_snapshot=receiver.on_snapshot,
        report_unreachable=lambda peer_id: None,
        report_snapshot=lambda peer_id, ok: None,
    )


async def bench(messages: int, batch: int, snapshot_mib: int) -> None:
    sink, source_side = Receiver(), Receiver()
    a, b = transport(1, source_side), transport(2, sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.serve)
        await nursery.start(b.serve)
        a.add_peer(2, ("127.0.0.1", b.port))
        b.add_peer(1, ("127.0.0.1", a.port))

        sink.expected = messages
        started = time.perf_counter()
        for start in range(0, messages, batch):
            a.send(
                [
                    Message(
                        type=MessageType.MSG_APP,
                        to=2,
                        frm=1,
                        term=1,
                        index=i,
                        entries=[Entry(term=1, index=i + 1, data=bytes(256))],
                    )
                    for i in range(start, min(start + batch, messages))
                ]
            )
            await trio.lowlevel.checkpoint()
        await sink.done.wait()
        elapsed = time.perf_counter() - started
        frames = b.stats()["peers"][1]["frames_received"]
        print(
            f"messages: {messages} MSG_APP (256 B entry) in {elapsed:.2f}s = "
            f"{messages / elapsed:,.0f}/s, {frames} frames, {a.stats()['peers'][2]['dropped']} "
            "dropped"
        )

        sink.done = trio.Event()
        payload = bytes(snapshot_mib * 1024 * 1024)
        started = time.perf_counter()
        a.send(
            [
                Message(
                    type=MessageType.MSG_SNAP,
                    to=2,
                    frm=1,
                    term=1,
                    snapshot=Snapshot(data=payload, metadata=SnapshotMetadata(index=1, term=1)),
                )
            ]
        )
        await sink.done.wait()
        elapsed = time.perf_counter() - started
        print(
            f"snapshot: {sink.snapshot_bytes / 2**20:.0f} MiB in {elapsed:.2f}s = "
            f"{sink.snapshot_bytes / 2**20 / elapsed:,.0f} MiB/s"
        )
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--snapshot-mib", type=int, default=256)
    args = parser.parse_args()
    trio.run(bench, args.messages, args.batch, args.snapshot_mib)


if __name__ == "__main__":
    main()
