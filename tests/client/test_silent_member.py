"""A member that stops answering (paused, cut off): calls fail at their deadline instead of
waiting forever, and the next calls go to another endpoint when the member went silent."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import pytest
import trio

from node.client import DeadlineExceeded, connect_client
from node.messages import errors
from tests.server.harness import reserve_peer_port

from .frame_peer import frame_peer

CALL_TIMEOUT = 0.3
TEST_WAIT_S = 10
"""Bounds each scenario, so a client that waits forever fails the test instead of hanging."""
STARTUP_WAIT_S = 30
BIGGER_THAN_SOCKET_BUFFERS = 32 << 20


def _kv_reply(call):
    return {"header": {"revision": 2}, "kvs": [{"key": call.body["key"], "value": b"v"}]}


class StandIn:
    """A stand-in member that records the calls it gets and never answers `silent_keys`."""

    def __init__(self, *silent_keys: bytes) -> None:
        self.silent_keys = set(silent_keys)
        self.calls: list[tuple[str, bytes]] = []
        self.got_call = anyio.Event()

    async def answer(self, call):
        self.calls.append((call.method, call.body["key"]))
        self.got_call.set()
        if call.body["key"] in self.silent_keys:
            await anyio.sleep_forever()
        return _kv_reply(call)


@contextlib.asynccontextmanager
async def _bounded() -> AsyncIterator[None]:
    with anyio.fail_after(TEST_WAIT_S):
        yield


async def test_a_read_from_a_silent_member_fails_at_its_deadline_and_the_next_goes_elsewhere():
    silent, healthy = StandIn(b"k"), StandIn()
    async with (
        _bounded(),
        frame_peer(silent.answer) as silent_endpoint,
        frame_peer(healthy.answer) as healthy_endpoint,
        connect_client([silent_endpoint, healthy_endpoint], timeout=CALL_TIMEOUT) as client,
    ):
        with pytest.raises(DeadlineExceeded, match="context deadline exceeded"):
            await client.get("k")
        reply = await client.get("k")
        assert client.endpoint == healthy_endpoint
    assert silent.calls == [("KV.Range", b"k")]
    assert healthy.calls == [("KV.Range", b"k")]
    assert reply.kvs[0].value == b"v"


async def test_a_write_to_a_silent_member_is_not_sent_again_elsewhere():
    silent, healthy = StandIn(b"k"), StandIn()
    async with (
        _bounded(),
        frame_peer(silent.answer) as silent_endpoint,
        frame_peer(healthy.answer) as healthy_endpoint,
        connect_client([silent_endpoint, healthy_endpoint], timeout=CALL_TIMEOUT) as client,
    ):
        with pytest.raises(DeadlineExceeded):
            await client.put("k", "v")
        assert healthy.calls == []
        await client.put("next", "v")
    assert silent.calls == [("KV.Put", b"k")]
    assert healthy.calls == [("KV.Put", b"next")]


async def test_a_slow_call_on_a_member_that_still_answers_others_keeps_the_connection():
    member, other = StandIn(b"slow"), StandIn()
    async with (
        _bounded(),
        frame_peer(member.answer) as endpoint,
        frame_peer(other.answer) as other_endpoint,
        connect_client([endpoint, other_endpoint], timeout=CALL_TIMEOUT) as client,
    ):

        async def slow_read() -> None:
            with pytest.raises(DeadlineExceeded):
                await client.get("slow")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(slow_read)
            await member.got_call.wait()
            await client.get("fast")
        await client.get("after")
        assert client.endpoint == endpoint
    assert member.calls == [("KV.Range", b"slow"), ("KV.Range", b"fast"), ("KV.Range", b"after")]
    assert other.calls == []


@contextlib.asynccontextmanager
async def member_that_stops_reading() -> AsyncIterator[str]:
    """An endpoint whose member accepts connections and then never reads from them."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def never_read(stream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, never_read)
        yield f"127.0.0.1:{port}"
        tasks.cancel_scope.cancel()


async def test_a_write_stuck_on_a_member_that_stops_reading_fails_and_the_next_goes_elsewhere():
    healthy = StandIn()
    async with (
        _bounded(),
        member_that_stops_reading() as stuck_endpoint,
        frame_peer(healthy.answer) as healthy_endpoint,
        connect_client([stuck_endpoint, healthy_endpoint], timeout=CALL_TIMEOUT) as client,
    ):
        with pytest.raises(DeadlineExceeded):
            await client.put("big", bytes(BIGGER_THAN_SOCKET_BUFFERS))
        await client.put("next", "v")
        assert client.endpoint == healthy_endpoint
    assert healthy.calls == [("KV.Put", b"next")]


# -- a real etcd-node process paused with SIGSTOP ----------------------------------------------


@dataclass
class NodeProcess:
    """One `python -m node` member: its process and its native endpoint."""

    process: trio.Process
    endpoint: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _node_args(
    name: str, data_dir: Path, peers: dict[str, int], client: int, native: int
) -> list[str]:
    peer = f"http://127.0.0.1:{peers[name]}"
    return [
        "--name",
        name,
        "--data-dir",
        str(data_dir / name),
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in peers.items()),
        "--initial-cluster-token",
        f"silent-{data_dir.name}",
        "--listen-client-urls",
        f"http://127.0.0.1:{client}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{client}",
        "--listen-native-urls",
        f"http://127.0.0.1:{native}",
        "--heartbeat-interval",
        "20",
        "--election-timeout",
        "200",
    ]


@contextlib.asynccontextmanager
async def node_processes(data_dir: Path, size: int) -> AsyncIterator[list[NodeProcess]]:
    """`size` etcd-node processes forming a new cluster; each is resumed and killed on exit,
    whatever happened."""
    names = [f"n{i}" for i in range(1, size + 1)]
    peers = {name: reserve_peer_port() for name in names}
    members: list[NodeProcess] = []
    try:
        for name in names:
            native = _free_port()
            args = _node_args(name, data_dir, peers, _free_port(), native)
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "node", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            members.append(NodeProcess(process, f"127.0.0.1:{native}"))
        yield members
    finally:
        with trio.CancelScope(shield=True):
            for member in members:
                if member.process.returncode is None:
                    member.process.send_signal(signal.SIGCONT)
                    member.process.kill()
                await member.process.wait()


async def _wait_serving(endpoint: str) -> None:
    """Until the member at `endpoint` answers Status and knows a leader."""
    while True:
        with contextlib.suppress(errors.EtcdError):
            async with connect_client([endpoint], timeout=1) as client:
                if (await client.status()).leader:
                    return
        await trio.sleep(0.1)


async def test_a_paused_member_process_is_left_for_the_next_member(tmp_path):
    async with node_processes(tmp_path, 3) as members:
        with trio.fail_after(STARTUP_WAIT_S):
            for member in members:
                await _wait_serving(member.endpoint)
        paused, other = members[0], members[1]
        async with (
            _bounded(),
            connect_client([paused.endpoint, other.endpoint], timeout=2) as client,
        ):
            await client.put("before", "1")
            paused.process.send_signal(signal.SIGSTOP)
            with pytest.raises(DeadlineExceeded):
                await client.get("before")
            read = await client.get("before")
            await client.put("after", "2")
            assert client.endpoint == other.endpoint
            written = await client.get("after")
    assert read.kvs[0].value == b"1"
    assert written.kvs[0].value == b"2"
