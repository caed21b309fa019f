"""Who may connect: other clusters, unknown senders and misaddressed dialers are refused."""

import pytest
import trio

from node.transport.protocol import CLUSTER_ID_MISMATCH, SENDER_NOT_FOUND, TO_FIELD_MISMATCH
from tests.transport.harness import (
    CLUSTER,
    dial_raw,
    heartbeat,
    running,
    start_member,
    wait_closed_by_peer,
)


async def test_a_member_of_another_cluster_is_refused(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, b):
            stranger, _ = await start_member(nursery, 3, cluster_id=CLUSTER + 1)
            stranger.transport.add_peer(1, a.address)
            a.transport.add_peer(3, stranger.address)

            stranger.transport.send([heartbeat(3, 1, 1)])
            await stranger.until(lambda: 1 in stranger.unreachable)
            b.transport.send([heartbeat(2, 1, 2)])
            await a.until(lambda: a.received)

            assert CLUSTER_ID_MISMATCH in stranger.peer_stats(1)["last_error"]
            assert a.indexes_from(3) == []
            assert a.indexes_from(2) == [2]
            assert a.transport.stats()["refused_connections"] >= 1
            assert CLUSTER_ID_MISMATCH in a.transport.stats()["last_refusal"]


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        ({"cluster_id": CLUSTER + 1}, CLUSTER_ID_MISMATCH),
        ({"to_id": 9}, TO_FIELD_MISMATCH),
        ({"from_id": 9}, SENDER_NOT_FOUND),
    ],
)
async def test_a_mismatched_handshake_is_refused_with_etcds_reason(nursery, hello, reason):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, _):
            fields = {"from_id": 2} | hello
            from_id = fields.pop("from_id")
            stream, verdict = await dial_raw(a, from_id, **fields)

            assert not verdict.accepted
            assert verdict.reason == reason
            await wait_closed_by_peer(stream)
            assert a.transport.stats()["last_refusal"].startswith(reason)


async def test_a_matching_handshake_is_accepted(nursery):
    with trio.fail_after(5):
        async with running(nursery, 1, 2) as (a, _):
            stream, verdict = await dial_raw(a, 2)
            await stream.aclose()

            assert verdict.accepted
            assert a.transport.stats()["refused_connections"] == 0
