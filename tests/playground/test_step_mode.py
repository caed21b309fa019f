"""Step mode on real member processes: a held cluster commits only what delivered messages
make a quorum agree on, elects only with delivered votes, and loses nothing when released.

Heartbeat 50 ms and election timeout 500 ms (10 ticks), as the other playground tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from node.client import Client, connect_client
from node.messages.errors import Timeout
from playground.errors import PlaygroundError
from playground.playground import Playground
from playground.step_mode import HeldMessage

FAST = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}
WAIT = 20.0


@pytest.fixture
async def playground(tmp_path: Path):
    playground = Playground(tmp_path / "playground", members=3, **FAST)
    try:
        await playground.start()
        yield playground
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()


async def wait_for(condition: Callable[[], Awaitable[bool]]) -> None:
    with trio.fail_after(WAIT):
        while not await condition():  # noqa: ASYNC110 - polls the member processes
            await trio.sleep(0.05)


async def held_message(
    playground: Playground, sender: str, recipient: str, kind: str
) -> HeldMessage:
    """The oldest held message of this kind from `sender` to `recipient`, once there is one."""
    found: list[HeldMessage] = []

    async def held() -> bool:
        found[:] = [
            m
            for m in (await playground.step_mode.held()).held
            if (m.sender, m.recipient, m.type) == (sender, recipient, kind)
        ]
        return bool(found)

    await wait_for(held)
    return found[0]


async def raft_status(playground: Playground, name: str):
    async with connect_client([playground.member(name).native_endpoint]) as client:
        return await client.raft_status()


async def test_a_held_put_commits_only_once_a_quorum_has_its_msgapp(playground: Playground):
    leader = await playground.wait_for_leader()
    follower, other = (name for name in playground.members if name != leader)
    before = await raft_status(playground, leader)
    await playground.step_mode.hold()
    answered = trio.Event()

    async with connect_client(
        [playground.member(leader).native_endpoint], timeout=WAIT
    ) as client, trio.open_nursery() as nursery:

        async def put() -> None:
            await client.put(b"step/k", b"v1")
            answered.set()

        nursery.start_soon(put)
        app = await held_message(playground, leader, follower, "MsgApp")
        await held_message(playground, leader, other, "MsgApp")
        assert app.entries == 1
        status = await raft_status(playground, leader)
        assert status.last_index == before.last_index + 1
        assert status.commit == before.last_index
        assert not answered.is_set()

        await playground.step_mode.deliver(app.ref)
        ack = await held_message(playground, follower, leader, "MsgAppResp")
        assert ack.index == before.last_index + 1
        assert (await raft_status(playground, follower)).last_index == before.last_index + 1
        assert (await raft_status(playground, leader)).commit == before.last_index
        assert not answered.is_set()

        await playground.step_mode.deliver(ack.ref)
        with trio.fail_after(WAIT):
            await answered.wait()
        assert (await raft_status(playground, leader)).commit == before.last_index + 1
        assert (await raft_status(playground, other)).last_index == before.last_index

    await playground.step_mode.release()
    assert await playground.wait_for_leader() == leader


async def test_a_member_ticked_to_its_timeout_wins_only_with_delivered_votes(
    playground: Playground,
):
    leader = await playground.wait_for_leader()
    a, b = (name for name in playground.members if name != leader)
    term = (await raft_status(playground, a)).term
    await playground.step_mode.hold()

    ticked = await playground.step_mode.tick(a)
    assert 1 <= ticked.ticks < 20  # up to its randomized timeout: 10 to 19 ticks, less elapsed
    assert (await raft_status(playground, a)).role == "pre_candidate"
    await playground.step_mode.tick(b)
    assert (await raft_status(playground, b)).role == "pre_candidate"
    pre_vote = await held_message(playground, a, b, "MsgPreVote")
    assert pre_vote.term == term + 1
    assert (await raft_status(playground, a)).term == term

    await playground.step_mode.deliver(pre_vote.ref)
    granted = await held_message(playground, b, a, "MsgPreVoteResp")
    assert not granted.reject
    assert (await raft_status(playground, a)).role == "pre_candidate"

    await playground.step_mode.deliver(granted.ref)
    vote = await held_message(playground, a, b, "MsgVote")
    status = await raft_status(playground, a)
    assert (status.role, status.term) == ("candidate", term + 1)

    await playground.step_mode.deliver(vote.ref)
    vote_granted = await held_message(playground, b, a, "MsgVoteResp")
    assert (await raft_status(playground, a)).role == "candidate"
    await playground.step_mode.deliver(vote_granted.ref)
    status = await raft_status(playground, a)
    assert (status.role, status.term) == ("leader", term + 1)
    assert (await raft_status(playground, leader)).role == "leader"

    await playground.step_mode.release()
    assert await playground.wait_for_leader(everyone=True) == a


async def test_release_brings_back_real_time_and_loses_no_acknowledged_write(
    playground: Playground,
):
    leader = await playground.wait_for_leader()
    await playground.step_mode.hold()
    acknowledged: dict[bytes, bytes] = {}

    async def put(client: Client, key: bytes, value: bytes) -> None:
        try:
            await client.put(key, value)
        except Timeout:
            return  # its proposal was the dropped message: not acknowledged, as with etcd
        acknowledged[key] = value

    async with connect_client(
        playground.native_endpoints(), timeout=WAIT
    ) as client, trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(put, client, f"k{i}".encode(), f"v{i}".encode())

        async def some_held() -> bool:
            return len((await playground.step_mode.held()).held) >= 2

        await wait_for(some_held)
        await playground.step_mode.deliver("next")
        held = (await playground.step_mode.held()).held
        dropped = held[-1]
        await playground.step_mode.drop(dropped.ref)
        await playground.step_mode.tick(leader, 3)
        released = await playground.step_mode.release()
        assert released.held == []

    # raft retries what a dropped message carried, but a dropped proposal is lost (etcd's too)
    lost = dropped.entries if dropped.type == "MsgProp" else 0
    assert len(acknowledged) >= 5 - lost > 0
    assert (await playground.step_mode.held()).held == []
    await playground.wait_for_leader(everyone=True)
    async with connect_client(playground.native_endpoints()) as client:
        for key, value in acknowledged.items():
            assert (await client.get(key)).kvs[0].value == value

    async def equal_hashes() -> bool:
        hashes = set()
        for record in playground.members.values():
            async with connect_client([record.native_endpoint]) as member:
                reply = await member.hash_kv()
                hashes.add((reply.header.revision, reply.hash))
        return len(hashes) == 1

    await wait_for(equal_hashes)


async def test_a_put_on_a_held_cluster_times_out_with_etcds_text(playground: Playground):
    leader = await playground.wait_for_leader()
    await playground.step_mode.hold()

    async with connect_client([playground.member(leader).native_endpoint], timeout=WAIT) as c:
        with pytest.raises(Timeout, match=r"^etcdserver: request timed out$"):
            await c.put(b"step/late", b"v")

    await playground.step_mode.release()
    # the timed-out put was proposed and its MsgApps held: once released, it commits anyway
    async with connect_client([playground.member(leader).native_endpoint]) as client:
        with trio.fail_after(WAIT):
            while not (found := await client.get(b"step/late")).kvs:  # noqa: ASYNC110 - asks
                await trio.sleep(0.05)
    assert found.kvs[0].value == b"v"


async def test_a_member_restarted_during_step_mode_is_held_too(playground: Playground):
    leader = await playground.wait_for_leader()
    follower = next(name for name in playground.members if name != leader)
    await playground.step_mode.hold()
    await playground.kill(follower)

    await playground.restart(follower)

    assert (await playground.step_mode.held()).holding == list(playground.members)
    await playground.step_mode.release()
    assert (await playground.step_mode.held()).holding == []
    assert await playground.wait_for_leader(everyone=True)


async def test_step_commands_refuse_what_they_cannot_do_in_one_line(playground: Playground):
    with pytest.raises(PlaygroundError, match="clock runs in real time"):
        await playground.step_mode.tick("n1", 1)
    await playground.step_mode.hold()
    with pytest.raises(PlaygroundError, match="no held message with id 999"):
        await playground.step_mode.deliver("n1.999")
    with pytest.raises(PlaygroundError, match=r"member\.id"):
        await playground.step_mode.drop("n1")
    with pytest.raises(PlaygroundError, match="no member named 'n9'"):
        await playground.step_mode.tick("n9")
    await playground.step_mode.release()
