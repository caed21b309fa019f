"""Membership changes: a learner joins with `existing`, catches up, is promoted; voters and the
leader are removed; etcd's checks refuse bad changes."""

from __future__ import annotations

import time

import pytest
import trio

from node.messages import errors
from node.messages.cluster import (
    MemberAddRequest,
    MemberListRequest,
    MemberPromoteRequest,
    MemberRemoveRequest,
    MemberUpdateRequest,
)
from node.messages.kv import PutRequest, RangeRequest
from node.server.cluster import added_member_id
from tests.server.harness import (
    Cluster,
    cluster_configs,
    member_config,
    reserve_peer_port,
    wait_for,
)


def _joining_config(tmp_path, cluster, name):
    port = reserve_peer_port()
    initial = {mb.name: list(mb.config.initial_advertise_peer_urls) for mb in cluster.members}
    initial[name] = [f"http://127.0.0.1:{port}"]
    return member_config(tmp_path, name, port, initial, state="existing")


async def test_a_learner_joins_catches_up_and_is_promoted_then_members_are_removed(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, snapshot_count=20))
        await cluster.start_all()
        leader = await cluster.leader()
        for i in range(40):
            await leader.put(PutRequest(key=f"k{i}".encode(), value=b"v"))

        config = _joining_config(tmp_path, cluster, "learner")
        follower = cluster.followers(leader)[0]
        added = await follower.member_add(
            MemberAddRequest(peer_urls=config.initial_advertise_peer_urls, is_learner=True)
        )
        assert added.member.is_learner
        assert added.member.id in [mb.id for mb in added.members]

        learner = await cluster.start(cluster.add(config))
        assert learner.member_id == added.member.id
        assert learner.is_learner  # from the members it fetched, before it applied any entry
        await wait_for(lambda: learner.applied_index >= leader.applied_index)
        got = await learner.range(RangeRequest(key=b"k", range_end=b"l", serializable=True))
        assert got.count == 40
        with pytest.raises(errors.NotSupportedForLearner):
            await learner.put(PutRequest(key=b"x", value=b"y"))
        with pytest.raises(errors.NotSupportedForLearner):
            await learner.range(RangeRequest(key=b"k0"))
        listed = await wait_for(
            lambda: [mb for mb in leader.state.cluster.members() if mb.name == "learner"]
        )
        assert listed[0].client_urls == config.advertise_client_urls  # it published them

        promoted = await follower.member_promote(MemberPromoteRequest(id=learner.member_id))
        assert not next(mb for mb in promoted.members if mb.id == learner.member_id).is_learner
        await wait_for(lambda: not learner.is_learner)
        await learner.put(PutRequest(key=b"from-the-new-voter", value=b"1"))

        removed = cluster.followers(leader)[0]
        removed = removed if removed is not learner else cluster.followers(leader)[1]
        removed_member = cluster.member_of(removed)
        await leader.member_remove(MemberRemoveRequest(id=removed.member_id))
        await removed_member.stopped.wait()  # a removed member stops itself
        assert removed.member_id not in [mb.id for mb in leader.state.cluster.members()]

        leader_id, leader_member = leader.member_id, cluster.member_of(leader)
        await learner.member_remove(MemberRemoveRequest(id=leader_id))
        await leader_member.stopped.wait()
        new_leader = await cluster.leader()
        assert new_leader.member_id != leader_id
        await new_leader.put(PutRequest(key=b"after", value=b"1"))
        members = (await new_leader.member_list(MemberListRequest())).members
        assert len(members) == 2
        nursery.cancel_scope.cancel()


async def test_bad_membership_changes_are_refused(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        await wait_for(lambda: all(mb.name for mb in leader.state.cluster.members()))
        taken = leader.config.initial_advertise_peer_urls
        with pytest.raises(errors.PeerURLExists):
            await leader.member_add(MemberAddRequest(peer_urls=taken))
        with pytest.raises(errors.MemberBadURLs):
            await leader.member_add(MemberAddRequest(peer_urls=["not a url"]))
        with pytest.raises(errors.MemberNotFound):
            await leader.member_remove(MemberRemoveRequest(id=12345))
        with pytest.raises(errors.MemberNotLearner):
            await leader.member_promote(MemberPromoteRequest(id=leader.member_id))
        port = reserve_peer_port()
        await leader.member_add(
            MemberAddRequest(peer_urls=[f"http://127.0.0.1:{port}"], is_learner=True)
        )
        with pytest.raises(errors.TooManyLearners):
            await leader.member_add(
                MemberAddRequest(peer_urls=[f"http://127.0.0.1:{port + 1}"], is_learner=True)
            )
        learner = next(mb for mb in leader.state.cluster.members() if mb.is_learner)
        with pytest.raises(errors.LearnerNotReady):
            await leader.member_promote(MemberPromoteRequest(id=learner.id))
        nursery.cancel_scope.cancel()


async def test_the_last_voter_cannot_be_removed(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        leader = await cluster.leader()
        with pytest.raises(errors.MemberNotEnoughStarted):
            await leader.member_remove(MemberRemoveRequest(id=leader.member_id))
        nursery.cancel_scope.cancel()


async def test_member_update_changes_peer_urls(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        leader = await cluster.leader()
        urls = ["http://127.0.0.1:1"]
        resp = await leader.member_update(MemberUpdateRequest(id=leader.member_id, peer_urls=urls))
        assert [mb.peer_urls for mb in resp.members] == [urls]
        with pytest.raises(errors.MemberNotFound):
            await leader.member_update(MemberUpdateRequest(id=42, peer_urls=urls))
        nursery.cancel_scope.cancel()


async def test_an_added_member_gets_etcds_time_derived_id_whatever_the_cluster_token(tmp_path):
    async with trio.open_nursery() as nursery:
        configs = cluster_configs(tmp_path, 1, initial_cluster_token="not-part-of-the-id")
        cluster = Cluster(nursery, configs)
        await cluster.start_all()
        leader = await cluster.leader()
        urls = [f"http://127.0.0.1:{reserve_peer_port()}"]
        before = int(time.time())
        added = await leader.member_add(MemberAddRequest(peer_urls=urls, is_learner=True))
        after = int(time.time())
        assert added.member.id in {added_member_id(urls, t) for t in range(before, after + 1)}
        nursery.cancel_scope.cancel()


async def test_adding_even_a_learner_is_refused_while_a_voter_is_unreachable(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        down = cluster.member_of(cluster.followers(leader)[0])
        peers = leader.subscribe_events()
        await cluster.stop(down)
        down_id = f"{down.config.member_id(down.name):x}"
        with trio.fail_after(10):
            async for event in peers:
                if event.kind == "peers" and not event.fields["peers"][down_id]["active"]:
                    break
        urls = [f"http://127.0.0.1:{reserve_peer_port()}"]
        with pytest.raises(errors.Unhealthy, match="etcdserver: unhealthy cluster"):
            await leader.member_add(MemberAddRequest(peer_urls=urls, is_learner=True))
        assert len((await leader.member_list(MemberListRequest())).members) == 3
        nursery.cancel_scope.cancel()
