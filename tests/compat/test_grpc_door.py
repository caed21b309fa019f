"""The gRPC door in front of an in-process member: calls cross from grpcio's thread to trio
and back, errors keep etcd's codes and texts, streams flow past their window, cancellation
reaches the trio task, and stopping ends streams, answers calls in flight and joins the
thread. Clients are grpcio's blocking stubs, run in worker threads so trio keeps serving."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio

from node.api.grpc_bridge import STREAM_WINDOW
from node.api.grpc_door import BindError, GrpcDoor
from node.api.service import Service
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.messages.gen.v3electionpb import v3election_pb2, v3election_pb2_grpc
from node.messages.lease import LeaseRevokeRequest
from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer, open_etcd_server
from node.server.member import open_server

CALL_S = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(directory: Path) -> ServerConfig:
    peer = [f"http://127.0.0.1:{_free_port()}"]
    client = [f"http://127.0.0.1:{_free_port()}"]
    return ServerConfig(
        name="solo",
        data_dir=str(directory / "solo"),
        listen_client_urls=client,
        advertise_client_urls=client,
        listen_peer_urls=peer,
        initial_advertise_peer_urls=peer,
        initial_cluster={"solo": peer},
        initial_cluster_token=f"door-{directory.name}",
        heartbeat_interval_ms=20,
        election_timeout_ms=200,
        listen_native_urls=["http://127.0.0.1:0"],
    )


async def until(condition: Callable[[], object]) -> None:
    with trio.fail_after(CALL_S):
        while not condition():  # noqa: ASYNC110 - polls a member's state, which offers no event to wait on
            await trio.sleep(0.01)


def door_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "grpc-door"]


class Client:
    """A running door in front of a member, and stubs on a channel to it."""

    def __init__(self, server: EtcdServer, door: GrpcDoor, channel: grpc.Channel) -> None:
        self.server = server
        self.door = door
        self.channel = channel
        self.kv = rpc_pb2_grpc.KVStub(channel)
        self.lease = rpc_pb2_grpc.LeaseStub(channel)
        self.auth = rpc_pb2_grpc.AuthStub(channel)
        self.election = v3election_pb2_grpc.ElectionStub(channel)

    async def call(self, method: Callable[..., Any], request: Any) -> Any:
        """A blocking unary call, made from a worker thread."""
        return await trio.to_thread.run_sync(lambda: method(request, timeout=CALL_S))

    async def grant(self) -> int:
        return (await self.call(self.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=60))).ID

    def campaign(self, lease: int, value: bytes) -> grpc.Future:
        request = v3election_pb2.CampaignRequest(name=b"e", lease=lease, value=value)
        return self.election.Campaign.future(request, timeout=CALL_S)

    def watch(self, key: bytes, start_revision: int = 0) -> Any:
        create = rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(key=key, start_revision=start_revision)
        )
        return rpc_pb2_grpc.WatchStub(self.channel).Watch(iter([create]), timeout=CALL_S)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with open_server(_config(tmp_path)) as server, trio.open_nursery() as nursery:
        await until(lambda: server.is_leader)
        door = GrpcDoor(Service(server), grace=CALL_S)
        [port] = await nursery.start(door.serve, [("127.0.0.1", 0)])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Client(server, door, channel)
        await door.stop(0)


async def test_a_unary_call_crosses_to_trio_and_back(client):
    put = await client.call(client.kv.Put, rpc_pb2.PutRequest(key=b"k", value=b"v"))

    reply = await client.call(client.kv.Range, rpc_pb2.RangeRequest(key=b"k"))

    assert reply.header.revision == put.header.revision
    assert reply.header.member_id == client.server.member_id
    assert [(kv.key, kv.value, kv.version) for kv in reply.kvs] == [(b"k", b"v", 1)]
    assert reply.count == 1


@pytest.mark.parametrize(
    ("request_", "code", "text"),
    [
        (rpc_pb2.RangeRequest(key=b""), grpc.StatusCode.INVALID_ARGUMENT,
         "etcdserver: key is not provided"),
        (rpc_pb2.RangeRequest(key=b"k", revision=10**6), grpc.StatusCode.OUT_OF_RANGE,
         "etcdserver: mvcc: required revision is a future revision"),
    ],
)  # fmt: skip
async def test_an_etcd_error_is_its_grpc_status_with_etcds_text(client, request_, code, text):
    with pytest.raises(grpc.RpcError) as failure:
        await client.call(client.kv.Range, request_)

    assert (failure.value.code(), failure.value.details()) == (code, text)


async def test_a_watch_stream_delivers_many_times_its_window_in_order(client):
    values = [str(n).encode() for n in range(3 * STREAM_WINDOW)]
    for value in values:
        await client.call(client.kv.Put, rpc_pb2.PutRequest(key=b"w", value=value))

    def read_events() -> list[bytes]:
        responses = client.watch(b"w", start_revision=1)
        seen: list[bytes] = []
        try:
            for response in responses:
                seen.extend(event.kv.value for event in response.events)
                if len(seen) >= len(values):
                    return seen
        finally:
            responses.cancel()
        return seen

    assert await trio.to_thread.run_sync(read_events) == values


async def test_a_client_cancelling_a_waiting_call_cancels_its_trio_task(client):
    first, second = await client.grant(), await client.grant()
    await trio.to_thread.run_sync(lambda: client.campaign(first, b"one").result())

    waiting = client.campaign(second, b"two")
    await until(lambda: client.door.calls_in_flight == 1)
    waiting.cancel()

    await until(lambda: client.door.calls_in_flight == 0)


async def test_a_client_cancelling_a_stream_cancels_its_trio_task(client):
    responses = client.watch(b"k")
    created = await trio.to_thread.run_sync(lambda: next(responses))
    assert created.created
    assert client.door.calls_in_flight == 1

    responses.cancel()

    await until(lambda: client.door.calls_in_flight == 0)


async def test_stopping_ends_streams_answers_calls_in_flight_and_joins_the_thread(client):
    first, second = await client.grant(), await client.grant()
    await trio.to_thread.run_sync(lambda: client.campaign(first, b"one").result())
    waiting = client.campaign(second, b"two")
    responses = client.watch(b"k")
    await trio.to_thread.run_sync(lambda: next(responses))
    await until(lambda: client.door.calls_in_flight == 2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.door.stop)
        with pytest.raises(grpc.RpcError) as ended:
            await trio.to_thread.run_sync(lambda: next(responses))
        # The campaign is still waiting: the first leader's lease ends, so it wins.
        await client.server.lease_revoke(LeaseRevokeRequest(id=first))
        won = await trio.to_thread.run_sync(waiting.result)

    assert (ended.value.code(), ended.value.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "etcdserver: server stopped",
    )
    assert won.leader.lease == second
    assert door_threads() == []


async def test_auth_answers_as_a_member_with_authentication_disabled(client):
    users = await client.call(client.auth.UserList, rpc_pb2.AuthUserListRequest())
    assert (list(users.users), users.header.member_id) == ([], client.server.member_id)

    with pytest.raises(grpc.RpcError) as refused:
        await client.call(client.auth.Authenticate, rpc_pb2.AuthenticateRequest(name="root"))

    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "etcdserver: authentication is not enabled",
    )


async def test_a_port_in_use_is_a_bind_error_in_gos_words(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with open_etcd_server(_config(tmp_path)) as server:
            door = GrpcDoor(Service(server))
            with pytest.raises(BindError) as refused:
                await door.serve([("127.0.0.1", port)])

    assert str(refused.value) == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert door_threads() == []
