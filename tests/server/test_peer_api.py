"""The peer API (members for joiners, calls forwarded to the leader) on the peer port itself."""

from __future__ import annotations

import pytest
import trio

from node.messages.lease import LeaseGrantRequest, LeaseTimeToLiveRequest
from node.server.cluster import member_from_wire
from node.server.peer_api import call_peer, peer_address
from tests.server.harness import Cluster, cluster_configs

PEER_API_PORT_OFFSET_BEFORE = 10_000
"""Where the peer API used to listen, above the peer port."""


async def test_a_member_answers_peer_requests_on_its_peer_url_and_nowhere_else(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        host, port = peer_address(follower.config.initial_advertise_peer_urls[0])

        answer = await call_peer((host, port), "members", {}, answer_within=2)
        granted = await leader.lease_grant(LeaseGrantRequest(ttl=60))
        forwarded = await follower.lease_time_to_live(LeaseTimeToLiveRequest(id=granted.id))
        with pytest.raises(OSError):
            await trio.open_tcp_stream(host, port + PEER_API_PORT_OFFSET_BEFORE)
        nursery.cancel_scope.cancel()
    assert forwarded.granted_ttl == 60  # the follower asked the leader over the peer port
    assert answer["cluster_id"] == leader.cluster_id
    assert sorted(member_from_wire(wire).id for wire in answer["members"]) == sorted(
        member.config.member_id(member.name) for member in cluster.members
    )
