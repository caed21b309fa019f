"""The client keeps its endpoints in step with the cluster: set_endpoints, sync from
MemberList, and auto-sync, as clientv3's SetEndpoints, Sync and AutoSyncInterval."""

from __future__ import annotations

import anyio
import trio

from node.client import Response, connect_client, default_member_endpoints
from tests.api.native_cluster import (
    joining_config,
    native_cluster,
    run_member,
    wait_for_leader,
)

from .frame_peer import frame_peer


def _answering_as(name: str, hang: anyio.Event | None = None):
    async def answer(call):
        if hang is not None:
            await hang.wait()
        return {
            "header": {"revision": 2},
            "kvs": [{"key": call.body["key"], "value": name.encode()}],
        }

    return answer


async def test_calls_go_to_the_new_endpoints_once_the_old_one_is_dropped():
    async with (
        frame_peer(_answering_as("a")) as a,
        frame_peer(_answering_as("b")) as b,
        connect_client([a, b]) as client,
    ):
        before = await client.get("k")
        await client.set_endpoints([b])
        after = await client.get("k")
        assert client.endpoints == [b]
        assert client.endpoint == b
    assert before.kvs[0].value == b"a"
    assert after.kvs[0].value == b"b"


async def test_a_read_waiting_on_a_dropped_endpoint_is_answered_by_a_listed_one():
    never = anyio.Event()
    async with (
        frame_peer(_answering_as("a", hang=never)) as a,
        frame_peer(_answering_as("b")) as b,
        connect_client([a, b]) as client,
    ):
        read: list[Response] = []

        async def get() -> None:
            read.append(await client.get("k"))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(get)
            await anyio.wait_all_tasks_blocked()
            await client.set_endpoints([b])
    assert read[0].kvs[0].value == b"b"


def _member(name: str, client_url: str, *, is_learner: bool = False) -> dict:
    return {"ID": hash(name) & 0xFFFF, "name": name, "clientURLs": [client_url],
            "peerURLs": [], "isLearner": is_learner}  # fmt: skip


async def test_sync_takes_the_started_voting_members_from_member_list():
    async def member_list(call):
        assert call.method == "Cluster.MemberList"
        return {
            "header": {"revision": 2},
            "members": [
                _member("a", "http://127.0.0.1:2379"),
                _member("", "http://127.0.0.1:3379"),  # added, not started yet
                _member("c", "http://127.0.0.1:4379", is_learner=True),
                _member("d", "http://[::1]:5379"),
            ],
        }

    async with frame_peer(member_list) as endpoint, connect_client([endpoint]) as client:
        await client.sync()
        synced = client.endpoints
    assert synced == ["127.0.0.1:12379", "[::1]:15379"]


def test_a_member_serves_the_native_protocol_10000_ports_above_its_client_urls():
    member = Response(_member("a", "http://localhost:2379"))
    assert default_member_endpoints(member) == ["localhost:12379"]


async def test_with_auto_sync_calls_succeed_after_its_only_member_left_and_another_joined(
    tmp_path,
):
    async with native_cluster(tmp_path, size=3) as members, trio.open_nursery() as nursery:
        first = members[0]
        native = {m.name: [m.endpoint] for m in members}
        async with connect_client(
            [first.endpoint],
            auto_sync_interval=0.1,
            member_endpoints=lambda member: native.get(member.name, []),
        ) as client:
            await client.put("before", "churn")
            with trio.fail_after(10):
                while len(client.endpoints) < 3:  # noqa: ASYNC110 - the client's auto-sync announces nothing
                    await trio.sleep(0.05)
            config = joining_config(tmp_path, members, "m4")
            await client.member_add(config.initial_advertise_peer_urls)
            joined = await nursery.start(run_member, config)
            native["m4"] = [joined.endpoint]
            await client.member_remove(first.server.member_id)
            await first.stop()
            await wait_for_leader([*members, joined])
            with trio.fail_after(20):
                while first.endpoint in client.endpoints or joined.endpoint not in client.endpoints:  # noqa: ASYNC110 - the client's auto-sync announces nothing
                    await trio.sleep(0.05)
                followed = set(client.endpoints)
                read = await client.get("before")
                await client.put("after", "churn")
                written = await client.get("after")
        nursery.cancel_scope.cancel()
    assert read.kvs[0].value == b"churn"
    assert written.kvs[0].value == b"churn"
    assert followed == {m.endpoint for m in members[1:]} | {joined.endpoint}


async def test_a_watch_on_a_dropped_endpoint_goes_on_through_a_listed_one(tmp_path):
    async with native_cluster(tmp_path, size=3) as members:
        endpoints = [m.endpoint for m in members]
        async with connect_client(endpoints) as client, client.watch("feed") as watch:
            await client.put("feed", "1")
            first = await anext(watch)
            dropped = client.endpoint
            await client.set_endpoints([e for e in endpoints if e != dropped])
            with trio.fail_after(20):
                await client.put("feed", "2")
                second = await anext(watch)
            assert dropped not in client.endpoints
            assert client.endpoint != dropped
    assert [e.kv.value for e in first.events] == [b"1"]
    assert [e.kv.value for e in second.events] == [b"2"]
