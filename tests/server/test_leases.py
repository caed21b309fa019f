"""Leases through raft: grant, keep-alive through a follower, time-to-live, expiry, revoke."""

from __future__ import annotations

import pytest
import trio

from node.messages import errors
from node.messages.kv import PutRequest, RangeRequest
from node.messages.lease import (
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseLeasesRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
)
from tests.server.harness import Cluster, cluster_configs, wait_for


async def test_a_lease_kept_alive_through_a_follower_lives_and_expires_once_left_alone(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        granted = await follower.lease_grant(LeaseGrantRequest(ttl=1))
        assert granted.id != 0 and granted.ttl == 1
        await follower.put(PutRequest(key=b"ephemeral", value=b"v", lease=granted.id))

        kept_alive_until = trio.current_time() + 1.6  # past the 1 s TTL
        while trio.current_time() < kept_alive_until:
            renewed = await follower.lease_renew(LeaseKeepAliveRequest(id=granted.id))
            assert renewed.ttl == 1
            await trio.sleep(0.2)
        ttl = await follower.lease_time_to_live(LeaseTimeToLiveRequest(id=granted.id, keys=True))
        assert ttl.granted_ttl == 1 and ttl.keys == [b"ephemeral"]
        assert (await follower.range(RangeRequest(key=b"ephemeral"))).count == 1

        async def gone():
            return (await follower.range(RangeRequest(key=b"ephemeral"))).count == 0

        with trio.fail_after(5):
            while not await gone():  # noqa: ASYNC110 - asks a member
                await trio.sleep(0.05)
        ttl = await follower.lease_time_to_live(LeaseTimeToLiveRequest(id=granted.id))
        assert ttl.ttl == -1
        with pytest.raises(errors.LeaseNotFound):
            await follower.lease_renew(LeaseKeepAliveRequest(id=granted.id))
        nursery.cancel_scope.cancel()


async def test_revoke_deletes_the_keys_and_leases_lists_what_is_left(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        kept = await leader.lease_grant(LeaseGrantRequest(ttl=60, id=7))
        doomed = await leader.lease_grant(LeaseGrantRequest(ttl=60))
        assert kept.id == 7
        with pytest.raises(errors.LeaseExists):
            await follower.lease_grant(LeaseGrantRequest(ttl=60, id=7))
        await follower.put(PutRequest(key=b"a", value=b"1", lease=doomed.id))
        await follower.put(PutRequest(key=b"b", value=b"2", lease=doomed.id))
        await follower.lease_revoke(LeaseRevokeRequest(id=doomed.id))
        assert (await follower.range(RangeRequest(key=b"a", range_end=b"c"))).count == 0
        listed = await follower.lease_leases(LeaseLeasesRequest())
        assert [lease.id for lease in listed.leases] == [7]
        with pytest.raises(errors.LeaseNotFound):
            await follower.lease_revoke(LeaseRevokeRequest(id=doomed.id))
        nursery.cancel_scope.cancel()


async def test_a_new_leader_keeps_leases_alive_for_their_ttl(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        granted = await leader.lease_grant(LeaseGrantRequest(ttl=2))
        await leader.put(PutRequest(key=b"k", value=b"v", lease=granted.id))
        await cluster.stop(cluster.member_of(leader))
        new_leader = await cluster.leader()
        ttl = await new_leader.lease_time_to_live(LeaseTimeToLiveRequest(id=granted.id))
        assert ttl.ttl >= 1  # the new leader gave it its full TTL again (plus the extension)
        await wait_for(lambda: new_leader.state.lessor.lookup(granted.id) is None)
        assert (await new_leader.range(RangeRequest(key=b"k"))).count == 0
        nursery.cancel_scope.cancel()
