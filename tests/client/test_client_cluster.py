"""The client against real members with their native door, under trio and under asyncio."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import trio

from node.client import (
    FaultKind,
    SortOrder,
    SortTarget,
    compare_value,
    compare_version,
    connect_client,
    op_get,
    op_put,
)
from node.messages import errors
from tests.api.native_cluster import native_cluster, native_cluster_in_thread


async def test_keys_are_written_read_and_deleted(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        first = await client.put("dir/a", "1")
        await client.put(b"dir/b", b"2")
        await client.put("dir/c", "3")
        await client.put("other", "x")
        overwrite = await client.put("dir/a", "10", prev_kv=True)
        everything = await client.get("dir/", prefix=True)
        newest_first = await client.get(
            "dir/", prefix=True, sort_order=SortOrder.DESCEND, sort_target=SortTarget.KEY, limit=2
        )
        counted = await client.get("dir/", prefix=True, count_only=True)
        in_the_past = await client.get("dir/a", revision=first.header.revision)
        deleted = await client.delete("dir/", prefix=True, prev_kv=True)
        after = await client.get("dir/", prefix=True)
    assert overwrite.prev_kv.value == b"1"
    assert [(kv.key, kv.value) for kv in everything.kvs] == [
        (b"dir/a", b"10"),
        (b"dir/b", b"2"),
        (b"dir/c", b"3"),
    ]
    assert [kv.key for kv in newest_first.kvs] == [b"dir/c", b"dir/b"]
    assert newest_first.more is True
    assert (counted.count, counted.kvs) == (3, [])
    assert in_the_past.kvs[0].value == b"1"
    assert deleted.deleted == 3
    assert sorted(kv.key for kv in deleted.prev_kvs) == [b"dir/a", b"dir/b", b"dir/c"]
    assert after.kvs == []


async def test_a_txn_runs_the_branch_its_compares_choose(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        created = await client.txn(
            compare=[compare_version("lock", "=", 0)],
            success=[op_put("lock", "mine"), op_get("lock")],
            failure=[op_get("lock")],
        )
        lost = await client.txn(
            compare=[compare_version("lock", "=", 0)],
            success=[op_put("lock", "theirs")],
            failure=[op_get("lock")],
        )
        swapped = await client.txn(
            compare=[compare_value("lock", "=", "mine")], success=[op_put("lock", "next")]
        )
        final = await client.get("lock")
    assert created.succeeded is True
    assert created.responses[1].response_range.kvs[0].value == b"mine"
    assert lost.succeeded is False
    assert lost.responses[0].response_range.kvs[0].value == b"mine"
    assert swapped.succeeded is True
    assert final.kvs[0].value == b"next"


async def test_a_watch_sees_each_change_in_order_and_stops_when_left(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        seen = []
        async with client.watch("job/", prefix=True, prev_kv=True) as watch:
            await client.put("job/1", "queued")
            await client.put("job/1", "running")
            await client.delete("job/1")
            async for response in watch:
                seen += [(e.type, e.kv.key, e.kv.value) for e in response.events]
                if len(seen) == 3:
                    last_prev = response.events[-1].prev_kv
                    break
        later = await client.put("job/2", "queued")
        async with client.watch("job/", prefix=True, start_revision=1) as replay:
            replayed = []
            async for response in replay:
                replayed += [e.kv.mod_revision for e in response.events]
                if replayed[-1] == later.header.revision:
                    break
    assert seen == [(0, b"job/1", b"queued"), (0, b"job/1", b"running"), (1, b"job/1", b"")]
    assert last_prev.value == b"running"
    assert replayed == sorted(replayed)
    assert len(replayed) == 4


async def test_a_watch_from_a_compacted_revision_is_canceled_with_the_compaction(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        for value in "abc":
            put = await client.put("k", value)
        await client.compact(put.header.revision)
        with pytest.raises(errors.Compacted):
            await client.get("k", revision=put.header.revision - 1)
        async with client.watch("k", start_revision=1) as watch:
            responses = [response async for response in watch]
    assert len(responses) == 1
    assert responses[0].canceled is True
    assert responses[0].compact_revision == put.header.revision


async def test_a_lease_kept_alive_outlives_its_ttl_and_revoking_it_deletes_its_keys(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        lease = await client.lease_grant(1)
        await client.put("session", "alive", lease=lease.ID)
        async with client.lease_keep_alive(lease.ID) as keeper:
            renewals = []
            async for reply in keeper:
                renewals.append(reply.TTL)
                if len(renewals) == 4:  # one renewal per TTL/3: this is past the TTL
                    break
        still_there = await client.get("session")
        ttl = await client.lease_time_to_live(lease.ID, keys=True)
        listed = await client.lease_leases()
        await client.lease_revoke(lease.ID)
        gone = await client.get("session")
        after_revoke = await client.lease_time_to_live(lease.ID)
        with pytest.raises(errors.LeaseNotFound):
            await client.keep_alive_once(lease.ID)
    assert renewals == [1, 1, 1, 1]
    assert still_there.kvs[0].value == b"alive"
    assert ttl.keys == [b"session"] and ttl.grantedTTL == 1 and ttl.TTL != -1
    assert [status.ID for status in listed.leases] == [lease.ID]
    assert gone.kvs == []
    assert after_revoke.TTL == -1


async def test_member_list_and_status_describe_the_cluster(tmp_path):
    async with native_cluster(tmp_path, size=3) as members:
        endpoints = [m.endpoint for m in members]
        async with connect_client(endpoints) as client:
            listed = await client.member_list()
            status = await client.status()
    assert sorted(m.name for m in listed.members) == ["m1", "m2", "m3"]
    assert {m.ID for m in listed.members} == {m.server.member_id for m in members}
    assert status.leader == members[0].server.leader_id
    assert status.raftIndex >= status.raftAppliedIndex > 0
    assert status.version.startswith("3.4")


async def test_the_client_fails_over_when_its_member_stops(tmp_path):
    async with native_cluster(tmp_path, size=3) as members:
        endpoints = [m.endpoint for m in members]
        async with connect_client(endpoints) as client:
            await client.put("before", "1")
            in_use = next(m for m in members if m.endpoint == client.endpoint)
            await in_use.stop()
            with trio.fail_after(20):
                read = await client.get("before")
                await client.put("after", "2")
                written = await client.get("after")
            assert client.endpoint != in_use.endpoint
    assert read.kvs[0].value == b"1"
    assert written.kvs[0].value == b"2"


async def test_a_watch_resumes_on_another_member_without_losing_events(tmp_path):
    async with native_cluster(tmp_path, size=3) as members:
        endpoints = [m.endpoint for m in members]
        async with connect_client(endpoints) as client, client.watch("feed") as watch:
            await client.put("feed", "1")
            first = await anext(watch)
            await next(m for m in members if m.endpoint == client.endpoint).stop()
            with trio.fail_after(20):
                await client.get("feed")  # a read finds a live member; writes then go there
                await client.put("feed", "2")
                await client.put("feed", "3")
                values = []
                async for response in watch:
                    values += [e.kv.value for e in response.events]
                    if values[-1:] == [b"3"]:
                        break
    assert [e.kv.value for e in first.events] == [b"1"]
    assert values == [b"2", b"3"]


def test_the_client_works_under_asyncio(tmp_path):
    async def session(endpoints: list[str]) -> dict:
        seen = {}
        async with connect_client(endpoints) as client:
            async with client.watch("k") as watch:
                await client.put("k", "from asyncio")
                await client.delete("k")
                events = (await anext(watch)).events
                if len(events) < 2:
                    events += (await anext(watch)).events
            seen["events"] = [(e.type, e.kv.value) for e in events]
            swapped = await client.txn(
                compare=[compare_version("k", "=", 0)], success=[op_put("k", "v2")]
            )
            seen["txn"] = swapped.succeeded
            lease = await client.lease_grant(1)
            async with client.lease_keep_alive(lease.ID) as keeper:
                seen["renewed"] = (await anext(keeper)).TTL
            seen["members"] = len((await client.member_list()).members)
            seen["leader"] = (await client.status()).leader != 0
        return seen

    with native_cluster_in_thread(tmp_path) as endpoints:
        assert asyncio.run(session(endpoints)) == {
            "events": [(0, b"from asyncio"), (1, b"")],
            "txn": True,
            "renewed": 1,
            "members": 1,
            "leader": True,
        }


async def _count(client, prefix: str) -> int:
    return (await client.get(prefix, prefix=True, count_only=True)).count


async def test_a_lock_is_held_by_one_contender_at_a_time(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        held_first = await client.lock("printer")
        order = []

        async def second_contender() -> None:
            held = await client.lock("printer")
            order.append("second holds")
            await client.unlock(held.key)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(second_contender)
            with trio.fail_after(10):
                while await _count(client, "printer/") < 2:  # noqa: ASYNC110 - asks the cluster
                    await trio.sleep(0.01)
            order.append("first releases")
            await client.unlock(held_first.key)
        left = await _count(client, "printer/")
    assert held_first.key.startswith(b"printer/")
    assert order == ["first releases", "second holds"]
    assert left == 0


async def test_an_election_is_led_observed_proclaimed_and_resigned(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        lease = await client.lease_grant(30)
        won = await client.campaign("coordinator", "alpha", lease=lease.ID)
        async with client.observe("coordinator") as observed:
            first = await anext(observed)
            await client.proclaim(won.leader, "beta")
            second = await anext(observed)
        current = await client.leader("coordinator")
        await client.resign(won.leader)
        with pytest.raises(errors.EtcdError, match="election: no leader"):
            await client.leader("coordinator")
    assert won.leader.name == b"coordinator" and won.leader.lease == lease.ID
    assert [first.kv.value, second.kv.value] == [b"alpha", b"beta"]
    assert current.kv.key == won.leader.key


async def test_maintenance_calls_report_on_the_member(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        await client.put("k", "v")
        hashed = await client.hash_kv()
        alarms = await client.alarm()
        defragmented = await client.defragment()
        async with client.snapshot() as snapshot:
            chunks = [chunk async for chunk in snapshot]
    assert hashed.hash != 0 and hashed.header.revision == 2
    assert alarms.alarms == []
    assert defragmented.header.member_id == member.server.member_id
    assert hashlib.sha256(b"".join(chunks[:-1])).digest() == chunks[-1]


async def test_the_event_stream_shows_the_member_applying_writes(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        client.events() as events,
    ):
        await client.put("k", "v")
        applied = (await client.status()).raftAppliedIndex
        with trio.fail_after(10):
            async for event in events:
                if event.kind == "commit" and event.fields.applied >= applied:
                    break
    assert event.fields.commit >= event.fields.applied


async def test_the_event_stream_carries_trace_events_only_when_asked(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        client.events(["apply", "reply"]) as traced,
    ):
        await client.put("traced", "v")
        with trio.fail_after(10):
            async for event in traced:
                assert event.kind in ("apply", "reply")
                if event.kind == "apply" and any(
                    request.request == "put" and request.key == "traced"
                    for request in event.fields.requests
                ):
                    break
    assert event.fields.member_id == f"{member.server.member_id:x}"
    assert event.monotonic > 0 and event.dropped == 0


async def test_an_unknown_event_kind_is_refused_by_name(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        with pytest.raises(errors.EtcdError, match="unknown event kind 'nonsense'"):
            async with client.events(["nonsense"]) as events:
                async for _ in events:
                    pass


async def test_faults_are_refused_unless_the_member_enables_them(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        with pytest.raises(errors.FaultInjectionDisabled):
            await client.fault("pause_apply")


async def test_a_fault_is_injected_and_healed(tmp_path):
    async with (
        native_cluster(tmp_path, enable_fault_injection=True) as (member,),
        connect_client([member.endpoint]) as client,
    ):
        paused = await client.fault("pause_apply")
        healed = await client.fault(FaultKind.HEAL)
    assert paused.faults.apply_paused is True
    assert healed.faults.apply_paused is False


async def test_a_learner_is_added_refused_promotion_while_behind_and_removed(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        added = await client.member_add(["http://127.0.0.1:9"], is_learner=True)
        with pytest.raises(errors.LearnerNotReady):
            await client.member_promote(added.member.ID)
        removed = await client.member_remove(added.member.ID)
    assert added.member.isLearner is True
    assert added.member.peerURLs == ["http://127.0.0.1:9"]
    assert sorted(m.ID for m in added.members) == sorted([member.server.member_id, added.member.ID])
    assert [m.ID for m in removed.members] == [member.server.member_id]
