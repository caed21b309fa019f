"""Maintenance: NOSPACE alarm and its recovery, status, hashes, move-leader, fault injection."""

from __future__ import annotations

import pytest
import trio

from node import failpoints
from node.failpoints import FailpointError
from node.messages import errors
from node.messages.faults import FaultKind, FaultRequest
from node.messages.kv import CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest
from node.messages.maintenance import (
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmType,
    DefragmentRequest,
    HashKVRequest,
    HashRequest,
    MoveLeaderRequest,
    StatusRequest,
)
from tests.server.harness import WAIT, Cluster, cluster_configs, wait_for

QUOTA = 256 * 1024


async def test_the_nospace_alarm_stops_writes_until_compaction_defrag_and_disarm(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, quota_backend_bytes=QUOTA))
        await cluster.start_all()
        server = await cluster.leader()
        written = 0
        with pytest.raises(errors.NoSpace):
            for i in range(1000):
                await server.put(PutRequest(key=f"k{i:04}".encode(), value=b"x" * 4096))
                written += 1
        assert 0 < written < 1000
        alarms = await wait_for(lambda: server.state.alarms.get())
        assert alarms == [AlarmMember(server.member_id, AlarmType.NOSPACE)]
        listed = await server.alarm(AlarmRequest(AlarmAction.GET))
        assert listed.alarms == alarms
        status = await server.status(StatusRequest())
        assert status.errors == [f"memberID:{server.member_id} alarm:NOSPACE "]
        with pytest.raises(errors.NoSpace):
            await server.put(PutRequest(key=b"small", value=b"1"))
        assert (await server.range(RangeRequest(key=b"k", range_end=b"l"))).count == written

        deleted = await server.delete_range(DeleteRangeRequest(key=b"k", range_end=b"l"))
        await server.compact(CompactionRequest(deleted.revision))
        before = server.state.backend.size()
        await server.defragment(DefragmentRequest())
        assert server.state.backend.size() < min(before, QUOTA)
        disarmed = await server.alarm(
            AlarmRequest(AlarmAction.DEACTIVATE, server.member_id, AlarmType.NOSPACE)
        )
        assert disarmed.alarms == alarms
        await server.put(PutRequest(key=b"small", value=b"1"))
        nursery.cancel_scope.cancel()


async def test_status_hash_and_hash_kv_agree_across_members(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        for i in range(10):
            await leader.put(PutRequest(key=f"k{i}".encode(), value=b"v"))
        await wait_for(
            lambda: all(s.applied_index == leader.applied_index for s in cluster.running)
        )
        statuses = [await s.status(StatusRequest()) for s in cluster.running]
        assert {s.leader for s in statuses} == {leader.member_id}
        assert {s.raft_applied_index for s in statuses} == {leader.applied_index}
        assert all(s.version.startswith("3.4.") and s.db_size > 0 for s in statuses)
        assert all(s.db_size_in_use <= s.db_size and not s.is_learner for s in statuses)
        answered_by = [s.header.member_id for s in statuses]
        assert answered_by == [srv.member_id for srv in cluster.running]
        hashes = {(await s.hash_kv(HashKVRequest())).hash for s in cluster.running}
        assert len(hashes) == 1
        whole = {(await s.hash(HashRequest())).hash for s in cluster.running}
        assert len(whole) == 1
        nursery.cancel_scope.cancel()


async def test_move_leader_hands_leadership_to_the_target(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        target = cluster.followers(leader)[0]
        with pytest.raises(errors.NotLeader):
            await target.move_leader(MoveLeaderRequest(target_id=leader.member_id))
        with pytest.raises(errors.BadLeaderTransferee):
            await leader.move_leader(MoveLeaderRequest(target_id=99))
        await leader.move_leader(MoveLeaderRequest(target_id=target.member_id))
        assert target.is_leader
        await target.put(PutRequest(key=b"k", value=b"v"))
        nursery.cancel_scope.cancel()


async def test_fault_injection_is_refused_unless_enabled(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        server = await cluster.leader()
        with pytest.raises(errors.FaultInjectionDisabled):
            await server.inject_fault(FaultRequest(FaultKind.PAUSE_APPLY))
        nursery.cancel_scope.cancel()


async def test_an_isolated_leader_is_replaced_and_rejoins_after_heal(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, enable_fault_injection=True))
        await cluster.start_all()
        old = await cluster.leader()
        others = cluster.followers(old)
        isolated = await old.inject_fault(
            FaultRequest(FaultKind.ISOLATE, peer_ids=[s.member_id for s in others])
        )
        assert sorted(isolated.faults["isolated"]) == sorted(s.member_id for s in others)
        new = await wait_for(lambda: next((s for s in others if s.is_leader), None))
        await new.put(PutRequest(key=b"during", value=b"partition"))
        with trio.move_on_after(1) as gave_up:
            await old.put(PutRequest(key=b"lost", value=b"1"))
        assert gave_up.cancelled_caught  # the minority side cannot commit
        await old.inject_fault(FaultRequest(FaultKind.HEAL))
        await wait_for(lambda: old.leader_id == new.member_id)
        got = await old.range(RangeRequest(key=b"during"))
        assert [kv.value for kv in got.kvs] == [b"partition"]
        assert (await new.range(RangeRequest(key=b"lost"))).count == 0
        nursery.cancel_scope.cancel()


async def test_a_crash_point_is_armed_through_the_fault_door_and_heal_disarms_it(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, enable_fault_injection=True))
        await cluster.start_all()
        server = await cluster.leader()
        try:
            armed = await server.inject_fault(
                FaultRequest(FaultKind.FAILPOINT, failpoint="defragBeforeCopy", terms="1*return(x)")
            )
            assert armed.faults["failpoints"] == {"defragBeforeCopy": "1*return(x)"}
            with pytest.raises(FailpointError, match="failpoint defragBeforeCopy: x"):
                await server.defragment(DefragmentRequest())
            await server.defragment(DefragmentRequest())  # fired once, then disarmed
            with pytest.raises(errors.FailpointRefused, match="unknown failpoint 'nope'"):
                await server.inject_fault(
                    FaultRequest(FaultKind.FAILPOINT, failpoint="nope", terms="panic")
                )
            with pytest.raises(errors.FailpointRefused, match="bad failpoint terms"):
                await server.inject_fault(
                    FaultRequest(FaultKind.FAILPOINT, failpoint="afterCommit", terms="crash")
                )
            await server.inject_fault(
                FaultRequest(FaultKind.FAILPOINT, failpoint="afterCommit", terms="sleep(1)")
            )
            healed = await server.inject_fault(FaultRequest(FaultKind.HEAL))
            assert healed.faults["failpoints"] == {}
            await server.put(PutRequest(key=b"k", value=b"v"))
        finally:
            failpoints.disarm_all()
        nursery.cancel_scope.cancel()


async def test_paused_apply_holds_writes_until_resumed(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, enable_fault_injection=True))
        await cluster.start_all()
        server = await cluster.leader()
        await server.inject_fault(FaultRequest(FaultKind.PAUSE_APPLY))
        done = trio.Event()

        async def write():
            await server.put(PutRequest(key=b"k", value=b"v"))
            done.set()

        nursery.start_soon(write)
        await wait_for(lambda: server.committed_index > server.applied_index)
        assert not done.is_set()
        await server.inject_fault(FaultRequest(FaultKind.RESUME_APPLY))
        with trio.fail_after(5):
            await done.wait()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("pre_vote", [True, False])
async def test_an_isolated_follower_raises_its_term_only_without_pre_vote(tmp_path, pre_vote):
    configs = cluster_configs(tmp_path, 3, enable_fault_injection=True, pre_vote=pre_vote)
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, configs)
        await cluster.start_all()
        leader = await cluster.leader()
        follower, other = cluster.followers(leader)
        term = follower.term
        events = follower.subscribe_events()
        await follower.inject_fault(
            FaultRequest(FaultKind.ISOLATE, peer_ids=[leader.member_id, other.member_id])
        )
        wanted = "pre_candidate" if pre_vote else "candidate"
        with trio.fail_after(WAIT):
            async for event in events:
                if event.kind == "role" and event.fields["role"] == wanted:
                    break
        # a pre-candidate asks without raising its term; a candidate raises it first
        assert (follower.term == term) is pre_vote
        assert leader.term == term
        nursery.cancel_scope.cancel()
