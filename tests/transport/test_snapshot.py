"""Snapshots stream on their own connections, arrive intact, and failures are reported."""

import random

import crc32c
import trio

from node.transport.framing import FrameReader, bytes_frame_head, encode_frame
from node.transport.protocol import StreamKind, Verdict
from node.transport.snapshot import CRC_MISMATCH
from tests.transport.harness import dial_raw, heartbeat, running, snap, wait_closed_by_peer

MiB = 1024 * 1024


def payload_of(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


async def test_a_large_snapshot_arrives_intact_while_heartbeats_continue(nursery):
    first, second = payload_of(3 * MiB, seed=1), payload_of(3 * MiB + 5, seed=2)
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            await a.until(lambda: a.active.get(2))

            async def chunks():
                yield first
                await b.until(lambda: b.received)
                yield second

            a.transport.send_snapshot(snap(1, 2, index=40), chunks())
            a.transport.send([heartbeat(1, 2, 1)])
            await b.until(lambda: b.snapshots)

            assert b.indexes_from(1) == [1]
            (message,) = b.snapshots
            assert message.snapshot.data == first + second
            assert message.snapshot.metadata.index == 40
            await a.until(lambda: a.snapshot_reports)
            assert a.snapshot_reports == [(2, True)]
            assert a.peer_stats(2)["snapshots_sent"] == b.peer_stats(1)["snapshots_received"] == 1


async def test_snapshots_from_a_message_and_from_a_file_arrive_intact(nursery, tmp_path):
    in_message, in_file = payload_of(2 * MiB + 3, seed=3), payload_of(5 * MiB, seed=4)
    path = tmp_path / "db"
    path.write_bytes(in_file)
    with trio.fail_after(5):
        async with running(nursery, 1, 2, 3) as (a, b, c):
            a.transport.send([snap(1, 2, data=in_message, index=10)])
            a.transport.send_snapshot(snap(1, 3, index=20), path)

            await b.until(lambda: b.snapshots)
            await c.until(lambda: c.snapshots)
            assert b.snapshots[0].snapshot.data == in_message
            assert c.snapshots[0].snapshot.data == in_file
            await a.until(lambda: len(a.snapshot_reports) == 2)
            assert sorted(a.snapshot_reports) == [(2, True), (3, True)]


async def test_a_corrupted_chunk_is_detected_and_the_snapshot_refused(nursery):
    payload = payload_of(2 * MiB)
    crc = crc32c.crc32c(payload)
    corrupted = bytearray(payload)
    corrupted[MiB + 17] ^= 0x01
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, _):
            stream, verdict = await dial_raw(a, 2, kind=StreamKind.SNAPSHOT)
            assert verdict.accepted

            await stream.send_all(encode_frame(snap(2, 1, index=5).to_wire()))
            for start in (0, MiB):
                await stream.send_all(bytes_frame_head(MiB) + corrupted[start : start + MiB])
            await stream.send_all(encode_frame([len(payload), crc]))

            answer = await FrameReader(stream, 1024).read_frame()
            assert Verdict.from_wire(answer) == Verdict(False, CRC_MISMATCH)
            await wait_closed_by_peer(stream)
            assert a.snapshots == []
            assert a.peer_stats(2)["snapshots_failed"] == 1
            assert CRC_MISMATCH in a.peer_stats(2)["last_error"]


async def test_a_refused_snapshot_is_reported_as_a_failure(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            b.transport.isolate([1])
            a.transport.send([snap(1, 2, data=payload_of(MiB))])

            await a.until(lambda: a.snapshot_reports)
            assert a.snapshot_reports == [(2, False)]
            assert b.snapshots == []
            assert "fault injection" in a.peer_stats(2)["last_error"]

            b.transport.heal()
            a.transport.send([snap(1, 2, data=b"small")])
            await a.until(lambda: len(a.snapshot_reports) == 2)
            assert a.snapshot_reports[-1] == (2, True)
            assert b.snapshots[0].snapshot.data == b"small"
