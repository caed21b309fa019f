"""The generated etcd v3 gRPC modules: method paths, streaming kinds, wire bytes, no drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from node.messages import regen_protos
from node.messages.gen.authpb import auth_pb2
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.messages.gen.mvccpb import kv_pb2
from node.messages.gen.v3electionpb import v3election_pb2, v3election_pb2_grpc
from node.messages.gen.v3lockpb import v3lock_pb2, v3lock_pb2_grpc

UNARY = "unary_unary"
SERVER_STREAM = "unary_stream"
BIDI = "stream_stream"

ETCD_34_METHODS = {
    "/etcdserverpb.KV/Range": UNARY,
    "/etcdserverpb.KV/Put": UNARY,
    "/etcdserverpb.KV/DeleteRange": UNARY,
    "/etcdserverpb.KV/Txn": UNARY,
    "/etcdserverpb.KV/Compact": UNARY,
    "/etcdserverpb.Watch/Watch": BIDI,
    "/etcdserverpb.Lease/LeaseGrant": UNARY,
    "/etcdserverpb.Lease/LeaseRevoke": UNARY,
    "/etcdserverpb.Lease/LeaseKeepAlive": BIDI,
    "/etcdserverpb.Lease/LeaseTimeToLive": UNARY,
    "/etcdserverpb.Lease/LeaseLeases": UNARY,
    "/etcdserverpb.Cluster/MemberAdd": UNARY,
    "/etcdserverpb.Cluster/MemberRemove": UNARY,
    "/etcdserverpb.Cluster/MemberUpdate": UNARY,
    "/etcdserverpb.Cluster/MemberList": UNARY,
    "/etcdserverpb.Cluster/MemberPromote": UNARY,
    "/etcdserverpb.Maintenance/Alarm": UNARY,
    "/etcdserverpb.Maintenance/Status": UNARY,
    "/etcdserverpb.Maintenance/Defragment": UNARY,
    "/etcdserverpb.Maintenance/Hash": UNARY,
    "/etcdserverpb.Maintenance/HashKV": UNARY,
    "/etcdserverpb.Maintenance/Snapshot": SERVER_STREAM,
    "/etcdserverpb.Maintenance/MoveLeader": UNARY,
    "/etcdserverpb.Auth/AuthEnable": UNARY,
    "/etcdserverpb.Auth/AuthDisable": UNARY,
    "/etcdserverpb.Auth/Authenticate": UNARY,
    "/etcdserverpb.Auth/UserAdd": UNARY,
    "/etcdserverpb.Auth/UserGet": UNARY,
    "/etcdserverpb.Auth/UserList": UNARY,
    "/etcdserverpb.Auth/UserDelete": UNARY,
    "/etcdserverpb.Auth/UserChangePassword": UNARY,
    "/etcdserverpb.Auth/UserGrantRole": UNARY,
    "/etcdserverpb.Auth/UserRevokeRole": UNARY,
    "/etcdserverpb.Auth/RoleAdd": UNARY,
    "/etcdserverpb.Auth/RoleGet": UNARY,
    "/etcdserverpb.Auth/RoleList": UNARY,
    "/etcdserverpb.Auth/RoleDelete": UNARY,
    "/etcdserverpb.Auth/RoleGrantPermission": UNARY,
    "/etcdserverpb.Auth/RoleRevokePermission": UNARY,
    "/v3lockpb.Lock/Lock": UNARY,
    "/v3lockpb.Lock/Unlock": UNARY,
    "/v3electionpb.Election/Campaign": UNARY,
    "/v3electionpb.Election/Proclaim": UNARY,
    "/v3electionpb.Election/Leader": UNARY,
    "/v3electionpb.Election/Observe": SERVER_STREAM,
    "/v3electionpb.Election/Resign": UNARY,
}

SERVICES = [
    (rpc_pb2_grpc, "KV"),
    (rpc_pb2_grpc, "Watch"),
    (rpc_pb2_grpc, "Lease"),
    (rpc_pb2_grpc, "Cluster"),
    (rpc_pb2_grpc, "Maintenance"),
    (rpc_pb2_grpc, "Auth"),
    (v3lock_pb2_grpc, "Lock"),
    (v3election_pb2_grpc, "Election"),
]


class _RecordingChannel:
    """Stands in for grpc.Channel and records which path each stub method calls, and how."""

    def __init__(self) -> None:
        self.calls: dict[str, str] = {}

    def __getattr__(self, kind: str) -> Any:
        def make_callable(path: str, **_: Any) -> None:
            self.calls[path] = kind

        return make_callable


class _RecordingServer:
    """Stands in for grpc.Server and records the method handlers a servicer registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, str] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        for name, handler in handlers.items():
            kind = ("stream" if handler.request_streaming else "unary") + (
                "_stream" if handler.response_streaming else "_unary"
            )
            self.handlers[f"/{service}/{name}"] = kind


def test_client_stubs_call_every_etcd_34_method_path_with_its_streaming_kind() -> None:
    channel = _RecordingChannel()
    for module, service in SERVICES:
        getattr(module, f"{service}Stub")(channel)
    assert channel.calls == ETCD_34_METHODS


def test_servicers_register_every_etcd_34_method_path_with_its_streaming_kind() -> None:
    server = _RecordingServer()
    for module, service in SERVICES:
        servicer = getattr(module, f"{service}Servicer")()
        getattr(module, f"add_{service}Servicer_to_server")(servicer, server)
    assert server.handlers == ETCD_34_METHODS


WIRE_CASES: list[tuple[Message, str]] = [
    (
        rpc_pb2.ResponseHeader(cluster_id=1, member_id=2, revision=3, raft_term=4),
        "0801 1002 1803 2004",
    ),
    (
        rpc_pb2.PutRequest(key=b"foo", value=b"bar", lease=7, prev_kv=True),
        "0a03666f6f 1203626172 1807 2001",
    ),
    # Compare.range_end is field 64: its tag needs two varint bytes (0x82 0x04).
    (
        rpc_pb2.Compare(
            result=rpc_pb2.Compare.NOT_EQUAL,
            target=rpc_pb2.Compare.LEASE,
            key=b"k",
            lease=5,
            range_end=b"l",
        ),
        "0803 1004 1a016b 4005 8204016c",
    ),
    (rpc_pb2.RequestOp(request_txn=rpc_pb2.TxnRequest()), "2200"),
    (rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()), "1a00"),
    (
        rpc_pb2.WatchCreateRequest(
            filters=[rpc_pb2.WatchCreateRequest.NODELETE], watch_id=9, fragment=True
        ),
        "2a0101 3809 4001",
    ),
    # WatchResponse.events is field 11; DELETE is 1.
    (
        rpc_pb2.WatchResponse(
            watch_id=1,
            events=[kv_pb2.Event(type=kv_pb2.Event.DELETE, kv=kv_pb2.KeyValue(key=b"a"))],
        ),
        "1001 5a07 0801 1203 0a0161",
    ),
    # int64, not sint64: -1 is ten varint bytes.
    (rpc_pb2.LeaseTimeToLiveResponse(TTL=-1), "18ffffffffffffffffff01"),
    (rpc_pb2.LeaseGrantRequest(TTL=60, ID=5), "083c 1005"),
    (rpc_pb2.Member(ID=1, isLearner=True), "0801 2801"),
    (rpc_pb2.StatusResponse(dbSizeInUse=1, isLearner=True), "4801 5001"),
    (rpc_pb2.AlarmMember(memberID=3, alarm=rpc_pb2.NOSPACE), "0803 1001"),
    (auth_pb2.Permission(permType=auth_pb2.Permission.READWRITE, key=b"a"), "0802 120161"),
    (v3lock_pb2.LockRequest(name=b"n", lease=3), "0a016e 1003"),
    (
        v3election_pb2.LeaderKey(name=b"e", key=b"e/1", rev=9, lease=2),
        "0a0165 1203652f31 1809 2002",
    ),
]


@pytest.mark.parametrize(
    ("message", "wire_hex"), WIRE_CASES, ids=[type(m).__name__ for m, _ in WIRE_CASES]
)
def test_messages_encode_to_etcd_wire_bytes(message: Message, wire_hex: str) -> None:
    expected = bytes.fromhex(wire_hex.replace(" ", ""))
    assert message.SerializeToString() == expected
    assert type(message).FromString(expected) == message


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the regeneration command into a temp dir holding a stale and a foreign file."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) is not installed")
    out = tmp_path_factory.mktemp("gen")
    (out / "mvccpb").mkdir()
    (out / "mvccpb" / "removed_pb2.py").write_text("stale\n")
    (out / "NOTES.txt").write_text("not generated\n")
    repo_root = Path(regen_protos.__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "node.messages.regen_protos", "--out", str(out)],
        cwd=repo_root,
        check=True,
        capture_output=True,
    )
    return out


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_regenerating_reproduces_the_committed_modules(regenerated: Path) -> None:
    committed = _tree(regen_protos.GEN_ROOT)
    fresh = {name: text for name, text in _tree(regenerated).items() if name != "NOTES.txt"}
    assert sorted(fresh) == sorted(committed)
    for name, text in committed.items():
        assert fresh[name] == text, f"{name} differs: run python -m node.messages.regen_protos"


def test_regenerating_removes_stale_modules_and_keeps_other_files(regenerated: Path) -> None:
    assert not (regenerated / "mvccpb" / "removed_pb2.py").exists()
    assert (regenerated / "NOTES.txt").read_text() == "not generated\n"
