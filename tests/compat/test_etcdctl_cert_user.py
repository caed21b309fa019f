"""The common name of a verified client certificate as the user, as etcd 3.4 does it: with
auth on and --client-cert-auth, a request without a token runs as the user its certificate's
CN names (etcd's AuthInfoFromTLS); a token wins over the certificate. The real etcdctl runs the
same commands against a real etcd 3.4 and against ours, started with the same certificates, and
must print the same.

Both clusters get a root user and role, `alice` with a role that may read /a/ only, and auth
on, all set up through the root certificate without --user.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.client import ClientTls, connect_client
from node.messages import errors
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.compat.cluster import (
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    ProcessCluster,
    RunningEtcdctl,
    error_line,
    etcdctl,
)

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None, reason="etcd and etcdctl 3.4 are not installed"
)

CLIENT_NAMES = ("root", "alice", "bob", "")
"""The client certificates' common names: root, a user who may read /a/, no user at all, and a
certificate whose subject has no CN."""
SETUP = [
    ("user", "add", "root:rootpw"),
    ("role", "add", "root"),
    ("user", "grant-role", "root", "root"),
    ("user", "add", "alice:alicepw"),
    ("role", "add", "reader"),
    ("role", "grant-permission", "--prefix=true", "reader", "read", "/a/"),
    ("user", "grant-role", "alice", "reader"),
    ("put", "/a/1", "one"),
    ("put", "/b/1", "two"),
    ("auth", "enable"),
]
DENIED = "Error: etcdserver: permission denied"


@dataclass(frozen=True, slots=True)
class Certificates:
    """A CA's PEM file, the members' certificate and key, and one client pair per CN."""

    ca: Path
    member: tuple[Path, Path]
    clients: dict[str, tuple[Path, Path]]

    def as_client(self, name: str) -> tuple[str, ...]:
        """etcdctl's TLS flags for the client certificate with this CN."""
        cert, key = self.clients[name]
        return (f"--cacert={self.ca}", f"--cert={cert}", f"--key={key}")


def _write_pair(
    directory: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _make_certificates(directory: Path) -> Certificates:
    """A CA signing the members' certificate (loopback) and a client one per CLIENT_NAMES."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert-user test CA")])

    def builder(subject: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca = (
        builder(ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def issue(stem: str, common_name: str, *usages: x509.ObjectIdentifier) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
        cert = builder(x509.Name(attributes), key).add_extension(
            x509.ExtendedKeyUsage(list(usages)), critical=False
        )
        if ExtendedKeyUsageOID.SERVER_AUTH in usages:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            cert = cert.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return _write_pair(directory, stem, cert.sign(ca_key, hashes.SHA256()), key)

    member = issue(
        "member", "etcd-member", ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    )
    clients = {
        name: issue(f"client-{name or 'no-cn'}", name, ExtendedKeyUsageOID.CLIENT_AUTH)
        for name in CLIENT_NAMES
    }
    return Certificates(ca_path, member, clients)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return _make_certificates(tmp_path_factory.mktemp("cert-user-ca"))


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, certs: Certificates
) -> Iterator[tuple[ProcessCluster, ProcessCluster]]:
    """(real etcd, ours), one member each, with --client-cert-auth and SETUP done as root."""
    assert ETCD is not None
    member_cert, member_key = certs.member
    flags = (
        f"--cert-file={member_cert}",
        f"--key-file={member_key}",
        f"--trusted-ca-file={certs.ca}",
        "--client-cert-auth",
        "--bcrypt-cost=4",
    )
    root_cert, root_key = certs.clients["root"]
    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), root_key.read_bytes(), root_cert.read_bytes()
    )
    directory = tmp_path_factory.mktemp("cert-user")
    clusters = [
        ProcessCluster.new(
            directory / name, 1, command, token=f"cert-user-{name}", client_scheme="https",
            extra_args=flags, credentials=credentials,
        )
        for name, command in (("real", (ETCD,)), ("ours", OUR_MEMBER))
    ]  # fmt: skip
    try:
        for cluster in clusters:
            cluster.start_all()
            for args in SETUP:
                result = etcdctl(_url(cluster), *certs.as_client("root"), *args)
                assert result.returncode == 0, (args, result.stderr)
        yield clusters[0], clusters[1]
    finally:
        for cluster in clusters:
            cluster.stop_all()


def _url(cluster: ProcessCluster) -> str:
    return cluster.members[0].client_url


def both(pair: tuple[ProcessCluster, ...], *args: str) -> tuple[int, str, str]:
    """etcdctl's exit status, stdout and error line on our member, checked equal to real
    etcd's."""
    answers = []
    for cluster in pair:
        result = etcdctl(_url(cluster), *args)
        answers.append((result.returncode, result.stdout, error_line(result)))
    assert answers[0] == answers[1], answers
    return answers[1]


def test_a_certificate_of_alice_reads_her_keys_without_a_user(pair, certs):
    alice = certs.as_client("alice")
    assert both(pair, *alice, "get", "/a/1") == (0, "/a/1\none\n", "")
    assert both(pair, *alice, "get", "/a/", "--prefix", "--keys-only") == (0, "/a/1\n\n", "")


@pytest.mark.parametrize(
    "args",
    [
        ("put", "/a/1", "changed"),
        ("get", "/b/1"),
        ("get", "", "--from-key"),
        ("del", "/a/1"),
        ("txn",),
    ],
)
def test_a_certificate_of_alice_is_refused_what_her_role_does_not_grant(pair, certs, args):
    stdin = 'value("/a/1") = "one"\n\nput /b/1 x\n\n\n' if args == ("txn",) else None
    answers = []
    for cluster in pair:
        result = etcdctl(_url(cluster), *certs.as_client("alice"), *args, stdin=stdin)
        answers.append((result.returncode, result.stdout, error_line(result)))
    assert answers[0] == answers[1], answers
    assert answers[1][0] != 0 and answers[1][2] == DENIED
    assert both(pair, *certs.as_client("root"), "get", "/a/1", "--print-value-only")[1] == "one\n"


@pytest.mark.parametrize(
    "args", [("user", "list"), ("auth", "disable"), ("role", "list"), ("user", "get", "root")]
)
def test_a_certificate_of_alice_is_not_root(pair, certs, args):
    returncode, _, error = both(pair, *certs.as_client("alice"), *args)
    assert returncode != 0 and error


@pytest.mark.parametrize("name", ["bob", ""])
@pytest.mark.parametrize(
    "args", [("get", "/a/1"), ("put", "/a/2", "x"), ("user", "list"), ("role", "get", "reader")]
)
def test_a_certificate_naming_no_user_is_refused_as_on_etcd(pair, certs, name, args):
    returncode, _, error = both(pair, *certs.as_client(name), *args)
    assert returncode != 0 and error


def test_a_token_wins_over_the_certificate(pair, certs):
    alice = certs.as_client("alice")
    assert both(pair, *alice, "--user", "root:rootpw", "put", "/b/1", "by-root") == (0, "OK\n", "")
    assert both(pair, *certs.as_client("bob"), "--user", "alice:alicepw", "get", "/a/1")[1] == (
        "/a/1\none\n"
    )
    refused = both(pair, *alice, "--user", "alice:wrong", "get", "/a/1")
    assert refused[2] == "Error: etcdserver: authentication failed, invalid user ID or password"
    assert both(pair, *certs.as_client("root"), "--user", "alice:alicepw", "put", "/b/1", "x")[
        2
    ] == DENIED


def test_a_watch_runs_as_the_certificate_user(pair, certs):
    """A watch stream takes the CN too: alice's watch of /b/ is canceled, of /a/ gets events."""
    for cluster in pair:
        denied = etcdctl(_url(cluster), *certs.as_client("alice"), "watch", "/b/1", timeout=10)
        assert denied.returncode != 0 and "permission denied" in denied.stderr + denied.stdout
        # from revision 1: the put is seen however late the watch is made
        alice = certs.as_client("alice")
        with RunningEtcdctl(_url(cluster), *alice, "watch", "/a/w", "--rev=1") as watch:
            put = etcdctl(_url(cluster), *certs.as_client("root"), "put", "/a/w", "seen")
            assert put.stdout == "OK\n", put.stderr
            assert watch.read_lines(3) == ["PUT", "/a/w", "seen"]


def test_root_certificate_disables_and_enables_auth(pair, certs):
    root = certs.as_client("root")
    assert both(pair, *root, "user", "list") == (0, "alice\nroot\n", "")
    assert both(pair, *root, "auth", "disable") == (0, "Authentication Disabled\n", "")
    assert both(pair, *certs.as_client("bob"), "put", "/b/open", "1") == (0, "OK\n", "")
    assert both(pair, *root, "auth", "enable") == (0, "Authentication Enabled\n", "")
    assert both(pair, *certs.as_client("bob"), "get", "/b/open")[2] == DENIED


def test_the_json_gateway_does_not_take_the_certificate_for_the_user(pair, certs):
    """etcd never takes the CN of a request through its gRPC gateway for the user."""
    answers = []
    for cluster in pair:
        context = ssl.create_default_context(cafile=str(certs.ca))
        context.load_cert_chain(*certs.clients["root"])
        with httpx.Client(verify=context) as http:
            reply = http.post(f"{_url(cluster)}/v3/kv/range", json={"key": "L2EvMQ=="})
        answers.append((reply.status_code, reply.text))
    assert answers[0] == answers[1], answers


def test_a_call_marked_as_the_gateways_does_not_take_the_certificate_for_the_user(pair, certs):
    """A gRPC call with the gateway's `grpcgateway-accept` metadata runs as nobody."""
    cert, key = certs.clients["root"]
    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    answers = []
    for cluster in pair:
        with grpc.secure_channel(_url(cluster).removeprefix("https://"), credentials) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            plain = kv.Range(rpc_pb2.RangeRequest(key=b"/b/1"), timeout=10)
            with pytest.raises(grpc.RpcError) as refused:
                kv.Range(
                    rpc_pb2.RangeRequest(key=b"/b/1"),
                    metadata=[("grpcgateway-accept", "application/json")],
                    timeout=10,
                )
        answers.append((len(plain.kvs), refused.value.code(), refused.value.details()))
    assert answers[0] == answers[1], answers
    assert answers[1][2] == "etcdserver: user name is empty"


def test_our_native_door_takes_the_certificate_for_the_user(pair, certs):
    """The native door (ours alone) honours the CN as the gRPC door does."""
    _, ours = pair
    port = int(_url(ours).rsplit(":", 1)[1]) + 10_000
    cert, key = certs.clients["alice"]
    tls = ClientTls(str(certs.ca), str(cert), str(key))

    async def as_alice() -> tuple[bytes, str]:
        async with connect_client([f"https://127.0.0.1:{port}"], tls=tls) as client:
            value: bytes = (await client.get("/a/1")).kvs[0].value
            with pytest.raises(errors.PermissionDenied) as denied:
                await client.put("/a/1", "by-alice")
            return value, denied.value.message

    assert trio.run(as_alice) == (b"one", "etcdserver: permission denied")


def test_a_grpc_door_that_owns_the_client_port_takes_the_certificate_too(
    pair, certs, tmp_path: Path
):
    """--client-port-http=false (ours): grpcio does the TLS itself, and its auth context gives
    the CN; the answers are real etcd's."""
    real, _ = pair
    member_cert, member_key = certs.member
    flags = (
        f"--cert-file={member_cert}", f"--key-file={member_key}",
        f"--trusted-ca-file={certs.ca}", "--client-cert-auth", "--bcrypt-cost=4",
        "--client-port-http=false",
    )  # fmt: skip
    root_cert, root_key = certs.clients["root"]
    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), root_key.read_bytes(), root_cert.read_bytes()
    )
    ours = ProcessCluster.new(
        tmp_path / "grpc-owned", 1, OUR_MEMBER, token="cert-user-grpc", client_scheme="https",
        extra_args=flags, credentials=credentials,
    )  # fmt: skip
    try:
        ours.start_all()
        for args in SETUP:
            assert etcdctl(_url(ours), *certs.as_client("root"), *args).returncode == 0, args
        for name in ("alice", "bob", ""):
            for args in (("get", "/a/1"), ("put", "/a/1", "x")):
                assert both((real, ours), *certs.as_client(name), *args)[0] == (
                    0 if (name, args[0]) == ("alice", "get") else 1
                )
    finally:
        ours.stop_all()
