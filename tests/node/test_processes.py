"""Issue 4's proof against real member processes on loopback: SIGKILLed leaders, restarts from
the data dir, isolation by fault injection, snapshot catch-up, learners, leases across a leader
change, watches across members, and no acknowledged write lost while members die at random."""

from __future__ import annotations

import contextlib
import math
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from node.client import connect_client
from node.messages import errors
from tests.compat.cluster import ProcessCluster

from .member_processes import (
    client_of,
    kill,
    leader_of,
    member_id,
    native_endpoints,
    new_cluster,
    wait_at_revision,
    wait_for_leader,
    wait_same_data,
)

STARTUP_S = 30
ELECTION_S = 15
CATCH_UP_S = 30
UNAVAILABLE_TEXTS = {
    errors.Timeout.message,
    errors.TimeoutDueToLeaderFail.message,
    errors.TimeoutDueToConnectionLost.message,
    errors.NoLeader.message,
    errors.LeaderChanged.message,
    "context deadline exceeded",
}
"""What etcd answers a member that cannot reach a quorum (or what the client's deadline says)."""

ClusterMaker = Callable[..., ProcessCluster]


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[ClusterMaker]:
    """Builds clusters of member processes; every process is stopped afterwards, whatever
    happened."""
    made: list[ProcessCluster] = []

    def make(size: int, *extra_args: str) -> ProcessCluster:
        cluster = new_cluster(tmp_path / f"cluster{len(made)}", size, *extra_args)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop_all()


async def started(make_cluster: ClusterMaker, size: int = 3, *extra_args: str) -> ProcessCluster:
    cluster = make_cluster(size, *extra_args)
    for member in cluster.members:
        member.start()
    with trio.fail_after(STARTUP_S):
        await wait_for_leader(cluster.members)
    return cluster


async def test_writes_and_linearizable_reads_go_through_every_member(make_cluster):
    cluster = await started(make_cluster)

    for member in cluster.members:
        async with client_of(member) as client:
            await client.put(f"via/{member.name}", f"written at {member.name}")

    expected = [
        (f"via/{m.name}".encode(), f"written at {m.name}".encode()) for m in cluster.members
    ]
    for member in cluster.members:
        async with client_of(member) as client:
            reply = await client.get("via/", prefix=True)
        assert [(kv.key, kv.value) for kv in reply.kvs] == expected


async def test_a_sigkilled_leader_is_replaced_and_catches_up_after_restart(make_cluster):
    cluster = await started(make_cluster)
    async with connect_client(native_endpoints(cluster.members)) as client:
        await client.put("before", "1")
    with trio.fail_after(ELECTION_S):
        old_leader = await leader_of(cluster.members)
        old_id = await member_id(old_leader)

    kill(old_leader)
    survivors = [m for m in cluster.members if m is not old_leader]
    with trio.fail_after(ELECTION_S):
        new_id = await wait_for_leader(survivors, not_id=old_id)
    async with connect_client(native_endpoints(survivors)) as client:
        for index in range(20):
            await client.put(f"after/{index}", str(index))

    old_leader.start()
    with trio.fail_after(CATCH_UP_S):
        await wait_same_data(cluster.members)
    async with client_of(old_leader) as client:
        reply = await client.get("after/", prefix=True, serializable=True)
    assert new_id != old_id
    assert [kv.value for kv in reply.kvs] == [str(i).encode() for i in sorted(range(20), key=str)]


async def test_an_isolated_member_serves_no_linearizable_request_and_rejoins_after_heal(
    make_cluster,
):
    cluster = await started(make_cluster)
    with trio.fail_after(ELECTION_S):
        leader = await leader_of(cluster.members)
    isolated = next(m for m in cluster.members if m is not leader)
    majority = [m for m in cluster.members if m is not isolated]
    majority_ids = [await member_id(m) for m in majority]

    async with client_of(isolated, timeout=1.5) as client:
        await client.fault("isolate", peer_ids=majority_ids)
        with pytest.raises(errors.EtcdError) as failed_read:
            await client.get("during")
        with pytest.raises(errors.EtcdError) as failed_write:
            await client.put("lost?", "maybe")
    assert failed_read.value.message in UNAVAILABLE_TEXTS
    assert failed_write.value.message in UNAVAILABLE_TEXTS

    async with connect_client(native_endpoints(majority)) as client:
        await client.put("during", "partition")
        assert (await client.get("during")).kvs[0].value == b"partition"

    async with client_of(isolated) as client:
        await client.fault("heal")
    with trio.fail_after(CATCH_UP_S):
        await wait_same_data(cluster.members)
    async with client_of(isolated) as client:
        reply = await client.get("during")
    assert reply.kvs[0].value == b"partition"


async def test_a_member_behind_a_compacted_log_catches_up_by_snapshot(make_cluster):
    cluster = await started(make_cluster, 3, "--snapshot-count=50")
    behind = cluster.members[2]
    behind_id = await member_id(behind)
    kill(behind)
    survivors = cluster.members[:2]
    with trio.fail_after(ELECTION_S):
        await wait_for_leader(survivors, not_id=behind_id)

    async with connect_client(native_endpoints(survivors)) as client:
        for index in range(200):
            reply = await client.put(f"bulk/{index:03}", f"value {index}")
        await client.compact(reply.header.revision)

    behind.start()
    with trio.fail_after(CATCH_UP_S):
        await wait_same_data(cluster.members)
    async with client_of(behind) as client:
        reply = await client.get("bulk/", prefix=True, serializable=True)
        with pytest.raises(errors.Compacted):
            await client.get("bulk/000", revision=2, serializable=True)
    assert [(kv.key, kv.value) for kv in reply.kvs] == [
        (f"bulk/{i:03}".encode(), f"value {i}".encode()) for i in range(200)
    ]
    assert "installed the backend of the snapshot" in (behind.data_dir / "node.log").read_text()


async def test_a_learner_joins_catches_up_is_promoted_and_a_voter_is_removed(make_cluster):
    cluster = await started(make_cluster)
    async with connect_client(native_endpoints(cluster.members)) as client:
        written = await client.put("seen-by-learner", "yes")
        joining = cluster.joining_member("m4")
        joining.extra_args = cluster.members[0].extra_args
        added = await client.member_add([joining.peer_url], is_learner=True)
        learner_id = added.member.ID
        joining.start()
        with trio.fail_after(CATCH_UP_S):
            await wait_at_revision(joining, written.header.revision)
            while True:
                try:
                    await client.member_promote(learner_id)
                    break
                except errors.LearnerNotReady:
                    await trio.sleep(0.1)
        with trio.fail_after(ELECTION_S):
            leader = await leader_of(cluster.members)
        removed = next(m for m in cluster.members[:3] if m is not leader)
        await client.member_remove(await member_id(removed))
        members = (await client.member_list()).members

    cluster.remove(removed)
    remaining_ids = {await member_id(m) for m in cluster.members}
    assert {m.ID for m in members} == remaining_ids
    assert learner_id in remaining_ids
    assert not any(m.isLearner for m in members)
    async with client_of(joining) as client:
        await client.put("after-removal", "ok")
    with trio.fail_after(CATCH_UP_S):
        await wait_same_data(cluster.members)
    async with client_of(joining) as client:
        reply = await client.get("seen-by-learner", serializable=True)
    assert reply.kvs[0].value == b"yes"


async def test_a_lease_outlives_a_leader_kill_and_expires_after_its_ttl(make_cluster):
    ttl = 3
    cluster = await started(make_cluster)
    with trio.fail_after(ELECTION_S):
        leader = await leader_of(cluster.members)
    survivors = [m for m in cluster.members if m is not leader]
    async with connect_client(native_endpoints(survivors)) as client:
        granted_at = trio.current_time()
        lease = await client.lease_grant(ttl)
        await client.put("leased", "v", lease=lease.ID)
        kill(leader)

        await trio.sleep_until(granted_at + 1)
        still_there = await client.get("leased")
        with trio.fail_after(2 * ttl + ELECTION_S):
            while (await client.get("leased")).kvs:  # noqa: ASYNC110 - asks the cluster
                await trio.sleep(0.1)
        gone_after = trio.current_time() - granted_at
    assert still_there.kvs[0].value == b"v"
    assert gone_after >= ttl


async def test_a_watch_on_one_member_sees_writes_through_the_others_in_order(make_cluster):
    cluster = await started(make_cluster)
    watched, *writers = cluster.members
    seen: list[tuple[bytes, int]] = []
    async with client_of(watched) as watcher, watcher.watch("feed/", prefix=True) as watch:
        written = []
        for index in range(10):
            async with client_of(writers[index % 2]) as client:
                reply = await client.put(f"feed/{index}", f"from {writers[index % 2].name}")
            written.append((f"feed/{index}".encode(), reply.header.revision))
        with trio.fail_after(CATCH_UP_S):
            async for response in watch:
                seen.extend((event.kv.key, event.kv.mod_revision) for event in response.events)
                if len(seen) >= len(written):
                    break
    assert seen == written


async def test_no_acknowledged_write_is_lost_while_random_members_are_killed(make_cluster):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    cluster = await started(make_cluster)
    acknowledged: dict[str, str] = {}
    acks_send, acks_receive = trio.open_memory_channel[str](math.inf)
    kills = 8

    async def writer(task: int, stop: trio.Event) -> None:
        async with connect_client(native_endpoints(cluster.members), timeout=2) as client:
            index = 0
            while not stop.is_set():
                key, value = f"ack/{task}/{index:05}", f"{seed}-{task}-{index}"
                index += 1
                try:
                    await client.put(key, value)
                except errors.EtcdError:
                    continue
                acknowledged[key] = value
                acks_send.send_nowait(key)

    async def acknowledged_grows() -> None:
        """Until five more writes are acknowledged than when it was called."""
        with contextlib.suppress(trio.WouldBlock):
            while True:
                acks_receive.receive_nowait()
        for _ in range(5):
            await acks_receive.receive()

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for task in range(4):
            nursery.start_soon(writer, task, stop)
        for _ in range(kills):
            victim = rng.choice(cluster.members)
            victim_id = await member_id(victim)
            kill(victim)
            survivors = [m for m in cluster.members if m is not victim]
            with trio.fail_after(ELECTION_S):
                await wait_for_leader(survivors, not_id=victim_id)
                await acknowledged_grows()
            victim.start()
            with trio.fail_after(STARTUP_S):
                await wait_for_leader(cluster.members)
        stop.set()

    with trio.fail_after(CATCH_UP_S):
        await wait_same_data(cluster.members)
    assert len(acknowledged) > kills * 5, f"seed {seed}"
    for member in cluster.members:
        async with client_of(member) as client:
            reply = await client.get("ack/", prefix=True, serializable=True)
        stored = {kv.key.decode(): kv.value.decode() for kv in reply.kvs}
        lost = {k: v for k, v in acknowledged.items() if stored.get(k) != v}
        assert not lost, f"seed {seed}: {member.name} lost {len(lost)} acknowledged writes"


async def test_a_leader_paused_past_a_leases_ttl_does_not_revoke_it_when_it_wakes(make_cluster):
    # etcd #15247: the old leader wakes believing it still leads, finds the lease expired by
    # its own clock and must not revoke it: the new leader has kept it alive meanwhile.
    ttl = 2
    cluster = await started(make_cluster)
    for attempt in range(3):
        with trio.fail_after(ELECTION_S):
            leader = await leader_of(cluster.members)
        survivors = [m for m in cluster.members if m is not leader]
        assert leader.process is not None
        async with connect_client(native_endpoints(survivors)) as client:
            lease = await client.lease_grant(ttl)
            await client.put(f"leased-{attempt}", "v", lease=lease.ID)
            leader.process.send_signal(signal.SIGSTOP)
            try:
                paused_until = trio.current_time() + ttl + 1.5
                while trio.current_time() < paused_until:
                    with trio.move_on_after(1.0):
                        await client.keep_alive_once(lease.ID)
                    await trio.sleep(0.3)
            finally:
                leader.process.send_signal(signal.SIGCONT)
            woke_at = trio.current_time()
            while trio.current_time() < woke_at + 1.5:  # the woken member's lease loop has run
                await client.keep_alive_once(lease.ID)
                await trio.sleep(0.3)
            assert (await client.get(f"leased-{attempt}")).kvs, f"attempt {attempt}"
            await client.lease_revoke(lease.ID)
