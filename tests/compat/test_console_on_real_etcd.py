"""The console on a real etcd 3.4 that asks for client certificates and has auth on: the REPL
(`etcd-console repl --etcd-endpoints URL --cacert --cert --key --user`) and the dashboard,
both over etcd's gRPC API. What they print is checked against what etcdctl prints and what the
cluster then holds. A member of ours, started alike, gets the same tests through its gRPC door.

The client certificate's CN names no user, so every call the console makes is allowed by the
token it got for --user alone, as etcd decides it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import grpc
import pytest
from textual.widgets import Input

from console.cli import main
from console.commands import Console
from console.tui.app import dashboard_for
from node.client import Client, ClientTls
from playground.certificate_authority import make_certificates
from playground.certificates import CertificateFiles
from tests.compat.cluster import ETCD, ETCDCTL, OUR_MEMBER, ProcessCluster, error_line, etcdctl
from tests.console.test_repl import repl_session, run_scenario
from tests.console.test_tui import SIZE, leader_shown, lines_of, type_command
from tests.console.test_tui import wait_until as dashboard_shows

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None, reason="etcd and etcdctl 3.4 are not installed"
)

ROOT_PASSWORD = "rootpw"
ALICE_PASSWORD = "alicepw"
SETUP = [
    ("user", "add", f"root:{ROOT_PASSWORD}"),
    ("role", "add", "root"),
    ("user", "grant-role", "root", "root"),
    ("user", "add", f"alice:{ALICE_PASSWORD}"),
    ("role", "add", "writer"),
    ("role", "grant-permission", "--prefix=true", "writer", "readwrite", "alice/"),
    ("user", "grant-role", "alice", "writer"),
    ("auth", "enable"),
]
AUTH_FAILED = "etcdserver: authentication failed, invalid user ID or password"


@pytest.fixture(scope="module", params=["etcd", "ours"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, CertificateFiles]]:
    """A real etcd 3.4 (and, the same way, a member of ours) with https client URLs,
    --client-cert-auth, and auth on (users root and alice); yields its client URL and the
    certificates."""
    assert ETCD is not None
    command = (ETCD,) if request.param == "etcd" else OUR_MEMBER
    certs = make_certificates(tmp_path_factory.mktemp("certs"), client_name="console")
    flags = (
        f"--cert-file={certs.member_cert}",
        f"--key-file={certs.member_key}",
        f"--trusted-ca-file={certs.ca}",
        "--client-cert-auth",
        "--bcrypt-cost=4",
    )
    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    )
    cluster = ProcessCluster.new(
        tmp_path_factory.mktemp("secured"), 1, command, token="console-secured",
        client_scheme="https", extra_args=flags, credentials=credentials,
    )  # fmt: skip
    try:
        cluster.start_all()
        url = cluster.members[0].client_url
        for args in SETUP:
            result = etcdctl(url, *certs.etcdctl_flags(), *args)
            assert result.returncode == 0, (args, result.stderr)
        yield url, certs
    finally:
        cluster.stop_all()


def _tls(certs: CertificateFiles) -> ClientTls:
    return ClientTls(str(certs.ca), str(certs.client_cert), str(certs.client_key))


def _as_root(url: str, certs: CertificateFiles, *args: str) -> str:
    result = etcdctl(url, *certs.etcdctl_flags(), "--user", f"root:{ROOT_PASSWORD}", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_repl_runs_keys_txn_watch_leases_members_locks_and_elections(
    secured: tuple[str, CertificateFiles],
) -> None:
    url, certs = secured
    options = {"door": "grpc", "tls": _tls(certs), "user": "root", "password": ROOT_PASSWORD}

    async def scenario() -> str:
        async with repl_session([url], **options) as session:
            session.type("put greeting hello\r")
            at = await session.printed("OK\n")
            session.type("get greeting\r")
            at = await session.printed("greeting\nhello\n", at)
            session.type('txn value("greeting") = "hello" : put greeting bye : put greeting no\r')
            at = await session.printed("SUCCESS\n\nOK\n", at)

            session.type("watch watched/ --prefix\r")
            at = await session.printed("[1] watch watched/ --prefix (in the background", at)
            await session.side.put("watched/one", "1")
            at = await session.printed("[1] PUT\n[1] watched/one\n[1] 1\n", at)
            session.type("unwatch 1\r")
            at = await session.printed("[1] stopped", at)

            session.type("lease grant 3\r")
            at = await session.printed(" granted with TTL(3s)\n", at)
            lease = re.findall(r"lease ([0-9a-f]{16}) granted", session.output.text)[-1]
            session.type(f"put leased v --lease={lease}\r")
            at = await session.printed("OK\n", at)
            session.type(f"lease keep-alive {lease}\r")
            at = await session.printed(f"lease {lease} keepalived with TTL(3)", at)
            session.type(f"lease revoke {lease}\r")
            at = await session.printed(f"lease {lease} revoked\n", at)
            at = await session.printed(f"lease {lease} expired or revoked.", at)

            session.type("member list\r")
            at = await session.printed(url, at)
            session.type("status\r")
            at = await session.printed("3.4.", at)

            session.type("lock the-lock\r")
            at = await session.printed("the-lock/", at)
            held = await session.side.get("the-lock/", prefix=True, count_only=True)
            session.type("unlock the-lock\r")
            at = await session.printed("unlocked the-lock\n", at)
            released = await session.side.get("the-lock/", prefix=True, count_only=True)

            session.type("elect the-election first\r")
            at = await session.printed("the-election/", at)
            at = await session.printed("first\n", at)
            leader = await session.side.leader("the-election")
            session.type("resign the-election\r")
            at = await session.printed("resigned from the-election\n", at)

            session.type("user list\r")
            at = await session.printed("alice\nroot\n", at)
            session.type("kill m1\r")
            at = await session.printed("Error: kill needs a playground", at)
            session.type("members\r")
            at = await session.printed("which only members of ours tell", at)
        assert (held.count, released.count) == (1, 0)
        assert leader.kv.value == b"first"
        return session.output.text

    printed = asyncio.run(scenario())
    assert "Error: kill needs a playground: start the console with etcd-console repl --dir DIR " \
        "(this one is attached with --etcd-endpoints)" in printed  # fmt: skip
    assert _as_root(url, certs, "get", "greeting", "--print-value-only") == "bye\n"
    assert _as_root(url, certs, "get", "leased") == "", "revoking the lease deleted its key"
    assert _as_root(url, certs, "get", "the-election/", "--prefix") == ""


def test_a_user_gets_etcds_permission_denied_and_a_wrong_password_etcds_refusal(
    secured: tuple[str, CertificateFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    url, certs = secured
    options = {"door": "grpc", "tls": _tls(certs), "user": "alice", "password": ALICE_PASSWORD}
    as_alice = (*certs.etcdctl_flags(), "--user", f"alice:{ALICE_PASSWORD}")
    denied = error_line(etcdctl(url, *as_alice, "put", "elsewhere", "x"))
    assert denied == "Error: etcdserver: permission denied"

    async def scenario() -> None:
        async with repl_session([url], **options) as session:
            session.type("put alice/mine yes\r")
            at = await session.printed("OK\n")
            session.type("put elsewhere x\r")
            at = await session.printed(f"{denied}\n", at)
            session.type("user list\r")
            await session.printed(f"{denied}\n", at)

    run_scenario(scenario)
    assert _as_root(url, certs, "get", "alice/mine", "--print-value-only") == "yes\n"
    assert _as_root(url, certs, "get", "elsewhere") == "", "nothing written after a refusal"

    wrong = ("--user", "root:wrong")
    flags = ("--cacert", str(certs.ca), "--cert", str(certs.client_cert), "--key")
    etcdctl_says = error_line(etcdctl(url, *certs.etcdctl_flags(), *wrong, "get", "greeting"))
    capsys.readouterr()
    status = main(["repl", "--etcd-endpoints", url, *flags, str(certs.client_key), *wrong])
    assert status == 1
    assert capsys.readouterr().err == f"etcd-console: {AUTH_FAILED}\n"
    assert etcdctl_says == f"Error: {AUTH_FAILED}"


def test_the_dashboard_shows_and_commands_a_real_etcd_with_tls_and_auth(
    secured: tuple[str, CertificateFiles],
) -> None:
    """`etcd-console tui --etcd-endpoints URL --cacert --cert --key --user root`: the members
    table, the key browser and the command bar of a secured real etcd."""
    url, certs = secured
    endpoint = url.split("://", 1)[1]
    _as_root(url, certs, "put", "dash/seen", "v")

    async def scenario() -> tuple[str, list[str]]:
        app = dashboard_for(
            etcd_endpoints=[url], tls=_tls(certs), user="root", password=ROOT_PASSWORD
        )
        async with app.run_test(size=SIZE) as pilot:
            await dashboard_shows(pilot, lambda: leader_shown(app) == endpoint, "the leader")
            await pilot.press("F")
            app.keys_panel.query_one("#key-find", Input).value = "dash/"
            await pilot.press("enter")
            tree = app.keys_panel.key_tree
            await dashboard_shows(pilot, lambda: len(tree.root.children) == 1, "dash/seen")
            output = app.output_panel.lines
            await type_command(pilot, "put dash/typed here")
            await dashboard_shows(pilot, lambda: "OK" in lines_of(output), "put's OK")
            await type_command(pilot, "get dash/typed")
            await dashboard_shows(pilot, lambda: lines_of(output)[-1] == "here", "get's output")
            await type_command(pilot, "partition m1")
            await dashboard_shows(
                pilot, lambda: "needs a playground" in lines_of(output)[-1], "the refusal"
            )
            return str(tree.root.children[0].label), lines_of(output)

    first_key, printed = asyncio.run(scenario())
    assert first_key == "seen"
    assert printed[-2:] == [
        "> partition m1",
        "Error: partition needs a playground: start the console with etcd-console repl "
        "--dir DIR (this one is attached with --etcd-endpoints)",
    ]
    assert _as_root(url, certs, "get", "dash/typed", "--print-value-only") == "here\n"


def test_insecure_skip_tls_verify_reaches_the_real_etcd_without_its_ca(
    secured: tuple[str, CertificateFiles],
) -> None:
    """etcdctl's --insecure-skip-tls-verify: the REPL trusts whatever certificate the member
    presents, as etcdctl does; without it and without the CA, nothing is reached, and the
    console says why."""
    url, certs = secured
    skip = ClientTls("", str(certs.client_cert), str(certs.client_key), True)
    options = {"door": "grpc", "tls": skip, "user": "root", "password": ROOT_PASSWORD}
    _as_root(url, certs, "put", "unverified", "reached")

    async def scenario() -> None:
        async with repl_session([url], **options) as session:
            session.type("get unverified --print-value-only\r")
            await session.printed("reached\n")

    run_scenario(scenario)

    async def verified() -> list[str]:
        system_cas = ClientTls("", str(certs.client_cert), str(certs.client_key))
        async with (
            Client([url], door="grpc", tls=system_cas, timeout=2) as client,
            Console.open(client) as console,
        ):
            return (await console.execute("get unverified")).lines

    (line,) = asyncio.run(verified())
    assert line.startswith(f"Error: cannot reach the cluster: no member answers at {url} (")
    assert "CERTIFICATE_VERIFY_FAILED" in line, "the line says why: gRPC's reason"


def test_the_repl_command_line_takes_etcdctls_connection_flags(
    secured: tuple[str, CertificateFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    """--etcd-endpoints with --cert --key --insecure-skip-tls-verify --user --password reach
    the member and log in: a wrong password is etcd's refusal, the REPL does not start."""
    url, certs = secured
    args = ["repl", "--etcd-endpoints", url, "--insecure-skip-tls-verify"]
    args += ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    assert main([*args, "--user", "root", "--password", "wrong"]) == 1
    assert capsys.readouterr().err == f"etcd-console: {AUTH_FAILED}\n"
