"""TLS as etcd 3.4: the real etcdctl against the real etcd and against ours, both started with
the same certificates and flags (the playground's CA, playground/certificates.py), comparing
what etcdctl prints and what each member logs when it refuses a connection; peer TLS between
three of our members; our native and gRPC clients over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import grpc
import httpx
import pytest
import trio
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from textual.widgets import Input

from console.cli import build_parser, main
from console.commands import Console
from console.repl import Repl
from console.tui.app import dashboard_for
from node.client import (
    Client,
    ClientTls,
    ConnectionLost,
    DeadlineExceeded,
    NoEndpointAvailable,
    connect_client,
)
from node.client.grpc_client import GrpcClient
from node.messages.gen.etcdserverpb import rpc_pb2
from playground.certificate_authority import make_certificates
from playground.certificates import CertificateFiles
from playground.playground import Playground
from tests.compat.cluster import (
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    ProcessCluster,
    error_line,
    etcdctl,
    wait_until,
)
from tests.console.test_repl import CapturedOutput
from tests.console.test_tui import SIZE, leader_shown
from tests.console.test_tui import wait_until as dashboard_shows

FAIL_FAST = ("--dial-timeout=1s", "--command-timeout=2s")
"""etcdctl gives up quickly on a connection that will never be made."""

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None, reason="etcd and etcdctl 3.4 are not installed"
)


def _credentials(certs: CertificateFiles, *, client_cert: bool) -> grpc.ChannelCredentials:
    if not client_cert:
        return grpc.ssl_channel_credentials(certs.ca.read_bytes())
    return grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    )


@contextlib.contextmanager
def _clusters(
    directory: Path, size: int, commands: tuple[tuple[str, ...], ...], **options: object
) -> Iterator[list[ProcessCluster]]:
    """One started cluster per command, all with the same options; every process stopped."""
    clusters = []
    try:
        for index, command in enumerate(commands):
            cluster = ProcessCluster.new(
                directory / f"c{index}", size, command, token=f"tls-{directory.name}-{index}",
                **options,  # type: ignore[arg-type]
            )  # fmt: skip
            clusters.append(cluster)
            cluster.start_all()
        yield clusters
    finally:
        for cluster in clusters:
            cluster.stop_all()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """Certificates of another CA, which the members do not trust."""
    return make_certificates(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture(scope="module")
def mtls(
    tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles
) -> Iterator[tuple[ProcessCluster, ProcessCluster]]:
    """(real etcd, ours): https client URLs with --client-cert-auth and the trusted CA."""
    assert ETCD is not None
    flags = (
        f"--cert-file={certs.member_cert}",
        f"--key-file={certs.member_key}",
        f"--trusted-ca-file={certs.ca}",
        "--client-cert-auth",
    )
    with _clusters(
        tmp_path_factory.mktemp("mtls"), 1, ((ETCD,), OUR_MEMBER),
        client_scheme="https", extra_args=flags,
        credentials=_credentials(certs, client_cert=True),
    ) as (real, ours):  # fmt: skip
        yield real, ours


@pytest.fixture(scope="module")
def server_tls(
    tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles
) -> Iterator[tuple[ProcessCluster, ProcessCluster]]:
    """(real etcd, ours): https client URLs with a certificate, no client certificates asked."""
    assert ETCD is not None
    flags = (f"--cert-file={certs.member_cert}", f"--key-file={certs.member_key}")
    with _clusters(
        tmp_path_factory.mktemp("server-tls"), 1, ((ETCD,), OUR_MEMBER),
        client_scheme="https", extra_args=flags,
        credentials=_credentials(certs, client_cert=False),
    ) as (real, ours):  # fmt: skip
        yield real, ours


@pytest.fixture(scope="module")
def plaintext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, ...]]:
    """(real etcd, ours) without TLS."""
    assert ETCD is not None
    with _clusters(tmp_path_factory.mktemp("plain"), 1, ((ETCD,), OUR_MEMBER)) as (real, ours):
        yield real, ours


def _https(cluster: ProcessCluster) -> str:
    return ",".join(m.client_url for m in cluster.members)


def _log(cluster: ProcessCluster) -> str:
    return "".join(m.log.read_text(errors="replace") for m in cluster.members)


def _same_for_both(pair: tuple[ProcessCluster, ...], *args: str) -> list[tuple[int, str, str]]:
    """etcdctl's exit status, stdout and error line against each cluster, compared."""
    outputs = []
    for cluster in pair:
        result = etcdctl(_https(cluster), *args)
        outputs.append((result.returncode, result.stdout, error_line(result)))
    assert outputs[0] == outputs[1], outputs
    return outputs


def test_mutual_tls_put_get_delete(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    flags = certs.etcdctl_flags()
    assert _same_for_both(mtls, *flags, "put", "tls/k", "v1")[0][:2] == (0, "OK\n")
    assert _same_for_both(mtls, *flags, "get", "tls/k")[0][1] == "tls/k\nv1\n"
    _same_for_both(mtls, *flags, "get", "tls/", "--prefix", "--keys-only")
    assert _same_for_both(mtls, *flags, "del", "tls/k")[0][1] == "1\n"


def test_http_endpoints_over_mutual_tls(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    """/health and the JSON gateway on the same TLS port as gRPC, as etcd serves them."""
    answers = []
    for cluster in mtls:
        context = ssl.create_default_context(cafile=str(certs.ca))
        context.load_cert_chain(certs.client_cert, certs.client_key)
        with httpx.Client(verify=context) as http:
            health = http.get(f"{cluster.members[0].client_url}/health")
            answers.append((health.status_code, health.json()))
    assert answers[0] == answers[1] == (200, {"health": "true"})


def test_no_client_certificate_is_refused(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    outputs = _same_for_both(mtls, f"--cacert={certs.ca}", *FAIL_FAST, "get", "tls/k")
    assert outputs[0][0] != 0
    assert outputs[0][2] == "Error: context deadline exceeded"
    for cluster in mtls:
        wait_until(lambda c=cluster: "tls: client didn't provide a certificate" in _log(c))
    _same_for_both(mtls, *certs.etcdctl_flags(), "put", "tls/after", "up")


def test_certificate_of_another_ca_is_refused(
    mtls: tuple[ProcessCluster, ProcessCluster],
    certs: CertificateFiles,
    other_certs: CertificateFiles,
) -> None:
    wrong = (
        f"--cacert={certs.ca}",
        f"--cert={other_certs.client_cert}",
        f"--key={other_certs.client_key}",
    )
    outputs = _same_for_both(mtls, *wrong, *FAIL_FAST, "put", "tls/wrong", "x")
    assert outputs[0][2] == "Error: context deadline exceeded"
    refused = "tls: failed to verify client certificate: x509: certificate signed by unknown"
    for cluster in mtls:
        wait_until(lambda c=cluster: refused in _log(c))
    assert _same_for_both(mtls, *certs.etcdctl_flags(), "get", "tls/wrong")[0][1] == ""


def test_plaintext_to_a_tls_port_is_refused(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    results = []
    for cluster in mtls:
        plain = cluster.members[0].client_url.replace("https://", "http://")
        result = etcdctl(plain, *FAIL_FAST, "get", "tls/k")
        results.append((result.returncode, result.stdout, error_line(result)))
        with socket.create_connection(("127.0.0.1", int(plain.rsplit(":", 1)[1]))) as raw:
            raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            raw.settimeout(10)
            assert raw.recv(1024) == b"", "the connection is closed without an answer"
    assert results[0] == results[1]
    assert results[0][2] == "Error: context deadline exceeded"
    for cluster in mtls:
        wait_until(lambda c=cluster: "first record does not look like a TLS handshake" in _log(c))
    _same_for_both(mtls, *certs.etcdctl_flags(), "get", "tls/k")


def test_server_tls_without_client_certificates(
    server_tls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    ca = f"--cacert={certs.ca}"
    assert _same_for_both(server_tls, ca, "put", "plain-client", "v")[0][1] == "OK\n"
    assert _same_for_both(server_tls, ca, "get", "plain-client")[0][1] == "plain-client\nv\n"
    outputs = _same_for_both(server_tls, *FAIL_FAST, "get", "plain-client")
    assert outputs[0][2] == "Error: context deadline exceeded", "the system CAs do not trust it"


def test_tls_to_a_plaintext_port_fails(
    plaintext: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    outputs = []
    for cluster in plaintext:
        endpoint = cluster.members[0].client_url.replace("http://", "https://")
        result = etcdctl(endpoint, *certs.etcdctl_flags(), *FAIL_FAST, "get", "k")
        outputs.append((result.returncode, result.stdout, error_line(result)))
    assert outputs[0] == outputs[1]
    assert outputs[0][2] == "Error: context deadline exceeded"
    assert _same_for_both(plaintext, "put", "still", "up")[0][1] == "OK\n"


def test_auto_tls_serves_self_signed_certificates(tmp_path: Path) -> None:
    """--auto-tls: etcdctl reaches either member with --insecure-skip-tls-verify (and
    --insecure-transport=false, without which etcdctl 3.4 does not dial TLS for it), and only
    so; the certificate is made in <data-dir>/fixtures/client."""
    skip_verify = ("--insecure-transport=false", "--insecure-skip-tls-verify")
    assert ETCD is not None
    pair = [
        ProcessCluster.new(
            tmp_path / name, 1, command, token=f"auto-tls-{name}", client_scheme="https",
            extra_args=("--auto-tls",),
        )
        for name, command in (("real", (ETCD,)), ("ours", OUR_MEMBER))
    ]  # fmt: skip
    try:
        for cluster in pair:
            cluster.members[0].start()
        for cluster in pair:
            url = cluster.members[0].client_url
            wait_until(
                lambda u=url: etcdctl(u, *skip_verify, "put", "a", "1").stdout == "OK\n",
                timeout=30,
            )
        outputs = _same_for_both(tuple(pair), *skip_verify, "get", "a")
        assert outputs[0][1] == "a\n1\n"
        refused = _same_for_both(tuple(pair), *FAIL_FAST, "get", "a")
        assert refused[0][2] == "Error: context deadline exceeded"
        for cluster in pair:
            assert (cluster.members[0].data_dir / "fixtures" / "client" / "cert.pem").exists()
    finally:
        for cluster in pair:
            cluster.stop_all()


def test_our_clients_over_tls(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    """The native client (ours) and the gRPC client (real etcd) dial with etcdctl's files."""
    real, ours = mtls
    tls = ClientTls(str(certs.ca), str(certs.client_cert), str(certs.client_key))
    native = ours.members[0].client_url.rsplit(":", 1)
    native_endpoint = f"https://127.0.0.1:{int(native[1]) + 10_000}"

    async def through_native() -> bytes:
        async with connect_client([native_endpoint], tls=tls) as client:
            await client.put("native-tls", "n")
            value: bytes = (await client.get("native-tls")).kvs[0].value
            return value

    async def through_grpc() -> bytes:
        async with GrpcClient([real.members[0].client_url], tls) as grpc_client:
            await grpc_client.call(
                lambda stubs: stubs.kv.Put(rpc_pb2.PutRequest(key=b"grpc-tls", value=b"g"))
            )
            reply = await grpc_client.call(
                lambda stubs: stubs.kv.Range(rpc_pb2.RangeRequest(key=b"grpc-tls"))
            )
        value: bytes = reply.kvs[0].value
        return value

    async def plaintext_native() -> list[Exception]:
        failures: list[Exception] = []
        try:
            async with connect_client([native_endpoint], timeout=2) as client:
                await client.get("native-tls")
        except* (ConnectionLost, DeadlineExceeded, NoEndpointAvailable) as group:
            failures.extend(group.exceptions)
        return failures

    assert trio.run(through_native) == b"n"
    assert trio.run(plaintext_native), "a plaintext client cannot use the TLS native door"
    assert trio.run(through_native) == b"n", "the native door stays up"
    assert asyncio.run(through_grpc()) == b"g"


def test_peer_tls_between_our_members(tmp_path: Path, certs: CertificateFiles) -> None:
    """Three of our members with https peer URLs and peer client-cert-auth agree on a leader
    and replicate; a member's peer port refuses a plaintext dialer and stays up."""
    flags = tuple(certs.member_flags())
    with _clusters(
        tmp_path, 3, (OUR_MEMBER,), client_scheme="https", peer_scheme="https",
        extra_args=flags, credentials=_credentials(certs, client_cert=True),
    ) as (cluster,):  # fmt: skip
        first, _, last = cluster.members
        client = certs.etcdctl_flags()
        assert etcdctl(first.client_url, *client, "put", "peer-tls", "v").stdout == "OK\n"
        result = etcdctl(last.client_url, *client, "get", "peer-tls")
        assert result.stdout == "peer-tls\nv\n", result.stderr
        listed = etcdctl(first.client_url, *client, "member", "list").stdout
        assert listed.count("https://127.0.0.1:") == 6, listed
        peer_port = int(first.peer_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", peer_port)) as raw:
            raw.sendall(b"\x00" * 64)
            raw.settimeout(10)
            assert raw.recv(1024) == b""
        wait_until(lambda: "rejected connection" in first.log.read_text(errors="replace"))
        assert first.status().leader != 0


# The members `play` starts outlive the command by design; Python warns when it lets go of them.
@pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning")
def test_play_tls_gives_a_playground_etcdctl_and_the_repl_reach_with_its_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "tls-playground"
    try:
        assert main(["play", "--tls", "--members", "3", "--dir", str(directory)]) == 0
        shown = capsys.readouterr().out
        hint = next(line for line in shown.splitlines() if line.startswith("etcdctl:"))
        endpoints, *flags = hint.split()[2:-2]
        assert endpoints.startswith("--endpoints=https://") and "--cacert=" in flags[0]

        assert etcdctl(endpoints.split("=", 1)[1], *flags, "put", "played", "tls").stdout == "OK\n"
        members = etcdctl(endpoints.split("=", 1)[1], *flags, "member", "list").stdout
        assert members.count("https://127.0.0.1:") == 6, members
        plain = etcdctl(endpoints.split("=", 1)[1], *FAIL_FAST, "get", "played")
        assert error_line(plain) == "Error: context deadline exceeded", "mTLS is required"

        playground = Playground.attach(directory)
        assert playground.record.tls, "the record remembers --tls"
        assert anyio.run(_repl_lines, playground, ["get played", "member list"]) is not None

        added = anyio.run(playground.add_node)
        joined = etcdctl(playground.member(added).client_url, *flags, "get", "played")
        assert joined.stdout == "played\ntls\n", "a member joins over peer TLS and catches up"
    finally:
        if (directory / "playground.json").exists():
            trio.run(Playground.attach(directory).stop)


async def _repl_lines(playground: Playground, lines: list[str]) -> str:
    """What the console's REPL prints for `lines`, on the playground's own TLS client."""
    with create_pipe_input() as pipe:
        output = CapturedOutput()
        with create_app_session(input=pipe, output=output):
            tls = playground.client_tls()
            async with (
                Client(playground.native_endpoints(), tls=tls) as client,
                Console.open(client, playground) as console,
            ):
                repl = Repl(console)
                for line in lines:
                    await repl.run_line(line)
    text = output.text
    assert "played\ntls" in text, text
    assert text.count("https://127.0.0.1:") >= 6, text
    return text


def test_the_dashboard_follows_a_real_etcd_over_mutual_tls(
    mtls: tuple[ProcessCluster, ProcessCluster], certs: CertificateFiles
) -> None:
    """`etcd-console tui --etcd-endpoints https://... --cacert --cert --key`: the members
    table and the key browser of a real etcd 3.4 that asks for client certificates."""
    real, _ = mtls
    url = real.members[0].client_url
    assert etcdctl(url, *certs.etcdctl_flags(), "put", "dash/tls", "v").stdout == "OK\n"
    args = build_parser().parse_args(["tui", "--etcd-endpoints", url, *certs.etcdctl_flags()])
    tls = ClientTls.from_flags([url], args.cacert, args.cert, args.key)
    endpoint = real.members[0].endpoint

    async def scenario() -> str:
        app = dashboard_for(etcd_endpoints=[url], tls=tls)
        async with app.run_test(size=SIZE) as pilot:
            await dashboard_shows(pilot, lambda: leader_shown(app) == endpoint, "the leader")
            await pilot.press("F")
            app.keys_panel.query_one("#key-find", Input).value = "dash/"
            await pilot.press("enter")
            tree = app.keys_panel.key_tree
            await dashboard_shows(pilot, lambda: len(tree.root.children) == 1, "dash/tls")
            return str(tree.root.children[0].label)

    assert asyncio.run(scenario()) == "tls"
