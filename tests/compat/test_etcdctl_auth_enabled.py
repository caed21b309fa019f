"""etcdctl's user, role and auth commands and --user against a cluster with auth enabled:
our three members and a real etcd 3.4 get the same commands and must print the same.

Both start with --bcrypt-cost 4 (fast hashing) and a short --auth-token-ttl, get a root user
and role, a user `alice` with a role granting a key, a range, a prefix and a from-key, then
auth on; each test compares what etcdctl (or a gRPC call) answers on both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from node.client.grpc_client import GrpcClient
from node.messages import errors
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.compat.cluster import (
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    ProcessCluster,
    RunningEtcdctl,
    etcdctl,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None, reason="etcd and etcdctl 3.4 are not installed"
)

TOKEN_TTL_S = 2
ROOT = ("--user", "root:rootpw")
ALICE = ("--user", "alice:alicepw")
SETUP = [
    ("user", "add", "root:rootpw"),
    ("role", "add", "root"),
    ("user", "grant-role", "root", "root"),
    ("user", "add", "alice:alicepw"),
    ("role", "add", "reader"),
    ("role", "grant-permission", "reader", "readwrite", "key"),
    ("role", "grant-permission", "reader", "write", "b", "d"),
    ("role", "grant-permission", "--prefix=true", "reader", "read", "dir/"),
    ("role", "grant-permission", "--from-key", "reader", "read", "z"),
    ("user", "grant-role", "alice", "reader"),
    ("auth", "enable"),
]


def _secured(directory: Path, command: tuple[str, ...], size: int) -> ProcessCluster:
    cluster = ProcessCluster.new(directory, size, command, token=f"auth-{directory.name}")
    for member in cluster.members:
        member.extra_args = ("--bcrypt-cost", "4", "--auth-token-ttl", str(TOKEN_TTL_S))
    return cluster


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, ...]]:
    """(ours, real): three of our members and one real etcd, both set up as SETUP says."""
    ours = _secured(tmp_path_factory.mktemp("ours-auth"), OUR_MEMBER, 3)
    real = _secured(tmp_path_factory.mktemp("real-auth"), (ETCD,), 1)  # type: ignore[arg-type]
    try:
        for cluster in (ours, real):
            cluster.start_all()
            for args in SETUP:
                result = etcdctl(cluster.endpoints, *args)
                assert result.returncode == 0, (args, result.stderr)
        yield ours, real
    finally:
        ours.stop_all()
        real.stop_all()


def _answer(cluster: ProcessCluster, *args: str, stdin: str | None = None) -> tuple:
    """etcdctl's exit status, output and last error line through the first member (a
    command per endpoint, such as defrag, prints as much on both), its address made neutral."""
    endpoint = cluster.members[0].endpoint
    result = etcdctl(endpoint, *args, stdin=stdin)
    neutral = endpoint.removeprefix("http://")
    errors = [line.replace(neutral, "<endpoint>") for line in result.stderr.strip().splitlines()]
    return result.returncode, result.stdout.replace(neutral, "<endpoint>"), errors[-1:]


def both(pair: tuple[ProcessCluster, ...], *args: str, stdin: str | None = None) -> tuple:
    """What etcdctl answers on our cluster, checked equal to what it answers on real etcd."""
    ours, real = pair
    ours_answer = _answer(ours, *args, stdin=stdin)
    assert ours_answer == _answer(real, *args, stdin=stdin)
    return ours_answer


@pytest.mark.parametrize(
    "args",
    [
        ("user", "list"),
        ("role", "list"),
        ("user", "get", "alice"),
        ("role", "get", "reader"),
        ("role", "get", "root"),
        ("user", "get", "nobody"),
        ("role", "get", "nothing"),
        ("user", "add", "alice:again"),
        ("role", "add", "reader"),
        ("user", "grant-role", "alice", "nothing"),
        ("user", "revoke-role", "alice", "root"),
        ("user", "revoke-role", "root", "root"),
        ("user", "delete", "root"),
        ("role", "delete", "root"),
        ("role", "revoke-permission", "reader", "not-granted"),
        ("auth", "enable"),
    ],
)
def test_root_manages_users_and_roles_as_on_etcd(pair, args):
    both(pair, *ROOT, *args)


@pytest.mark.parametrize(
    "args",
    [
        ("put", "x", "1"),
        ("get", "x"),
        ("--user", "root:wrong", "get", "x"),
        ("--user", "nobody:pw", "get", "x"),
        ("user", "list"),
        ("auth", "disable"),
    ],
)
def test_no_user_a_wrong_password_or_an_unknown_user_is_refused_as_on_etcd(pair, args):
    returncode, _, _ = both(pair, *args)

    assert returncode != 0


@pytest.mark.parametrize(
    "args",
    [
        ("put", "key", "v1"),
        ("get", "key"),
        ("put", "other", "v"),
        ("get", "other"),
        ("put", "c", "in-range"),
        ("get", "c"),
        ("put", "d", "past-the-range"),
        ("get", "dir/", "--prefix"),
        ("put", "dir/a", "read-only"),
        ("get", "zz"),
        ("get", "z", "--from-key"),
        ("get", "a", "--from-key"),
        ("del", "key", "--prev-kv"),
        ("user", "get", "alice"),
        ("user", "get", "root"),
        ("role", "get", "reader"),
        ("role", "get", "root"),
        ("user", "list"),
        ("endpoint", "hashkv"),
        ("defrag",),
        ("compaction", "1"),
        ("alarm", "list"),
    ],
)
def test_a_user_is_held_to_its_roles_permissions_as_on_etcd(pair, args):
    both(pair, *ALICE, *args)


def test_nothing_is_written_after_a_refusal(pair):
    returncode, _, [error] = both(pair, *ALICE, "put", "refused-key", "v")

    assert (returncode, error) == (1, "Error: etcdserver: permission denied")
    assert both(pair, *ROOT, "get", "refused-key") == (0, "", [])


@pytest.mark.parametrize(
    "compare_key, put_key",
    [("key", "key"), ("other", "key"), ("key", "other")],
)
def test_each_txn_compare_and_op_is_checked_as_on_etcd(pair, compare_key, put_key):
    both(pair, *ROOT, "put", "key", "v")
    script = f'value("{compare_key}") = "v"\n\nput {put_key} "w"\n\n'

    both(pair, *ALICE, "txn", stdin=script)


def test_a_watch_on_keys_the_user_may_not_read_is_canceled_as_on_etcd(pair):
    outputs = []
    for cluster in pair:
        endpoint = cluster.members[0].endpoint
        with RunningEtcdctl(endpoint, *ALICE, "watch", "other") as watch:
            wait_until(lambda watch=watch: watch.process.poll() is not None)
            outputs.append((watch.process.returncode, watch.stderr_so_far()))

    assert outputs[0] == outputs[1]
    assert "etcdserver: permission denied" in outputs[0][1]


def _auth_stub(cluster: ProcessCluster) -> tuple[grpc.Channel, rpc_pb2_grpc.AuthStub]:
    channel = grpc.insecure_channel(cluster.members[0].endpoint)
    return channel, rpc_pb2_grpc.AuthStub(channel)


def _range_with(cluster: ProcessCluster, token: str) -> tuple:
    with grpc.insecure_channel(cluster.members[0].endpoint) as channel:
        try:
            rpc_pb2_grpc.KVStub(channel).Range(
                rpc_pb2.RangeRequest(key=b"key"), metadata=[("token", token)], timeout=5
            )
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
    return ("OK",)


def _token(cluster: ProcessCluster, name: str, password: str) -> str:
    channel, auth = _auth_stub(cluster)
    with channel:
        return auth.Authenticate(rpc_pb2.AuthenticateRequest(name=name, password=password)).token


@pytest.mark.parametrize("token", ["forged.1", "", "a.b.c"])
def test_a_forged_token_is_refused_as_on_etcd(pair, token):
    ours, real = pair

    assert _range_with(ours, token) == _range_with(real, token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "etcdserver: invalid auth token",
    )


def test_a_simple_token_expires_after_the_token_ttl_unused(pair):
    tokens = [_token(cluster, "alice", "alicepw") for cluster in pair]
    assert [_range_with(c, t) for c, t in zip(pair, tokens, strict=True)] == [("OK",), ("OK",)]
    # both tokens look alike: 16 letters, a dot and the raft index that issued them
    assert all(t.split(".")[0].isalpha() and t.split(".")[1].isdigit() for t in tokens)

    time.sleep(TOKEN_TTL_S + 1)  # the TTL is wall-clock time without use

    assert [_range_with(c, t) for c, t in zip(pair, tokens, strict=True)] == [
        (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")
    ] * 2


def test_a_token_issued_by_one_member_works_on_the_others(pair):
    ours, _ = pair
    token = _token(ours, "alice", "alicepw")

    for member in ours.members:
        with grpc.insecure_channel(member.endpoint) as channel:
            reply = rpc_pb2_grpc.KVStub(channel).Range(
                rpc_pb2.RangeRequest(key=b"key"), metadata=[("token", token)], timeout=5
            )
            assert reply.header.member_id != 0


def test_a_changed_password_ends_the_users_tokens_and_takes_the_new_one(pair):
    both(pair, *ROOT, "user", "add", "bob:oldpw")
    both(pair, *ROOT, "user", "grant-role", "bob", "reader")
    tokens = [_token(cluster, "bob", "oldpw") for cluster in pair]

    both(pair, *ROOT, "user", "passwd", "bob", "--interactive=false", stdin="newpw\n")

    assert [_range_with(c, t)[0] for c, t in zip(pair, tokens, strict=True)] == [
        grpc.StatusCode.UNAUTHENTICATED
    ] * 2
    both(pair, "--user", "bob:oldpw", "get", "key")
    both(pair, "--user", "bob:newpw", "get", "key")


def _authenticate(cluster: ProcessCluster, name: str, password: str) -> tuple:
    channel, auth = _auth_stub(cluster)
    with channel:
        try:
            auth.Authenticate(rpc_pb2.AuthenticateRequest(name=name, password=password))
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
    return ("OK",)


@pytest.mark.parametrize("password", ["", "anything"])
def test_a_no_password_user_cannot_authenticate(pair, password):
    both(pair, *ROOT, "user", "add", f"carol-{password}", "--no-password")
    ours, real = pair

    assert _authenticate(ours, f"carol-{password}", password) == _authenticate(
        real, f"carol-{password}", password
    ) == (
        grpc.StatusCode.UNKNOWN,
        "auth: authentication failed, password was given for no password user",
    )


def test_a_wrong_password_fails_authentication_as_on_etcd(pair):
    ours, real = pair

    assert _authenticate(ours, "alice", "wrong") == _authenticate(real, "alice", "wrong") == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "etcdserver: authentication failed, invalid user ID or password",
    )


@pytest.fixture(scope="module")
def jwt_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, ...]]:
    """(ours, real), one member each, with JWT tokens signed by the same RS256 key pair."""
    keys = tmp_path_factory.mktemp("jwt-keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (keys / "jwt.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (keys / "jwt.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    flag = f"jwt,pub-key={keys / 'jwt.pub'},priv-key={keys / 'jwt.key'},sign-method=RS256,ttl=5m"
    clusters = []
    for name, command in (("ours-jwt", OUR_MEMBER), ("real-jwt", (ETCD,))):
        cluster = _secured(tmp_path_factory.mktemp(name), command, 1)  # type: ignore[arg-type]
        for member in cluster.members:
            member.extra_args = (*member.extra_args, "--auth-token", flag)
        clusters.append(cluster)
    try:
        for cluster in clusters:
            cluster.start_all()
            for args in SETUP:
                result = etcdctl(cluster.endpoints, *args)
                assert result.returncode == 0, (args, result.stderr)
        yield tuple(clusters)
    finally:
        for cluster in clusters:
            cluster.stop_all()


def test_jwt_tokens_work_and_a_tampered_one_is_refused_as_on_etcd(jwt_pair):
    tokens = [_token(cluster, "alice", "alicepw") for cluster in jwt_pair]
    assert all(token.count(".") == 2 for token in tokens)  # header.claims.signature

    assert [_range_with(c, t) for c, t in zip(jwt_pair, tokens, strict=True)] == [("OK",)] * 2
    tampered = [t[:-6] + ("BBBBBB" if t.endswith("AAAAAA") else "AAAAAA") for t in tokens]
    assert [_range_with(c, t) for c, t in zip(jwt_pair, tampered, strict=True)] == [
        (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")
    ] * 2
    both(jwt_pair, *ALICE, "put", "key", "with-jwt")
    both(jwt_pair, *ALICE, "put", "other", "refused")


async def _grpc_answers(cluster: ProcessCluster, user: str, password: str) -> list:
    answers: list = []
    try:
        async with GrpcClient([cluster.members[0].endpoint], user=user, password=password) as c:
            for key in (b"key", b"other"):
                try:
                    request = rpc_pb2.RangeRequest(key=key)
                    await c.call(lambda stubs, request=request: stubs.kv.Range(request))
                    answers.append("OK")
                except errors.EtcdError as exc:
                    answers.append(exc.message)
    except errors.EtcdError as exc:
        answers.append(exc.message)
    return answers


def test_the_grpc_client_authenticates_and_sends_its_token(pair):
    for user, password, expected in [
        ("alice", "alicepw", ["OK", "etcdserver: permission denied"]),
        ("alice", "wrong", ["etcdserver: authentication failed, invalid user ID or password"]),
    ]:
        # grpc.aio runs on asyncio only
        answers = [asyncio.run(_grpc_answers(cluster, user, password)) for cluster in pair]
        assert answers == [expected, expected]


@pytest.mark.parametrize("saved_by", ["real", "ours"])
def test_a_snapshot_carries_users_roles_and_auth_across_to_the_other_kind(
    pair, saved_by, tmp_path
):
    """Saved by one kind with auth on, restored into the other: the same users, roles and
    permissions, auth still on (etcdctl snapshot restore for real etcd, --restore-from ours)."""
    ours, real = pair
    saved = real if saved_by == "real" else ours
    snapshot = tmp_path / "auth.db"
    endpoint = saved.members[0].endpoint
    result = etcdctl(endpoint, *ROOT, "snapshot", "save", str(snapshot))
    assert result.returncode == 0, result.stderr
    if saved_by == "real":
        restored = ProcessCluster.new(tmp_path / "restored", 1, token="restored")
        restored.members[0].extra_args = (f"--restore-from={snapshot}", "--bcrypt-cost", "4")
    else:
        restored = ProcessCluster.new(tmp_path / "restored", 1, (ETCD,), token="restored")  # type: ignore[arg-type]
        [member] = restored.members
        result = etcdctl(
            "", "snapshot", "restore", str(snapshot), f"--name={member.name}",
            f"--data-dir={member.data_dir}", f"--initial-cluster={member.initial_cluster}",
            f"--initial-advertise-peer-urls={member.peer_url}", "--initial-cluster-token=restored",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    try:
        restored.start_all()
        for args in (
            ("user", "list"),
            ("role", "get", "reader"),
            ("user", "get", "alice"),
        ):
            assert _answer(restored, *ROOT, *args) == _answer(saved, *ROOT, *args)
        assert _answer(restored, "get", "key")[2] == ["Error: etcdserver: user name is empty"]
        assert _answer(restored, *ALICE, "put", "other", "x")[2] == [
            "Error: etcdserver: permission denied"
        ]
    finally:
        restored.stop_all()


def test_a_lease_holding_a_key_the_user_may_not_write_is_not_revoked_by_it(pair):
    answers = []
    for cluster in pair:
        endpoint = cluster.members[0].endpoint
        granted = etcdctl(endpoint, *ALICE, "lease", "grant", "100")
        assert granted.returncode == 0, granted.stderr
        lease = granted.stdout.split()[1]
        attached = etcdctl(endpoint, *ROOT, "put", "other", "x", "--lease", lease)
        assert attached.returncode == 0, attached.stderr
        answers.append(_answer(cluster, *ALICE, "lease", "revoke", lease))

    assert answers[0] == answers[1] == (
        1, "", ["Error: failed to revoke lease (etcdserver: permission denied)"]
    )
    assert both(pair, *ROOT, "get", "other", "--print-value-only") == (0, "x\n", [])
