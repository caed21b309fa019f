"""Our generated stubs talk to a real etcd 3.4 and decode every answer it gives.

This is the byte-level compatibility check for node/messages/proto: a wrong field number or type
shows as a rejected request or a wrong value, and a field etcd sends that our protos lack
shows as an unknown field, which every test here fails on.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from node.messages.gen.authpb import auth_pb2
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from node.messages.gen.mvccpb import kv_pb2
from node.messages.gen.v3electionpb import v3election_pb2, v3election_pb2_grpc
from node.messages.gen.v3lockpb import v3lock_pb2, v3lock_pb2_grpc

ETCD = shutil.which("etcd")
pytestmark = pytest.mark.skipif(
    ETCD is None, reason="the etcd 3.4 binary is not installed (Debian package etcd-server)"
)
STARTUP_DEADLINE_S = 30.0
CALL_TIMEOUT_S = 10.0


@dataclass(slots=True)
class RealEtcd:
    """One single-member etcd on loopback and a channel to its client port."""

    name: str
    client_url: str
    peer_url: str
    channel: _StrictDecodingChannel


def _unknown_fields(message: Message) -> list[str]:
    """Every field in message (nested ones too) that its generated class does not define."""
    found = [
        f"{message.DESCRIPTOR.full_name} field {field.field_number}"
        for field in UnknownFieldSet(message)
    ]
    for descriptor, value in message.ListFields():
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            children = value if descriptor.is_repeated else [value]
            for child in children:
                found.extend(_unknown_fields(child))
    return found


class _StrictDecodingChannel:
    """A grpc.Channel for generated stubs that records response fields our protos lack."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        self.unknown_fields: list[str] = []

    def _decode_strictly(self, decode: Callable[[bytes], Message]) -> Callable[[bytes], Message]:
        def strict(data: bytes) -> Message:
            message = decode(data)
            self.unknown_fields.extend(_unknown_fields(message))
            return message

        return strict

    def __getattr__(self, kind: str) -> Callable[..., Any]:
        make_callable = getattr(self._channel, kind)

        def make_strict_callable(
            path: str, *, response_deserializer: Callable[[bytes], Message], **options: Any
        ) -> Any:
            strict = self._decode_strictly(response_deserializer)
            return make_callable(path, response_deserializer=strict, **options)

        return make_strict_callable


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_until_leader(process: subprocess.Popen[bytes], channel: grpc.Channel, log: Path) -> None:
    maintenance = rpc_pb2_grpc.MaintenanceStub(channel)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"etcd exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(grpc.RpcError):
            if maintenance.Status(rpc_pb2.StatusRequest(), timeout=1).leader != 0:
                return
        time.sleep(0.05)
    pytest.fail(f"etcd had no leader after {STARTUP_DEADLINE_S}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def etcd() -> Iterator[RealEtcd]:
    with tempfile.TemporaryDirectory(prefix="real-etcd-") as tmp:
        client_port, peer_port = _free_ports(2)
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        log = Path(tmp) / "etcd.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    str(ETCD),
                    "--name=proto-check",
                    f"--data-dir={tmp}/data",
                    f"--listen-client-urls={client_url}",
                    f"--advertise-client-urls={client_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=proto-check={peer_url}",
                    "--logger=zap",
                    "--log-outputs=stderr",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            with grpc.insecure_channel(f"127.0.0.1:{client_port}") as channel:
                _wait_until_leader(process, channel, log)
                yield RealEtcd("proto-check", client_url, peer_url, _StrictDecodingChannel(channel))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(autouse=True)
def _responses_have_no_unknown_fields(etcd: RealEtcd) -> Iterator[None]:
    etcd.channel.unknown_fields.clear()
    yield
    assert etcd.channel.unknown_fields == []


class _RequestFeed:
    """Requests for a bidirectional stream that the test adds to while the stream runs."""

    def __init__(self) -> None:
        self._queue: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()

    def push(self, request: rpc_pb2.WatchRequest) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> _RequestFeed:
        return self

    def __next__(self) -> rpc_pb2.WatchRequest:
        request = self._queue.get()
        if request is None:
            raise StopIteration
        return request


@contextlib.contextmanager
def _watch_stream(
    channel: _StrictDecodingChannel, create: rpc_pb2.WatchCreateRequest
) -> Iterator[tuple[_RequestFeed, Iterator[rpc_pb2.WatchResponse]]]:
    """Open a Watch stream whose first request is `create`; cancel it on the way out."""
    feed = _RequestFeed()
    feed.push(rpc_pb2.WatchRequest(create_request=create))
    responses = rpc_pb2_grpc.WatchStub(channel).Watch(feed, timeout=CALL_TIMEOUT_S)
    try:
        yield feed, responses
    finally:
        responses.cancel()
        feed.close()


def test_put_and_range_decode_key_values_and_response_header(etcd: RealEtcd) -> None:
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    first = kv.Put(rpc_pb2.PutRequest(key=b"range/a", value=b"1"), timeout=CALL_TIMEOUT_S)
    second = kv.Put(
        rpc_pb2.PutRequest(key=b"range/a", value=b"2", prev_kv=True), timeout=CALL_TIMEOUT_S
    )
    kv.Put(rpc_pb2.PutRequest(key=b"range/b", value=b"3"), timeout=CALL_TIMEOUT_S)

    assert second.prev_kv.value == b"1"
    assert second.prev_kv.mod_revision == first.header.revision
    assert second.header.cluster_id != 0 and second.header.member_id != 0
    assert second.header.raft_term >= 1

    got = kv.Range(
        rpc_pb2.RangeRequest(
            key=b"range/",
            range_end=b"range0",
            limit=1,
            sort_order=rpc_pb2.RangeRequest.DESCEND,
            sort_target=rpc_pb2.RangeRequest.KEY,
        ),
        timeout=CALL_TIMEOUT_S,
    )
    assert [(item.key, item.value) for item in got.kvs] == [(b"range/b", b"3")]
    assert got.more is True and got.count == 2

    got = kv.Range(rpc_pb2.RangeRequest(key=b"range/a"), timeout=CALL_TIMEOUT_S)
    (item,) = got.kvs
    assert (item.create_revision, item.mod_revision, item.version) == (
        first.header.revision,
        second.header.revision,
        2,
    )
    counted = kv.Range(
        rpc_pb2.RangeRequest(key=b"range/", range_end=b"range0", count_only=True),
        timeout=CALL_TIMEOUT_S,
    )
    assert counted.count == 2 and len(counted.kvs) == 0


def test_txn_takes_the_branch_its_compares_choose_and_nests(etcd: RealEtcd) -> None:
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    kv.Put(rpc_pb2.PutRequest(key=b"txn/k", value=b"v1"), timeout=CALL_TIMEOUT_S)
    value_is_v1 = rpc_pb2.Compare(
        key=b"txn/k", target=rpc_pb2.Compare.VALUE, result=rpc_pb2.Compare.EQUAL, value=b"v1"
    )
    success = kv.Txn(
        rpc_pb2.TxnRequest(
            compare=[value_is_v1],
            success=[
                rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"txn/k", value=b"v2")),
                rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"txn/k")),
                rpc_pb2.RequestOp(
                    request_txn=rpc_pb2.TxnRequest(
                        success=[
                            rpc_pb2.RequestOp(
                                request_put=rpc_pb2.PutRequest(key=b"txn/nested", value=b"n")
                            )
                        ]
                    )
                ),
            ],
        ),
        timeout=CALL_TIMEOUT_S,
    )
    assert success.succeeded is True
    assert [op.WhichOneof("response") for op in success.responses] == [
        "response_put",
        "response_range",
        "response_txn",
    ]
    assert success.responses[1].response_range.kvs[0].value == b"v2"
    assert success.responses[2].response_txn.succeeded is True

    failure = kv.Txn(
        rpc_pb2.TxnRequest(
            compare=[
                value_is_v1,
                rpc_pb2.Compare(
                    key=b"txn/",
                    range_end=b"txn0",
                    target=rpc_pb2.Compare.LEASE,
                    result=rpc_pb2.Compare.NOT_EQUAL,
                    lease=0,
                ),
            ],
            failure=[
                rpc_pb2.RequestOp(
                    request_delete_range=rpc_pb2.DeleteRangeRequest(key=b"txn/nested")
                )
            ],
        ),
        timeout=CALL_TIMEOUT_S,
    )
    assert failure.succeeded is False
    assert failure.responses[0].response_delete_range.deleted == 1


def test_delete_range_reports_the_deleted_keys(etcd: RealEtcd) -> None:
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    for key in (b"del/a", b"del/b"):
        kv.Put(rpc_pb2.PutRequest(key=key, value=b"x"), timeout=CALL_TIMEOUT_S)
    deleted = kv.DeleteRange(
        rpc_pb2.DeleteRangeRequest(key=b"del/", range_end=b"del0", prev_kv=True),
        timeout=CALL_TIMEOUT_S,
    )
    assert deleted.deleted == 2
    assert [item.key for item in deleted.prev_kvs] == [b"del/a", b"del/b"]


def test_lease_grant_keep_alive_time_to_live_and_revoke(etcd: RealEtcd) -> None:
    lease = rpc_pb2_grpc.LeaseStub(etcd.channel)
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    granted = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=60), timeout=CALL_TIMEOUT_S)
    assert granted.ID != 0 and granted.TTL == 60 and granted.error == ""
    kv.Put(rpc_pb2.PutRequest(key=b"lease/k", value=b"v", lease=granted.ID), timeout=CALL_TIMEOUT_S)

    replies = lease.LeaseKeepAlive(
        iter([rpc_pb2.LeaseKeepAliveRequest(ID=granted.ID)]), timeout=CALL_TIMEOUT_S
    )
    reply = next(replies)
    replies.cancel()
    assert (reply.ID, reply.TTL) == (granted.ID, 60)

    ttl = lease.LeaseTimeToLive(
        rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID, keys=True), timeout=CALL_TIMEOUT_S
    )
    assert (ttl.grantedTTL, list(ttl.keys)) == (60, [b"lease/k"])
    assert 0 < ttl.TTL <= 60
    leases = lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=CALL_TIMEOUT_S)
    assert granted.ID in [status.ID for status in leases.leases]

    lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=granted.ID), timeout=CALL_TIMEOUT_S)
    assert kv.Range(rpc_pb2.RangeRequest(key=b"lease/k"), timeout=CALL_TIMEOUT_S).count == 0
    gone = lease.LeaseTimeToLive(
        rpc_pb2.LeaseTimeToLiveRequest(ID=granted.ID), timeout=CALL_TIMEOUT_S
    )
    assert gone.TTL == -1


def test_watch_stream_creates_reports_events_and_cancels(etcd: RealEtcd) -> None:
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    create = rpc_pb2.WatchCreateRequest(
        key=b"watch/", range_end=b"watch0", prev_kv=True, watch_id=7
    )
    with _watch_stream(etcd.channel, create) as (feed, responses):
        created = next(responses)
        assert (created.created, created.watch_id) == (True, 7)

        kv.Put(rpc_pb2.PutRequest(key=b"watch/k", value=b"1"), timeout=CALL_TIMEOUT_S)
        kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"watch/k"), timeout=CALL_TIMEOUT_S)
        events: list[kv_pb2.Event] = []
        while len(events) < 2:
            events.extend(next(responses).events)

        feed.push(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=7)))
        canceled = next(responses)

    put, delete = events
    assert (put.type, put.kv.key, put.kv.value, put.kv.version) == (
        kv_pb2.Event.PUT,
        b"watch/k",
        b"1",
        1,
    )
    assert (delete.type, delete.kv.key, delete.prev_kv.value) == (
        kv_pb2.Event.DELETE,
        b"watch/k",
        b"1",
    )
    assert delete.kv.mod_revision == put.kv.mod_revision + 1
    assert (canceled.canceled, canceled.watch_id) == (True, 7)


def test_watch_from_a_compacted_revision_reports_the_compact_revision(etcd: RealEtcd) -> None:
    kv = rpc_pb2_grpc.KVStub(etcd.channel)
    kv.Put(rpc_pb2.PutRequest(key=b"compact/k", value=b"1"), timeout=CALL_TIMEOUT_S)
    latest = kv.Put(rpc_pb2.PutRequest(key=b"compact/k", value=b"2"), timeout=CALL_TIMEOUT_S)
    kv.Compact(
        rpc_pb2.CompactionRequest(revision=latest.header.revision, physical=True),
        timeout=CALL_TIMEOUT_S,
    )
    with pytest.raises(grpc.RpcError) as compacted_read:
        kv.Range(rpc_pb2.RangeRequest(key=b"compact/k", revision=1), timeout=CALL_TIMEOUT_S)
    assert compacted_read.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert (
        compacted_read.value.details() == "etcdserver: mvcc: required revision has been compacted"
    )

    create = rpc_pb2.WatchCreateRequest(key=b"compact/k", start_revision=1)
    with _watch_stream(etcd.channel, create) as (_, responses):
        answers = [next(responses), next(responses)]
    assert answers[0].created is True
    assert answers[1].canceled is True
    assert answers[1].compact_revision == latest.header.revision


def test_member_list_and_status_describe_the_single_member(etcd: RealEtcd) -> None:
    members = rpc_pb2_grpc.ClusterStub(etcd.channel).MemberList(
        rpc_pb2.MemberListRequest(), timeout=CALL_TIMEOUT_S
    )
    (member,) = members.members
    assert member.name == etcd.name
    assert list(member.peerURLs) == [etcd.peer_url]
    assert list(member.clientURLs) == [etcd.client_url]
    assert member.isLearner is False
    assert members.header.member_id == member.ID

    status = rpc_pb2_grpc.MaintenanceStub(etcd.channel).Status(
        rpc_pb2.StatusRequest(), timeout=CALL_TIMEOUT_S
    )
    assert status.version.startswith("3.4.")
    assert status.leader == member.ID
    assert status.raftTerm >= 1 and status.raftIndex >= status.raftAppliedIndex > 0
    assert status.dbSize >= status.dbSizeInUse > 0


def test_maintenance_alarm_hash_kv_and_snapshot_stream(etcd: RealEtcd) -> None:
    maintenance = rpc_pb2_grpc.MaintenanceStub(etcd.channel)
    alarms = maintenance.Alarm(
        rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET), timeout=CALL_TIMEOUT_S
    )
    assert list(alarms.alarms) == []

    hashed = maintenance.HashKV(rpc_pb2.HashKVRequest(), timeout=CALL_TIMEOUT_S)
    assert hashed.hash != 0 and hashed.header.revision > 0

    chunks = list(maintenance.Snapshot(rpc_pb2.SnapshotRequest(), timeout=CALL_TIMEOUT_S))
    assert chunks[-1].remaining_bytes == 0
    assert [c.remaining_bytes for c in chunks] == sorted(
        (c.remaining_bytes for c in chunks), reverse=True
    )
    assert sum(len(c.blob) for c in chunks) > 0


def test_auth_users_and_roles_round_trip_permissions(etcd: RealEtcd) -> None:
    auth = rpc_pb2_grpc.AuthStub(etcd.channel)
    auth.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="reader"), timeout=CALL_TIMEOUT_S)
    permission = auth_pb2.Permission(
        permType=auth_pb2.Permission.READWRITE, key=b"app/", range_end=b"app0"
    )
    auth.RoleGrantPermission(
        rpc_pb2.AuthRoleGrantPermissionRequest(name="reader", perm=permission),
        timeout=CALL_TIMEOUT_S,
    )
    auth.UserAdd(
        rpc_pb2.AuthUserAddRequest(name="alice", options=auth_pb2.UserAddOptions(no_password=True)),
        timeout=CALL_TIMEOUT_S,
    )
    auth.UserGrantRole(
        rpc_pb2.AuthUserGrantRoleRequest(user="alice", role="reader"), timeout=CALL_TIMEOUT_S
    )

    role = auth.RoleGet(rpc_pb2.AuthRoleGetRequest(role="reader"), timeout=CALL_TIMEOUT_S)
    assert list(role.perm) == [permission]
    user = auth.UserGet(rpc_pb2.AuthUserGetRequest(name="alice"), timeout=CALL_TIMEOUT_S)
    assert list(user.roles) == ["reader"]
    users = auth.UserList(rpc_pb2.AuthUserListRequest(), timeout=CALL_TIMEOUT_S)
    assert "alice" in users.users


def test_lock_is_held_by_a_key_under_the_lock_name_until_unlocked(etcd: RealEtcd) -> None:
    lease = rpc_pb2_grpc.LeaseStub(etcd.channel).LeaseGrant(
        rpc_pb2.LeaseGrantRequest(TTL=30), timeout=CALL_TIMEOUT_S
    )
    lock = v3lock_pb2_grpc.LockStub(etcd.channel)
    kv = rpc_pb2_grpc.KVStub(etcd.channel)

    held = lock.Lock(
        v3lock_pb2.LockRequest(name=b"locks/one", lease=lease.ID), timeout=CALL_TIMEOUT_S
    )
    assert held.key == b"locks/one/" + f"{lease.ID:x}".encode()
    assert kv.Range(rpc_pb2.RangeRequest(key=held.key), timeout=CALL_TIMEOUT_S).count == 1

    lock.Unlock(v3lock_pb2.UnlockRequest(key=held.key), timeout=CALL_TIMEOUT_S)
    assert kv.Range(rpc_pb2.RangeRequest(key=held.key), timeout=CALL_TIMEOUT_S).count == 0


def test_election_campaign_proclaim_observe_and_resign(etcd: RealEtcd) -> None:
    lease = rpc_pb2_grpc.LeaseStub(etcd.channel).LeaseGrant(
        rpc_pb2.LeaseGrantRequest(TTL=30), timeout=CALL_TIMEOUT_S
    )
    election = v3election_pb2_grpc.ElectionStub(etcd.channel)

    won = election.Campaign(
        v3election_pb2.CampaignRequest(name=b"elect/one", lease=lease.ID, value=b"first"),
        timeout=CALL_TIMEOUT_S,
    )
    leader_key = won.leader
    assert (leader_key.name, leader_key.lease) == (b"elect/one", lease.ID)
    assert leader_key.key == b"elect/one/" + f"{lease.ID:x}".encode()
    assert leader_key.rev == won.header.revision

    election.Proclaim(
        v3election_pb2.ProclaimRequest(leader=leader_key, value=b"second"), timeout=CALL_TIMEOUT_S
    )
    current = election.Leader(
        v3election_pb2.LeaderRequest(name=b"elect/one"), timeout=CALL_TIMEOUT_S
    )
    assert (current.kv.key, current.kv.value) == (leader_key.key, b"second")

    observed = election.Observe(
        v3election_pb2.LeaderRequest(name=b"elect/one"), timeout=CALL_TIMEOUT_S
    )
    first_seen = next(observed)
    observed.cancel()
    assert first_seen.kv.value == b"second"

    election.Resign(v3election_pb2.ResignRequest(leader=leader_key), timeout=CALL_TIMEOUT_S)
    with pytest.raises(grpc.RpcError) as no_leader:
        election.Leader(v3election_pb2.LeaderRequest(name=b"elect/one"), timeout=CALL_TIMEOUT_S)
    assert no_leader.value.details() == "election: no leader"
