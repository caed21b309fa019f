"""The dashboard's long-lived clients follow the membership: once every member they were
connected to has left, they reconnect to the members there now."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from console.cluster import Playground
from console.tui.followed_endpoints import FollowedEndpoints
from console.tui.native_source import NativeSource
from console.tui.source import SourceUnavailable
from node.client import Client
from node.messages.errors import EtcdError


async def test_a_connection_ends_once_none_of_its_endpoints_is_a_member() -> None:
    endpoints = FollowedEndpoints(["a:1", "b:2"])
    ended = trio.Event()

    async def connected() -> None:
        assert endpoints.connect() == ["a:1", "b:2"]
        await endpoints.wait_until_gone()
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(connected)
        await trio.testing.wait_all_tasks_blocked()
        endpoints.follow(["b:2", "c:3"])
        await trio.testing.wait_all_tasks_blocked()
        assert not ended.is_set()
        endpoints.follow(["c:3"])
        with trio.fail_after(5):
            await ended.wait()
    assert endpoints.connect() == ["c:3"]


@pytest.fixture
async def playground(tmp_path: Path):
    playground = Playground(
        tmp_path / "playground", members=1, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        await playground.start()
        yield playground
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()


async def test_the_key_source_reads_through_a_member_added_after_its_first_one_left(
    playground: Playground,
) -> None:
    source = NativeSource(playground.native_endpoints())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(source.run)
        await playground.add_node()
        await playground.remove_node("n1")
        await playground.wait_for_leader()
        async with await Client.connect(playground.native_endpoints()) as client:
            await client.put(b"after", b"churn")

        source.follow_endpoints(playground.native_endpoints())

        with trio.fail_after(20):
            while True:
                try:
                    page = await source.keys(b"a", b"b", 10)
                    break
                except* (SourceUnavailable, EtcdError, OSError):
                    await trio.sleep(0.1)
        assert page.keys == [b"after"]
        nursery.cancel_scope.cancel()
