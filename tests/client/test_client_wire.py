"""The client against stand-in members: framing, errors, fail-over and which calls retry."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from node.client import (
    Client,
    ConnectionLost,
    NoEndpointAvailable,
    compare_value,
    connect_client,
    op_get,
    op_put,
)
from node.messages import errors

from .frame_peer import HANG_UP, frame_peer, unused_endpoint


def _kv(key: bytes, value: bytes) -> dict:
    return {"key": key, "value": value, "create_revision": 2, "mod_revision": 2, "version": 1}


async def _echo_value(call):
    return {
        "header": {"revision": 2},
        "kvs": [_kv(call.body["key"], b"value of " + call.body["key"])],
    }


async def test_a_reply_reads_by_etcds_field_names():
    async with frame_peer(_echo_value) as endpoint, connect_client([endpoint]) as client:
        reply = await client.get("greeting")
    assert reply.header.revision == 2
    assert reply.kvs[0].value == b"value of greeting"


async def test_concurrent_calls_on_one_connection_get_their_own_replies():
    answered = {i: anyio.Event() for i in range(6)}

    async def answer_in_reverse(call):
        index = int(call.body["key"])
        if index < 5:
            await answered[index + 1].wait()
        answered[index].set()
        return await _echo_value(call)

    values = {}
    async with frame_peer(answer_in_reverse) as endpoint, connect_client([endpoint]) as client:

        async def get(index: int) -> None:
            values[index] = (await client.get(str(index))).kvs[0].value

        async with anyio.create_task_group() as tasks:
            for index in range(6):
                tasks.start_soon(get, index)
    assert values == {i: f"value of {i}".encode() for i in range(6)}


async def test_str_keys_and_values_travel_as_utf8_bytes():
    seen = []

    async def record(call):
        seen.append((call.method, call.body))
        return {"header": {"revision": 3}}

    async with frame_peer(record) as endpoint, connect_client([endpoint]) as client:
        await client.put("clé", "välue", lease=7)
        await client.get("dir/", prefix=True)
    (put_method, put_body), (get_method, get_body) = seen
    assert put_method == "KV.Put"
    assert (put_body["key"], put_body["value"], put_body["lease"]) == (
        "clé".encode(),
        "välue".encode(),
        7,
    )
    assert get_method == "KV.Range"
    assert (get_body["key"], get_body["range_end"]) == (b"dir/", b"dir0")


async def test_an_error_reply_raises_the_node_errors_class_with_etcds_text():
    async def compacted(call):
        return errors.Compacted()

    async with frame_peer(compacted) as endpoint, connect_client([endpoint]) as client:
        with pytest.raises(errors.Compacted) as caught:
            await client.get("k", revision=1)
    assert str(caught.value) == "etcdserver: mvcc: required revision has been compacted"
    assert caught.value.code == "OUT_OF_RANGE"


async def test_an_unknown_error_text_keeps_its_code_and_message():
    async def odd(call):
        error = errors.EtcdError("something new")
        error.code = "ABORTED"
        return error

    async with frame_peer(odd) as endpoint, connect_client([endpoint]) as client:
        with pytest.raises(errors.EtcdError) as caught:
            await client.status()
    assert (caught.value.code, str(caught.value)) == ("ABORTED", "something new")


async def test_connect_moves_past_an_endpoint_that_is_down():
    down = await unused_endpoint()
    async with frame_peer(_echo_value) as up, connect_client([down, up]) as client:
        reply = await client.get("k")
        assert client.endpoint == up
    assert reply.kvs[0].key == b"k"


async def test_connect_fails_when_no_endpoint_is_up():
    down = await unused_endpoint()
    with pytest.raises(NoEndpointAvailable, match="there is no connection available"):
        await Client.connect([down], timeout=1)


async def test_a_read_is_retried_on_the_next_member_when_the_connection_drops():
    calls = {"dropping": 0}

    async def hang_up(call):
        calls["dropping"] += 1
        return HANG_UP

    async with (
        frame_peer(hang_up) as dropping,
        frame_peer(_echo_value) as healthy,
        connect_client([dropping, healthy]) as client,
    ):
        reply = await client.get("k")
    assert calls["dropping"] == 1
    assert reply.kvs[0].value == b"value of k"


async def test_a_write_is_not_repeated_once_it_may_have_been_sent():
    writes = []

    async def hang_up(call):
        writes.append(call.method)
        return HANG_UP

    async def record(call):
        writes.append(call.method)
        return {"header": {}}

    async with (
        frame_peer(hang_up) as dropping,
        frame_peer(record) as healthy,
        connect_client([dropping, healthy]) as client,
    ):
        with pytest.raises(ConnectionLost):
            await client.put("k", "v")
        assert writes == ["KV.Put"]
        await client.put("k", "v2")
    assert writes == ["KV.Put", "KV.Put"]


async def test_an_unavailable_read_is_asked_again_elsewhere_but_a_write_is_not():
    asked = []

    async def no_leader(call):
        asked.append(("leaderless", call.method))
        return errors.NoLeader()

    async def answer(call):
        asked.append(("healthy", call.method))
        return {"header": {}, "succeeded": True, "responses": []}

    async with (
        frame_peer(no_leader) as leaderless,
        frame_peer(answer) as healthy,
        connect_client([leaderless, healthy]) as client,
    ):
        await client.txn(compare=[compare_value("k", "=", "v")], success=[op_get("k")])
        assert asked == [("leaderless", "KV.Txn"), ("healthy", "KV.Txn")]
        asked.clear()
        client._current = 0
        with pytest.raises(errors.NoLeader, match="etcdserver: no leader"):
            await client.txn(success=[op_put("k", "v")])
    assert asked == [("leaderless", "KV.Txn")]


def test_the_client_runs_under_asyncio():
    async def main() -> bytes:
        async with frame_peer(_echo_value) as endpoint, connect_client([endpoint]) as client:
            return (await client.get("k")).kvs[0].value

    assert asyncio.run(main()) == b"value of k"
