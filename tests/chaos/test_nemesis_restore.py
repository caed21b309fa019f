"""Making the cluster whole at the end of a chaos run, after membership changes whose replies
were lost: against a real 3-member playground (heartbeat 50 ms, election timeout 500 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from console.chaos.nemesis import Fault, Nemesis
from node.client import Client
from playground.playground import Playground
from playground.ports import LOOPBACK, PortClaims


@pytest.fixture
async def playground(tmp_path: Path):
    playground = Playground(
        tmp_path / "playground", members=3, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        await playground.start()
        yield playground
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()


async def cluster_member_ids(playground: Playground) -> set[int]:
    async with await Client.connect(playground.native_endpoints()) as client:
        return {member.ID for member in (await client.member_list()).members}


def playground_member_ids(playground: Playground) -> set[int]:
    return {member.id for member in playground.members.values()}


async def test_a_member_added_behind_the_playgrounds_back_is_removed_when_made_whole(
    playground: Playground,
) -> None:
    claims = PortClaims()
    (stranger_port,) = claims.pick(1)
    async with await Client.connect(playground.native_endpoints()) as client:
        await client.member_add([f"http://{LOOPBACK}:{stranger_port}"], is_learner=True)
    assert len(await cluster_member_ids(playground)) == 4

    nemesis = Nemesis(playground, [Fault.MEMBERSHIP], seed=1, members=3)

    assert await nemesis.restore(), nemesis.violations
    assert await cluster_member_ids(playground) == playground_member_ids(playground)
    assert len(playground.members) == 3
    claims.release_all()


async def test_a_member_the_cluster_removed_unbeknown_to_the_playground_is_replaced(
    playground: Playground,
) -> None:
    gone = playground.member("n3")
    async with await Client.connect(playground.native_endpoints()) as client:
        await client.member_remove(gone.id)

    nemesis = Nemesis(playground, [Fault.MEMBERSHIP], seed=1, members=3)

    assert await nemesis.restore(), nemesis.violations
    assert "n3" not in playground.members
    assert len(playground.members) == 3
    assert not any(member.learner for member in playground.members.values())
    assert await cluster_member_ids(playground) == playground_member_ids(playground)
