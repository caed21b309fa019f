"""The dashboard's key source follows the membership through its client's auto-sync: a
member added after it started is used once the first one has left."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from console.tui.native_source import NativeSource
from console.tui.playground_endpoints import playground_member_endpoints
from console.tui.source import SourceUnavailable
from node.client import Client
from node.messages.errors import EtcdError
from playground.playground import Playground


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
    source = NativeSource(playground.native_endpoints(), playground_member_endpoints(playground))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(source.run)
        await playground.add_node()
        added = playground.members["n2"].native_endpoint
        with trio.fail_after(20):
            while added not in source.endpoints:  # noqa: ASYNC110 - the client's auto-sync announces nothing
                await trio.sleep(0.1)
        await playground.remove_node("n1")
        await playground.wait_for_leader()
        async with await Client.connect(playground.native_endpoints()) as client:
            await client.put(b"after", b"churn")

        with trio.fail_after(20):
            while True:
                try:
                    page = await source.keys(b"a", b"b", 10)
                    break
                except* (SourceUnavailable, EtcdError, OSError):
                    await trio.sleep(0.1)
            while source.endpoints != [added]:  # noqa: ASYNC110 - the client's auto-sync announces nothing
                await trio.sleep(0.1)
        assert page.keys == [b"after"]
        nursery.cancel_scope.cancel()
