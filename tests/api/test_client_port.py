"""One client port for gRPC and HTTP, as etcd's: gRPC calls reach the gRPC door through the
port's splice, HTTP/1.1 requests the HTTP door, on the same port; /health, /livez and /readyz
report a member cut off from its leader as etcd does; /metrics counts the gRPC calls handled.
Three in-process members; the port is a follower's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import trio

from node.api.client_port import serve_client_port
from node.messages.faults import FaultKind, FaultRequest
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.messages.maintenance import AlarmAction, AlarmRequest, AlarmType
from tests.api.native_cluster import NativeMember, native_cluster, wait_for_leader

CALL_S = 10.0


@dataclass(slots=True)
class Port:
    """A follower's shared client port, a gRPC channel and an HTTP client on it."""

    member: NativeMember
    others: list[NativeMember]
    kv: rpc_pb2_grpc.KVStub
    http: httpx.Client

    async def get(self, path: str) -> httpx.Response:
        return await trio.to_thread.run_sync(self.http.get, path)

    async def post(self, path: str, body: str) -> httpx.Response:
        return await trio.to_thread.run_sync(lambda: self.http.post(path, content=body))

    async def grpc(self, method: Callable[..., Any], request: Any) -> Any:
        return await trio.to_thread.run_sync(lambda: method(request, timeout=CALL_S))

    async def isolate(self) -> None:
        """Cut the member off from the others and wait until it knows no leader."""
        peers = [other.server.member_id for other in self.others]
        await self.member.server.inject_fault(FaultRequest(FaultKind.ISOLATE, peer_ids=peers))
        with trio.fail_after(CALL_S):
            while self.member.server.leader_id:  # noqa: ASYNC110 - polls raft's view of the leader
                await trio.sleep(0.01)

    async def heal(self) -> None:
        await self.member.server.inject_fault(FaultRequest(FaultKind.HEAL))
        await wait_for_leader([self.member, *self.others])


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[Port]:
    async with (
        native_cluster(tmp_path, 3, enable_fault_injection=True) as members,
        trio.open_nursery() as nursery,
    ):
        follower = next(m for m in members if not m.server.is_leader)
        others = [m for m in members if m is not follower]
        client_port = await nursery.start(
            serve_client_port, follower.server, follower.server.config
        )
        address = f"127.0.0.1:{client_port.ports[0]}"
        with (
            grpc.insecure_channel(address) as channel,
            httpx.Client(base_url=f"http://{address}", timeout=CALL_S) as http,
        ):
            yield Port(follower, others, rpc_pb2_grpc.KVStub(channel), http)
        await client_port.grpc_door.stop(0)
        nursery.cancel_scope.cancel()


async def test_grpc_and_http_share_the_client_port(port: Port) -> None:
    put = rpc_pb2.PutRequest(key=b"shared", value=b"port")
    await port.grpc(port.kv.Put, put)

    answer = await port.post("/v3/kv/range", '{"key": "c2hhcmVk"}')
    assert answer.status_code == 200
    assert answer.json()["kvs"][0]["value"] == "cG9ydA=="  # "port", put through gRPC
    reply = await port.grpc(port.kv.Range, rpc_pb2.RangeRequest(key=b"shared"))
    assert reply.kvs[0].value == b"port"
    assert (await port.get("/health")).json() == {"health": "true"}


async def test_metrics_count_the_grpc_calls_handled(port: Port) -> None:
    await port.grpc(port.kv.Range, rpc_pb2.RangeRequest(key=b"counted"))
    with pytest.raises(grpc.RpcError):
        await port.grpc(port.kv.Range, rpc_pb2.RangeRequest(key=b""))

    text = (await port.get("/metrics")).text
    range_ok = (
        'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",'
        'grpc_service="etcdserverpb.KV",grpc_type="unary"}'
    )
    range_invalid = range_ok.replace('"OK"', '"InvalidArgument"')
    samples = [line.rpartition(" ") for line in text.splitlines() if not line.startswith("#")]
    lines = {name: float(value) for name, _, value in samples}
    assert lines[range_ok] >= 1
    assert lines[range_invalid] >= 1
    assert lines["etcd_server_has_leader"] == 1.0


async def test_health_reports_a_member_without_a_leader_as_etcd(port: Port) -> None:
    await port.isolate()

    unhealthy = await port.get("/health")
    assert unhealthy.status_code == 503
    assert unhealthy.json() == {"health": "false", "reason": "RAFT NO LEADER"}
    serializable = await port.get("/health?serializable=true")
    assert (serializable.status_code, serializable.json()) == (200, {"health": "true"})
    assert (await port.get("/livez")).text == "ok"
    ready = await port.get("/readyz?verbose&exclude=linearizable_read")
    assert ready.status_code == 200
    assert "[+]linearizable_read excluded: ok" in ready.text.splitlines()
    metrics = (await port.get("/metrics")).text
    assert "etcd_server_has_leader 0.0" in metrics.splitlines()

    await port.heal()
    assert (await port.get("/health")).json() == {"health": "true"}


async def test_a_request_that_is_not_http_leaves_the_port_serving(port: Port) -> None:
    host, number = "127.0.0.1", port.http.base_url.port
    assert number is not None
    stream = await trio.open_tcp_stream(host, number)
    async with stream:
        await stream.send_all(b"\x16\x03\x01 not http, perhaps TLS\r\n\r\n")
        answer = await stream.receive_some(1024)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")
    assert (await port.get("/health")).status_code == 200


async def test_health_fails_on_an_alarm_unless_it_is_excluded(port: Port) -> None:
    server = port.member.server
    nospace = AlarmRequest(AlarmAction.ACTIVATE, server.member_id, AlarmType.NOSPACE)
    await server.alarm(nospace)
    try:
        alarmed = await port.get("/health")
        assert alarmed.status_code == 503
        assert alarmed.json() == {"health": "false", "reason": "ALARM NOSPACE"}
        excluded = await port.get("/health?exclude=NOSPACE")
        assert (excluded.status_code, excluded.json()) == (200, {"health": "true"})
    finally:
        await server.alarm(
            AlarmRequest(AlarmAction.DEACTIVATE, server.member_id, AlarmType.NOSPACE)
        )
    assert (await port.get("/health")).json() == {"health": "true"}


async def test_a_watch_body_arriving_in_pieces_is_read_as_it_comes(port: Port) -> None:
    number = port.http.base_url.port
    assert number is not None
    stream = await trio.open_tcp_stream("127.0.0.1", number)
    async with stream:
        head = b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        await stream.send_all(head)
        for piece in (b'{"create_request": {"key": "Zm', b'9v"}}'):  # key "foo", split
            await stream.send_all(b"%x\r\n%s\r\n" % (len(piece), piece))
        answer = b""
        with trio.fail_after(CALL_S):
            while b'"created":true' not in answer:
                answer += await stream.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert (await port.get("/health")).status_code == 200
