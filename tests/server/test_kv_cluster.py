"""KV requests through every member of 1- and 3-member clusters, leader failure, bad input."""

from __future__ import annotations

import pytest
import trio

from node.messages import errors
from node.messages.header import ResponseHeader
from node.messages.kv import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)
from node.messages.maintenance import StatusRequest
from node.server.member import open_server
from tests.server.harness import Cluster, cluster_configs, wait_for


@pytest.mark.parametrize("size", [1, 3])
async def test_every_member_serves_put_range_txn_and_delete(tmp_path, size):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, size))
        await cluster.start_all()
        await cluster.leader()
        for i, server in enumerate(cluster.running):
            key = f"k{i}".encode()
            put = await server.put(PutRequest(key=key, value=b"v"))
            got = await server.range(RangeRequest(key=key))
            assert [kv.value for kv in got.kvs] == [b"v"]
            assert got.kvs[0].mod_revision == put.revision
            txn = await server.txn(
                TxnRequest(
                    compare=[Compare(CompareResult.EQUAL, CompareTarget.VALUE, key, value=b"v")],
                    success=[RequestOp(request_put=PutRequest(key=key, value=b"w"))],
                    failure=[RequestOp(request_range=RangeRequest(key=key))],
                )
            )
            assert txn.succeeded
            deleted = await server.delete_range(DeleteRangeRequest(key=key, prev_kv=True))
            assert deleted.deleted == 1
            assert [kv.value for kv in deleted.prev_kvs] == [b"w"]
        for server in cluster.running:
            assert (await server.range(RangeRequest(key=b"k", range_end=b"l"))).count == 0
        nursery.cancel_scope.cancel()


async def test_a_linearizable_read_on_another_member_sees_the_write(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        writer, reader = cluster.followers(leader)
        for i in range(20):
            await writer.put(PutRequest(key=b"counter", value=str(i).encode()))
            got = await reader.range(RangeRequest(key=b"counter"))
            assert got.kvs[0].value == str(i).encode()
        rounds = reader._read_index_loop.rounds
        async with trio.open_nursery() as readers:
            for _ in range(30):
                readers.start_soon(reader.range, RangeRequest(key=b"counter"))
        assert reader._read_index_loop.rounds - rounds < 30  # reads shared ReadIndex rounds
        nursery.cancel_scope.cancel()


async def test_serializable_reads_work_without_a_leader(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        await leader.put(PutRequest(key=b"k", value=b"v"))
        survivor = cluster.followers(leader)[0]
        await wait_for(lambda: survivor.applied_index >= leader.applied_index)
        for member in cluster.members:
            if member.server is not survivor:
                await cluster.stop(member)
        await wait_for(lambda: survivor.leader_id == 0)
        got = await survivor.range(RangeRequest(key=b"k", serializable=True))
        assert [kv.value for kv in got.kvs] == [b"v"]
        status = await survivor.status(StatusRequest())
        assert errors.NoLeader.message in status.errors
        nursery.cancel_scope.cancel()


async def test_writes_continue_after_the_leader_is_killed(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        old = await cluster.leader()
        await old.put(PutRequest(key=b"before", value=b"1"))
        old_id = old.member_id
        await cluster.stop(cluster.member_of(old))
        new = await cluster.leader()
        assert new.member_id != old_id
        for server in cluster.running:
            await server.put(PutRequest(key=b"after", value=server.name.encode()))
        got = await new.range(RangeRequest(key=b"before"))
        assert [kv.value for kv in got.kvs] == [b"1"]
        nursery.cancel_scope.cancel()


async def test_a_request_larger_than_max_request_bytes_is_refused(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, max_request_bytes=4096))
        await cluster.start_all()
        leader = await cluster.leader()
        with pytest.raises(errors.RequestTooLarge):
            await leader.put(PutRequest(key=b"big", value=b"x" * 5000))
        assert (await leader.range(RangeRequest(key=b"big"))).count == 0
        nursery.cancel_scope.cancel()


async def test_bad_requests_leave_nothing_written(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        follower = cluster.followers(leader)[0]
        revision = (await follower.put(PutRequest(key=b"a", value=b"1"))).revision
        bad = [
            (follower.put(PutRequest(key=b"")), errors.EmptyKey),
            (follower.put(PutRequest(key=b"b", lease=12345)), errors.LeaseNotFound),
            (follower.put(PutRequest(key=b"c", ignore_value=True)), errors.KeyNotFound),
            (
                follower.txn(
                    TxnRequest(
                        success=[
                            RequestOp(request_put=PutRequest(key=b"d", value=b"1")),
                            RequestOp(request_put=PutRequest(key=b"d", value=b"2")),
                        ]
                    )
                ),
                errors.DuplicateKey,
            ),
            (follower.range(RangeRequest(key=b"a", revision=revision + 10)), errors.FutureRevision),
            (follower.compact(CompactionRequest(revision + 10)), errors.FutureRevision),
        ]
        for call, error in bad:
            with pytest.raises(error):
                await call
        for server in cluster.running:
            got = await server.range(RangeRequest(key=b"\0", range_end=b"\0"))
            assert [kv.key for kv in got.kvs] == [b"a"]
            assert got.revision == revision
        nursery.cancel_scope.cancel()


async def test_without_a_quorum_writes_fail_with_no_leader_and_reads_time_out(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        survivor = cluster.followers(leader)[0]
        for member in cluster.members:
            if member.server is not survivor:
                await cluster.stop(member)
        await wait_for(lambda: survivor.leader_id == 0)
        survivor.request_timeout = 0.5
        with pytest.raises(errors.NoLeader):
            await survivor.put(PutRequest(key=b"k", value=b"v"))
        with pytest.raises(errors.Timeout):
            await survivor.range(RangeRequest(key=b"k"))
        nursery.cancel_scope.cancel()


async def test_the_event_stream_reports_progress_peers_and_latency(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        events = []
        server = await cluster.start(cluster.members[0])
        subscription = server.subscribe_events()
        await cluster.leader()
        await server.put(PutRequest(key=b"k", value=b"v"))
        with trio.fail_after(5):
            async for event in subscription:
                events.append(event)
                kinds = {e.kind for e in events}
                if {"commit", "peers", "latency"} <= kinds:
                    break
        commits = [e.fields for e in events if e.kind == "commit"]
        assert commits[-1]["applied"] <= commits[-1]["commit"] <= commits[-1]["last_index"]
        latency = next(e.fields for e in events if e.kind == "latency")
        assert set(latency) == {"wal_fsync", "apply"}
        nursery.cancel_scope.cancel()


async def test_open_server_runs_a_member_for_the_block_then_requests_fail_with_stopped(tmp_path):
    (config,) = cluster_configs(tmp_path, 1)
    async with open_server(config) as server:
        await wait_for(lambda: server.is_leader)
        put = await server.put(PutRequest(key=b"k", value=b"v"))
        assert server.header(put.revision) == ResponseHeader(
            server.cluster_id, server.member_id, put.revision, server.term
        )
    with pytest.raises(errors.Stopped):
        await server.put(PutRequest(key=b"k", value=b"again"))
    async with open_server(config) as server:  # and it comes back from its data dir
        got = await server.range(RangeRequest(key=b"k", serializable=True))
        assert [kv.value for kv in got.kvs] == [b"v"]
