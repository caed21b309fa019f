"""etcd's require-leader rule at the gRPC door: a member cut off from its cluster refuses calls
and streams carrying `hasleader: true` (clientv3.WithRequireLeader) with `etcdserver: no
leader`, ends such open streams once it has been without a leader for a while, and serves
everything else as before. Three in-process members; the door is in front of a follower."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio

from node.api.grpc_door import serve_grpc
from node.messages.faults import FaultKind, FaultRequest
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.api.native_cluster import NativeMember, native_cluster, wait_for_leader

CALL_S = 10.0
REQUIRE_LEADER = (("hasleader", "true"),)
NO_LEADER = (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")


async def until(condition: Callable[[], object]) -> None:
    with trio.fail_after(CALL_S):
        while not condition():  # noqa: ASYNC110 - polls a member's state, which offers no event to wait on
            await trio.sleep(0.01)


@dataclass(slots=True)
class Door:
    """The gRPC door of one follower of a 3-member cluster, and stubs on a channel to it."""

    member: NativeMember
    others: list[NativeMember]
    kv: rpc_pb2_grpc.KVStub
    watcher: rpc_pb2_grpc.WatchStub

    async def call(self, method: Callable[..., Any], request: Any, **options: Any) -> Any:
        """A blocking unary call, made from a worker thread."""
        return await trio.to_thread.run_sync(lambda: method(request, timeout=CALL_S, **options))

    def watch(self, key: bytes, **options: Any) -> Any:
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key))
        return self.watcher.Watch(iter([create]), timeout=CALL_S, **options)

    async def isolate(self) -> None:
        """Cut the member off from the others and wait until it knows no leader."""
        peers = [other.server.member_id for other in self.others]
        await self.member.server.inject_fault(FaultRequest(FaultKind.ISOLATE, peer_ids=peers))
        await until(lambda: self.member.server.leader_id == 0)

    async def heal(self) -> None:
        await self.member.server.inject_fault(FaultRequest(FaultKind.HEAL))
        await wait_for_leader([self.member, *self.others])


async def next_response(responses: Any) -> Any:
    return await trio.to_thread.run_sync(lambda: next(responses))


@pytest.fixture
async def door(tmp_path: Path) -> AsyncIterator[Door]:
    async with (
        native_cluster(tmp_path, 3, enable_fault_injection=True) as members,
        trio.open_nursery() as nursery,
    ):
        follower = next(m for m in members if not m.server.is_leader)
        others = [m for m in members if m is not follower]
        grpc_door = await nursery.start(serve_grpc, follower.server, follower.server.config)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_door.ports[0]}") as channel:
            yield Door(
                follower, others, rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.WatchStub(channel)
            )
        await grpc_door.stop(0)


async def test_a_member_without_leader_refuses_calls_requiring_one_and_serves_the_others(door):
    await door.call(door.kv.Put, rpc_pb2.PutRequest(key=b"k", value=b"v"))
    with_leader = await door.call(
        door.kv.Range, rpc_pb2.RangeRequest(key=b"k"), metadata=REQUIRE_LEADER
    )

    await door.isolate()

    with pytest.raises(grpc.RpcError) as refused_call:
        await door.call(door.kv.Range, rpc_pb2.RangeRequest(key=b"k"), metadata=REQUIRE_LEADER)
    with pytest.raises(grpc.RpcError) as refused_stream:
        await next_response(door.watch(b"k", metadata=REQUIRE_LEADER))
    local = await door.call(door.kv.Range, rpc_pb2.RangeRequest(key=b"k", serializable=True))

    assert [kv.value for kv in with_leader.kvs] == [b"v"]
    assert (refused_call.value.code(), refused_call.value.details()) == NO_LEADER
    assert (refused_stream.value.code(), refused_stream.value.details()) == NO_LEADER
    assert [kv.value for kv in local.kvs] == [b"v"]


async def test_an_open_watch_requiring_a_leader_ends_once_the_member_lost_it(door):
    guarded = door.watch(b"k", metadata=REQUIRE_LEADER)
    plain = door.watch(b"k")
    assert (await next_response(guarded)).created
    assert (await next_response(plain)).created

    await door.isolate()
    with pytest.raises(grpc.RpcError) as ended:
        await next_response(guarded)
    await door.heal()
    await door.call(door.kv.Put, rpc_pb2.PutRequest(key=b"k", value=b"after"))
    still_watching = await next_response(plain)
    plain.cancel()

    assert (ended.value.code(), ended.value.details()) == NO_LEADER
    assert [event.kv.value for event in still_watching.events] == [b"after"]
