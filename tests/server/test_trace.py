"""Trace events of in-process members: one put followed by ids from its proposal to its reply
on every member, elections, reads, leases; no trace for those that did not ask; drops."""

from __future__ import annotations

import pytest
import trio

from node.messages import member_events
from node.messages.kv import PutRequest, RangeRequest
from node.messages.lease import LeaseGrantRequest, LeaseKeepAliveRequest
from node.raft import MessageType
from node.raft.describe import describe_message_type
from node.server.etcdserver import EtcdServer, open_etcd_server
from node.server.events import EventSubscription, MemberEvent
from tests.server.harness import WAL_SEGMENT_SIZE, Cluster, cluster_configs, wait_for

ETCD_MESSAGE_TYPES = {describe_message_type(t) for t in MessageType}


class Collected:
    """Every event a subscription delivered so far, drained on each look."""

    def __init__(self, subscription: EventSubscription) -> None:
        self.subscription = subscription
        self.events: list[MemberEvent] = []

    def of(self, kind: str, **match: object) -> list[dict]:
        self.events.extend(self.subscription.drain())
        return [
            e.fields
            for e in self.events
            if e.kind == kind and all(e.fields.get(k) == v for k, v in match.items())
        ]


def trace(server: EtcdServer, *kinds: str) -> Collected:
    return Collected(server.subscribe_events(kinds=kinds or ["trace"]))


def holds(fields: dict, first: str, last: str, index: int) -> bool:
    return fields[first] <= index <= fields[last] and fields[last] > 0


async def test_a_put_is_followed_by_ids_from_proposal_to_apply_on_every_member_and_reply(
    tmp_path,
):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        proposer = cluster.followers(leader)[0]
        traces = {server.name: trace(server) for server in cluster.running}

        put = await proposer.put(PutRequest(key=b"followed", value=b"v"))

        mine = traces[proposer.name]
        (proposal,) = mine.of("propose", key="followed")
        assert proposal["request"] == "put" and proposal["index"] == 0  # a follower forwards
        assert proposal["member"] == proposer.name
        assert proposal["member_id"] == f"{proposer.member_id:x}"
        request_id = proposal["request_id"]
        (reply,) = mine.of("reply", request_id=request_id)
        assert reply["ok"] and reply["revision"] == put.revision

        def index_on(collected: Collected) -> int | None:
            for batch in collected.of("apply"):
                for request in batch["requests"]:
                    if request["request_id"] == request_id:
                        return request["index"]
            return None

        index = await wait_for(lambda: all(index_on(t) for t in traces.values()) and index_on(mine))
        assert {index_on(t) for t in traces.values()} == {index}
        for name, collected in traces.items():
            readies, saves = collected.of("ready"), collected.of("wal_save")
            appended = [r for r in readies if holds(r, "entries_first", "entries_last", index)]
            synced = [w for w in saves if holds(w, "first_index", "last_index", index)]
            committed = [
                r for r in collected.of("ready")
                if holds(r, "committed_first", "committed_last", index)
            ]  # fmt: skip
            (applied,) = [
                a for a in collected.of("apply") if holds(a, "first_index", "last_index", index)
            ]
            assert len(appended) == 1 and len(synced) == 1 and len(committed) == 1, name
            assert synced[0]["sync"] and synced[0]["duration_ms"] >= 0
            assert appended[0]["seq"] <= committed[0]["seq"]
            assert applied["last_revision"] >= put.revision >= applied["first_revision"] > 0
            assert applied["consistent_index"] >= index and applied["commit_ms"] >= 0
        # the leader appends it first and ships it to each follower in a MsgApp
        (appended_on_leader,) = [
            r for r in traces[leader.name].of("ready")
            if holds(r, "entries_first", "entries_last", index)
        ]  # fmt: skip
        forwarded = traces[leader.name].of("msg_recv", type="MsgProp")
        assert any(m["from"] == f"{proposer.member_id:x}" for m in forwarded)
        shipped = [
            m for m in traces[leader.name].of("msg_send", type="MsgApp")
            if m["index"] < index <= m["index"] + m["entries"]
        ]  # fmt: skip
        assert {m["to"] for m in shipped} == {f"{s.member_id:x}" for s in cluster.followers(leader)}
        assert appended_on_leader["seq"] >= 1
        nursery.cancel_scope.cancel()


async def test_a_subscriber_that_asked_for_no_trace_gets_none_and_costs_no_trace(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        (server,) = cluster.running
        await cluster.leader()
        plain = Collected(server.subscribe_events())
        assert not server.events.tracing
        traced = trace(server)  # traces flow meanwhile, to another subscriber
        assert server.events.tracing
        for i in range(5):
            await server.put(PutRequest(key=f"k{i}".encode(), value=b"v"))
        applied = server.applied_index
        await wait_for(lambda: any(c["applied"] >= applied for c in plain.of("commit")))
        assert {event.kind for event in plain.events} <= member_events.STATE_KINDS
        assert traced.of("apply")
        traced.subscription.close()
        assert not server.events.tracing
        nursery.cancel_scope.cancel()


async def test_unknown_kinds_are_refused_with_the_known_ones_named(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        (server,) = cluster.running
        with pytest.raises(member_events.UnknownEventKind, match=r"'MsgApp'.*msg_send"):
            server.subscribe_events(kinds=["MsgApp"])
        nursery.cancel_scope.cancel()


async def test_a_slow_subscriber_drops_events_counted_without_slowing_the_member(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        stuck = leader.subscribe_events(capacity=8, kinds=["trace"])
        # a member that waited on its stuck subscriber would never finish; the limit only
        # guards against that hang (50 puts took up to 6 s on a machine loaded 7x over)
        with trio.fail_after(60):
            for i in range(50):
                await leader.put(PutRequest(key=f"k{i}".encode(), value=b"v"))
        assert stuck.dropped > 0
        assert len(stuck.drain()) == 8
        nursery.cancel_scope.cancel()


async def test_message_events_name_etcds_types_and_fields(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        sent, received = trace(leader, "msg_send"), trace(follower, "msg_recv")
        await leader.put(PutRequest(key=b"k", value=b"12345"))
        await wait_for(lambda: received.of("msg_recv", type="MsgApp"))
        await wait_for(lambda: received.of("msg_recv", type="MsgHeartbeat"))
        types = {m["type"] for m in sent.of("msg_send")}
        assert types <= ETCD_MESSAGE_TYPES
        assert {"MsgApp", "MsgHeartbeat"} <= types
        app = next(m for m in sent.of("msg_send", type="MsgApp") if m["entries"])
        assert set(app) >= {
            "type", "from", "to", "term", "log_term", "index", "entries", "bytes", "commit",
            "reject", "reject_hint", "text",
        }  # fmt: skip
        assert app["from"] == f"{leader.member_id:x}" and app["bytes"] > 5
        assert app["text"].startswith(f"{leader.member_id:x}->{app['to']} MsgApp Term:")
        nursery.cancel_scope.cancel()


async def test_an_election_shows_pre_votes_votes_and_the_new_leader(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        old = await cluster.leader()
        rest = cluster.followers(old)
        traces = {server.name: trace(server) for server in rest}
        await cluster.stop(cluster.member_of(old))
        new = await cluster.leader()
        winner = traces[new.name]
        voter = traces[next(s.name for s in rest if s is not new)]
        states = [e["raft_state"] for e in winner.of("raft_state") if "raft_state" in e]
        assert states[-3:] == ["StatePreCandidate", "StateCandidate", "StateLeader"]
        assert winner.of("msg_send", type="MsgPreVote") and winner.of("msg_send", type="MsgVote")
        candidate = f"{new.member_id:x}"
        assert voter.of("vote", candidate=candidate, pre=True, granted=True)
        assert voter.of("vote", candidate=candidate, pre=False, granted=True)
        assert winner.of("msg_recv", type="MsgVoteResp", reject=False)
        assert any(e["term"] == new.term for e in winner.of("raft_state"))
        nursery.cancel_scope.cancel()


async def test_a_linearizable_read_shows_its_read_index_round(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        traced = trace(leader)
        await leader.put(PutRequest(key=b"k", value=b"v"))
        await leader.range(RangeRequest(key=b"k"))
        (request,) = traced.of("read_index", phase="request")
        ctx = request["request_ctx"]
        (confirmed,) = traced.of("read_index", phase="confirmed", request_ctx=ctx)
        (done,) = traced.of("read_index", phase="done", request_ctx=ctx)
        assert confirmed["index"] == done["index"] >= 1
        heartbeats = traced.of("msg_send", type="MsgHeartbeat", context=ctx)
        assert heartbeats  # the round's heartbeats carry its context
        assert any(rs["request_ctx"] == ctx for r in traced.of("ready") for rs in r["read_states"])
        nursery.cancel_scope.cancel()


async def test_leases_show_grant_renew_and_revoke(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        traces = [trace(server, "lease") for server in cluster.running]
        granted = await leader.lease_grant(LeaseGrantRequest(ttl=30))
        lease = f"{granted.id:x}"
        await leader.lease_renew(LeaseKeepAliveRequest(id=granted.id))
        await wait_for(lambda: all(t.of("lease", action="grant", id=lease) for t in traces))
        leader_trace = traces[cluster.running.index(leader)]
        (renew,) = leader_trace.of("lease", action="renew", id=lease)
        assert renew["ttl"] == 30
        nursery.cancel_scope.cancel()


async def test_a_lagging_member_catches_up_by_a_snapshot_traced_on_both_sides(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, snapshot_count=20))
        await cluster.start_all()
        leader = await cluster.leader()
        lagging = cluster.member_of(cluster.followers(leader)[0])
        await cluster.stop(lagging)
        leader_trace = trace(leader)
        for i in range(80):
            await leader.put(PutRequest(key=f"k{i:03}".encode(), value=b"x" * 100))
        assert leader_trace.of("snap_save", source="local") and leader_trace.of("log_compact")
        async with (
            open_etcd_server(lagging.config, wal_segment_size=WAL_SEGMENT_SIZE) as server,
            trio.open_nursery() as running,
        ):
            follower_trace = trace(server)
            await running.start(server.run)
            await wait_for(lambda: server.applied_index >= leader.applied_index)
            to = f"{server.member_id:x}"
            await wait_for(lambda: leader_trace.of("snap_send", to=to, phase="done", ok=True))
            (started,) = leader_trace.of("snap_send", to=to, phase="start")
            (snap,) = [m for m in leader_trace.of("msg_send", type="MsgSnap") if m["to"] == to]
            assert snap["snapshot_index"] == started["index"]
            (received,) = follower_trace.of("snap_recv")
            assert received["index"] == started["index"] and received["bytes"] > 0
            assert follower_trace.of("msg_recv", type="MsgSnap")
            assert follower_trace.of("snap_save", source="leader", index=started["index"])
            (installed,) = follower_trace.of("snap_install")
            assert installed["index"] == started["index"] and installed["revision"] > 1
            running.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


async def test_an_expired_lease_is_found_by_the_leader_and_revoked_on_every_member(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        traces = {server.name: trace(server, "lease", "propose") for server in cluster.running}
        granted = await leader.lease_grant(LeaseGrantRequest(ttl=1))
        lease = f"{granted.id:x}"
        await wait_for(
            lambda: all(t.of("lease", action="revoke", id=lease) for t in traces.values())
        )
        leader_trace = traces[leader.name]
        assert leader_trace.of("lease", action="expire", id=lease)
        (revoking,) = leader_trace.of("propose", request="lease_revoke", id=lease)
        assert revoking["index"] > 0  # proposed on the leader: its log index is known at once
        nursery.cancel_scope.cancel()
