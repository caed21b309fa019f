"""etcd-node's flags behave as etcd 3.4's: defaults, environment, error texts and derived ids.

Unless a test says otherwise, each expected error text below is what etcd 3.4.23 printed for
the same command line (its log prefix and "See 'etcd --help'" suffix left out).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from node.cli import main, parse_command_line
from node.server.config import FLAGS, OURS, ServerConfig, load_config
from node.server.flag_values import ConfigError
from node.transport.tls import TlsInfo

ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")
NO_ETCD = "the etcd 3.4 binaries are not installed (Debian packages etcd-server, etcd-client)"
STARTUP_DEADLINE_S = 30.0


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default data dirs land in a fresh directory and no ETCD_* variable leaks in."""
    monkeypatch.chdir(tmp_path)
    for variable in list(os.environ):
        if variable.startswith("ETCD"):
            monkeypatch.delenv(variable)


def load(*argv: str, environ: dict[str, str] | None = None) -> ServerConfig:
    """The configuration etcd-node builds from this command line."""
    return load_config(parse_command_line(argv).flags, environ or {})


def refusal(*argv: str, environ: dict[str, str] | None = None) -> str:
    """The text etcd-node refuses this command line with."""
    with pytest.raises(ConfigError) as refused:
        load(*argv, environ=environ)
    return str(refused.value)


def three_member_flags(name: str, peer_ports: list[int], client_port: int, token: str) -> list[str]:
    """The command line of one member of a three-member loopback cluster n1, n2, n3."""
    cluster = ",".join(f"n{i}=http://127.0.0.1:{port}" for i, port in enumerate(peer_ports, 1))
    peer = f"http://127.0.0.1:{peer_ports[int(name[1:]) - 1]}"
    client = f"http://127.0.0.1:{client_port}"
    return [
        f"--name={name}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-token={token}",
        f"--initial-advertise-peer-urls={peer}",
        f"--listen-peer-urls={peer}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
    ]


# --- defaults -----------------------------------------------------------------------------------


def test_no_flags_give_etcd_3_4_defaults() -> None:
    config = load()

    assert config.name == "default"
    assert config.data_dir == "default.etcd"
    assert config.listen_client_urls == ["http://localhost:2379"]
    assert config.advertise_client_urls == ["http://localhost:2379"]
    assert config.listen_peer_urls == ["http://localhost:2380"]
    assert config.initial_advertise_peer_urls == ["http://localhost:2380"]
    assert config.initial_cluster == {"default": ["http://localhost:2380"]}
    assert config.initial_cluster_state == "new"
    assert config.initial_cluster_token == "etcd-cluster"
    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (100, 1000)
    assert config.snapshot_count == 100_000
    assert config.quota_backend_bytes == 0
    assert config.backend_quota_bytes == 2 * 1024**3
    assert config.max_request_bytes == 1_572_864
    assert config.max_txn_ops == 128
    assert config.auto_compaction_mode == "periodic"
    assert config.auto_compaction_retention == "0"
    assert config.log_level == "info"
    assert config.enable_fault_injection is False
    assert config.restore_from is None


def test_lease_checkpoints_are_on_by_default_unlike_etcd() -> None:
    assert load().experimental_enable_lease_checkpoint is True
    assert (
        load("--experimental-enable-lease-checkpoint=false").experimental_enable_lease_checkpoint
        is False
    )


def test_pre_vote_is_on_by_default_unlike_etcd_3_4_and_the_flag_turns_it_off() -> None:
    assert load().pre_vote is True
    assert load("--pre-vote=false").pre_vote is False


def test_programmatic_config_has_the_same_defaults_as_an_empty_command_line() -> None:
    assert ServerConfig() == load()


@pytest.mark.skipif(ETCD is None, reason=NO_ETCD)
def test_help_shows_the_defaults_real_etcd_shows() -> None:
    assert ETCD is not None
    etcd_help = subprocess.run(
        [ETCD, "--help"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    # etcd quotes most defaults ('100000') and a few numbers not (--bcrypt-cost 10)
    etcd_defaults = {
        name: quoted or bare
        for name, quoted, bare in re.findall(
            r"^  --([a-z0-9-]+) (?:'([^']*)'|([0-9]+))$", etcd_help, re.MULTILINE
        )
    }
    borrowed = [flag for flag in FLAGS if flag.section != OURS]

    assert {flag.name for flag in FLAGS if flag.name in etcd_defaults} == {
        flag.name for flag in borrowed
    }
    differing = {
        flag.name: (flag.default, etcd_defaults[flag.name])
        for flag in borrowed
        if flag.default != etcd_defaults[flag.name]
    }
    assert differing == {
        "experimental-enable-lease-checkpoint": ("true", "false"),
        "pre-vote": ("true", "false"),
    }


def test_name_alone_names_the_default_initial_cluster_after_the_member() -> None:
    config = load("--name", "n1")

    assert config.data_dir == "n1.etcd"
    assert config.initial_cluster == {"n1": ["http://localhost:2380"]}


def test_name_alone_takes_the_advertised_peer_urls_into_the_initial_cluster() -> None:
    config = load(
        "--name=n1",
        "--initial-advertise-peer-urls=http://127.0.0.1:12380,http://127.0.0.1:12381",
        "--listen-peer-urls=http://127.0.0.1:12380",
    )

    assert config.initial_cluster == {"n1": ["http://127.0.0.1:12380", "http://127.0.0.1:12381"]}
    config.verify_initial_cluster()


def test_urls_are_sorted_and_their_scheme_lower_cased_as_etcd_stores_them() -> None:
    config = load(
        "--listen-client-urls= HTTP://127.0.0.2:2379,http://127.0.0.1:2379",
        "--advertise-client-urls=http://127.0.0.1:2379",
    )

    assert config.listen_client_urls == ["http://127.0.0.1:2379", "http://127.0.0.2:2379"]


def test_initial_cluster_keeps_the_order_it_names_members_in() -> None:
    config = load(
        "--name=b",
        "--initial-cluster=b=http://127.0.0.1:2,a=http://127.0.0.1:1,c=http://127.0.0.1:3,a=http://127.0.0.1:0",
    )

    assert list(config.initial_cluster) == ["b", "a", "c"]
    assert config.peer_urls_of("a") == ["http://127.0.0.1:0", "http://127.0.0.1:1"]


def test_an_empty_url_flag_keeps_etcds_default() -> None:
    assert load("--listen-peer-urls=").listen_peer_urls == ["http://localhost:2380"]


def test_go_style_numbers_and_single_dash_flags_are_accepted() -> None:
    config = load("-heartbeat-interval", "010", "-election-timeout=0x28")

    assert (config.heartbeat_interval_ms, config.election_timeout_ms) == (8, 40)


def test_a_bool_flag_alone_means_true() -> None:
    assert load("--enable-fault-injection").enable_fault_injection is True
    assert load("--restore-skip-hash-check").restore_skip_hash_check is True


# --- derived values -----------------------------------------------------------------------------


def test_election_ticks_are_election_timeout_over_heartbeat_interval() -> None:
    config = load("--heartbeat-interval=50", "--election-timeout=525")

    assert config.heartbeat_ticks == 1
    assert config.election_ticks == 10


def test_bind_addresses_are_host_port_pairs() -> None:
    config = load(
        "--listen-client-urls=http://127.0.0.1:2379,http://[::1]:0",
        "--advertise-client-urls=http://127.0.0.1:2379",
        "--listen-peer-urls=http://localhost:2380",
    )

    assert config.client_host_ports == [("127.0.0.1", 2379), ("::1", 0)]
    assert config.peer_host_ports == [("localhost", 2380)]


def test_native_urls_default_to_each_client_port_plus_10000_and_keep_port_0() -> None:
    config = load(
        "--listen-client-urls=http://127.0.0.1:2379,http://[::1]:0",
        "--advertise-client-urls=http://127.0.0.1:2379",
    )

    assert config.native_urls == ["http://127.0.0.1:12379", "http://[::1]:0"]
    assert config.native_host_ports == [("127.0.0.1", 12379), ("::1", 0)]


def test_native_urls_flag_replaces_the_derived_ones() -> None:
    config = load("--listen-native-urls=http://127.0.0.1:4000")

    assert config.native_urls == ["http://127.0.0.1:4000"]


def test_metrics_urls_are_etcds_flag_and_empty_by_default() -> None:
    assert load().listen_metrics_urls == []
    config = load("--listen-metrics-urls=http://127.0.0.1:2381,http://localhost:0")

    assert config.listen_metrics_urls == ["http://127.0.0.1:2381", "http://localhost:0"]
    assert config.metrics_host_ports == [("127.0.0.1", 2381), ("localhost", 0)]


def test_http_shares_the_client_port_unless_turned_off() -> None:
    assert load().client_port_http is True
    assert load("--client-port-http=false").client_port_http is False


def test_periodic_retention_reads_hours_or_durations_and_revision_mode_reads_counts() -> None:
    assert load().compaction_retention() == timedelta(0)
    assert load("--auto-compaction-retention=1").compaction_retention() == timedelta(hours=1)
    assert load("--auto-compaction-retention=30m").compaction_retention() == timedelta(minutes=30)
    assert load("--auto-compaction-retention=1h30m").compaction_retention() == timedelta(minutes=90)
    assert (
        load(
            "--auto-compaction-mode=revision", "--auto-compaction-retention=1000"
        ).compaction_retention()
        == 1000
    )


def test_backend_commits_wait_as_etcds_100_ms_or_10000_writes_unless_flags_say() -> None:
    assert (load().backend_batch_interval, load().backend_writes_per_commit) == (0.1, 10_000)
    flagged = load("--backend-batch-interval=25ms", "--backend-batch-limit=500")
    assert (flagged.backend_batch_interval, flagged.backend_writes_per_commit) == (0.025, 500)
    assert load("--backend-batch-limit=-1").backend_writes_per_commit == 1
    with pytest.raises(ConfigError, match="--backend-batch-interval must be >0"):
        load("--backend-batch-interval=-1s").validate()


def test_a_negative_quota_disables_it_as_etcd() -> None:
    assert load("--quota-backend-bytes=-1").backend_quota_bytes is None
    assert load("--quota-backend-bytes=4096").backend_quota_bytes == 4096


# --- environment variables ----------------------------------------------------------------------


def test_environment_variables_set_flags_not_given() -> None:
    config = load(
        environ={
            "ETCD_NAME": "n7",
            "ETCD_HEARTBEAT_INTERVAL": "20",
            "ETCD_ENABLE_FAULT_INJECTION": "true",
            "ETCD_INITIAL_CLUSTER_TOKEN": "from-env",
        }
    )

    assert config.name == "n7"
    assert config.data_dir == "n7.etcd"
    assert config.heartbeat_interval_ms == 20
    assert config.enable_fault_injection is True
    assert config.initial_cluster_token == "from-env"


def test_a_flag_wins_over_its_environment_variable() -> None:
    # etcd 3.4.23 refuses this combination ("conflicting environment variable ... is shadowed by
    # corresponding command-line flag"); etcd-node lets the flag win, as its brief asks.
    assert load("--name=flag", environ={"ETCD_NAME": "env"}).name == "flag"


def test_an_empty_environment_variable_is_ignored() -> None:
    assert load(environ={"ETCD_NAME": ""}).name == "default"


def test_a_bad_environment_value_names_the_variable() -> None:
    assert (
        refusal(environ={"ETCD_HEARTBEAT_INTERVAL": "abc"})
        == 'invalid value "abc" for ETCD_HEARTBEAT_INTERVAL: parse error'
    )


def test_listen_client_urls_from_the_environment_also_needs_advertise_client_urls() -> None:
    assert (
        refusal(environ={"ETCD_LISTEN_CLIENT_URLS": "http://127.0.0.1:12379"})
        == "--advertise-client-urls is required when --listen-client-urls is set explicitly"
    )


# --- refusals -----------------------------------------------------------------------------------

ETCD_REFUSALS = [
    (["--heartbeat-interval", "300"],
     "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"),
    (["--election-timeout", "60000"],
     "--election-timeout[60000ms] is too long, and should be set less than 50000ms"),
    (["--heartbeat-interval", "0"], "--heartbeat-interval must be >0 (set to 0ms)"),
    (["--election-timeout", "0"], "--election-timeout must be >0 (set to 0ms)"),
    (["--heartbeat-interval", "abc"],
     'invalid value "abc" for flag -heartbeat-interval: parse error'),
    (["--heartbeat-interval", "-5"],
     'invalid value "-5" for flag -heartbeat-interval: parse error'),
    (["--snapshot-count", "99999999999999999999"],
     'invalid value "99999999999999999999" for flag -snapshot-count: value out of range'),
    (["--quota-backend-bytes", "x"],
     'invalid value "x" for flag -quota-backend-bytes: parse error'),
    (["--backend-batch-interval", "x"],
     'invalid value "x" for flag -backend-batch-interval: parse error'),
    (["--backend-batch-limit", "1.5"],
     'invalid value "1.5" for flag -backend-batch-limit: parse error'),
    (["--experimental-enable-lease-checkpoint=maybe"],
     'invalid boolean value "maybe" for -experimental-enable-lease-checkpoint: parse error'),
    (["--initial-cluster-state", "foo"],
     'invalid value "foo" for flag -initial-cluster-state: invalid value'),
    (["--listen-client-urls", "http://127.0.0.1:12379"],
     "--advertise-client-urls is required when --listen-client-urls is set explicitly"),
    (["--listen-client-urls", "ftp://127.0.0.1:12379"],
     'invalid value "ftp://127.0.0.1:12379" for flag -listen-client-urls: '
     "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:12379"),
    (["--listen-client-urls", "http://127.0.0.1"],
     'invalid value "http://127.0.0.1" for flag -listen-client-urls: '
     'URL address does not have the form "host:port": http://127.0.0.1'),
    (["--listen-client-urls", "http://127.0.0.1:1/x"],
     'invalid value "http://127.0.0.1:1/x" for flag -listen-client-urls: '
     "URL must not contain a path: http://127.0.0.1:1/x"),
    (["--listen-peer-urls", "http://localhost:2380/"],
     'invalid value "http://localhost:2380/" for flag -listen-peer-urls: '
     "URL must not contain a path: http://localhost:2380/"),
    (["--initial-advertise-peer-urls", "127.0.0.1:2379"],
     'invalid value "127.0.0.1:2379" for flag -initial-advertise-peer-urls: '
     'parse "127.0.0.1:2379": first path segment in URL cannot contain colon'),
    (["--initial-advertise-peer-urls", "localhost:2379"],
     'invalid value "localhost:2379" for flag -initial-advertise-peer-urls: '
     "URL scheme must be http, https, unix, or unixs: localhost:2379"),
    (["--initial-advertise-peer-urls", "://x:1"],
     'invalid value "://x:1" for flag -initial-advertise-peer-urls: '
     'parse "://x:1": missing protocol scheme'),
    (["--initial-advertise-peer-urls", "http://x:abc"],
     'invalid value "http://x:abc" for flag -initial-advertise-peer-urls: '
     'parse "http://x:abc": invalid port ":abc" after host'),
    (["--initial-advertise-peer-urls", "http://[::1:2380"],
     'invalid value "http://[::1:2380" for flag -initial-advertise-peer-urls: '
     "parse \"http://[::1:2380\": missing ']' in host"),
    (["--initial-advertise-peer-urls", "http://:1"],
     '--initial-advertise-peer-urls "http://:1" must be "host:port" '
     "(unexpected empty host (http://:1))"),
    (["--advertise-client-urls", "http://:2379"],
     '--advertise-client-urls "http://:2379" must be "host:port" '
     "(unexpected empty host (http://:2379))"),
    (["--listen-client-urls", "http://example.com:12379",
      "--advertise-client-urls", "http://127.0.0.1:12379"],
     "expected IP in URL for binding (http://example.com:12379)"),
    (["--auto-compaction-mode", "foo"], 'unknown auto-compaction-mode "foo"'),
    (["--auto-compaction-retention", "foo"],
     'error parsing CompactionRetention: time: invalid duration "foo"'),
    (["--auto-compaction-retention", "1d"],
     'error parsing CompactionRetention: time: unknown unit "d" in duration "1d"'),
    (["--auto-compaction-retention", "1.5"],
     'error parsing CompactionRetention: time: missing unit in duration "1.5"'),
    (["--auto-compaction-retention", "-1"],
     'error parsing CompactionRetention: time: missing unit in duration "-1"'),
    (["--log-level", "foo"], 'unknown level "foo"'),
    (["--log-level", "WARN"], 'unknown level "WARN"'),
    (["--initial-cluster", "default=http://localhost:2380,b="],
     "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: "),
    (["--initial-cluster", "default=http://localhost:2380,b=ftp://x:1"],
     "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ftp://x:1"),
    (["--initial-cluster", "default=http://localhost:2380;b=http://x:1"],
     'error setting up initial cluster: URL address does not have the form "host:port": '
     "http://localhost:2380;b=http://x:1"),
    (["--initial-cluster", "default=http://localhost:2380,b=http://x:1%zz"],
     'error setting up initial cluster: parse "http://x:1%zz": invalid port ":1%zz" after host'),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "etcd_says"), ETCD_REFUSALS)
def test_etcd_refusals_keep_etcds_text(argv: list[str], etcd_says: str) -> None:
    assert refusal(*argv) == etcd_says


def validation_refusal(config: ServerConfig) -> str:
    """The text config.validate() refuses config with."""
    with pytest.raises(ConfigError) as refused:
        config.validate()
    return str(refused.value)


def test_a_programmatic_config_gets_the_same_checks() -> None:
    assert (
        validation_refusal(ServerConfig(initial_cluster_state="later"))
        == 'unexpected clusterState "later"'
    )
    assert (
        validation_refusal(ServerConfig(listen_peer_urls=["x:1"]))
        == "URL scheme must be http, https, unix, or unixs: x:1"
    )


def test_a_data_dir_that_is_a_file_cannot_be_listed(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")

    assert refusal(f"--data-dir={afile}") == f"error listing data dir: {afile}"


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[str]:
    """Make directory refuse new files for this user; yields the errno text Go would print."""
    probe = directory / "probe"
    immutable = False
    directory.chmod(0o555)
    try:
        reason = "permission denied"
        if _can_create(probe) and shutil.which("chattr"):
            immutable = (
                subprocess.run(["chattr", "+i", str(directory)], check=False).returncode == 0
            )
            reason = "operation not permitted"
        if _can_create(probe):
            pytest.skip("cannot make a directory unwritable for this user (root without chattr)")
        yield reason
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


def _can_create(path: Path) -> bool:
    try:
        path.touch()
    except OSError:
        return False
    path.unlink()
    return True


def test_an_unwritable_data_dir_is_refused_with_etcds_text(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    with unwritable(data_dir) as reason:
        said = refusal(f"--data-dir={data_dir}")

    assert said == f"cannot access data directory: open {data_dir}/.touch: {reason}"


def test_a_writable_data_dir_is_left_as_it_was(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    load(f"--data-dir={data_dir}")

    assert list(data_dir.iterdir()) == []


# Our own refusals: etcd-node serves no unix sockets and no TLS on metrics URLs, and has flags
# etcd lacks.
OUR_REFUSALS = [
    (["--listen-metrics-urls", "https://127.0.0.1:2381"],
     "--listen-metrics-urls has https://127.0.0.1:2381 but etcd-node does not support TLS "
     "there: use http://"),
    (["--listen-peer-urls", "unix://127.0.0.1:2380"],
     "--listen-peer-urls has unix://127.0.0.1:2380 but etcd-node does not support unix "
     "sockets: use http://"),
    (["--listen-client-urls", "http://127.0.0.1:60000",
      "--advertise-client-urls", "http://127.0.0.1:60000"],
     "--listen-client-urls has http://127.0.0.1:60000 whose native port 70000 is above 65535: "
     "set --listen-native-urls"),
    (["--restore-from", "missing.snap"], "--restore-from=missing.snap: no such snapshot file"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "says"), OUR_REFUSALS)
def test_what_etcd_node_does_not_support_is_refused_clearly(argv: list[str], says: str) -> None:
    assert refusal(*argv) == says


# etcd 3.4's own texts (etcd --listen-client-urls https://... with no --cert-file).
TLS_REFUSALS = [
    (["--listen-client-urls", "https://127.0.0.1:2379",
      "--advertise-client-urls", "https://127.0.0.1:2379"],
     "TLS key/cert (--cert-file, --key-file) must be provided for client url "
     "https://127.0.0.1:2379 with HTTPS scheme"),
    (["--listen-peer-urls", "https://127.0.0.1:2380"],
     "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "says"), TLS_REFUSALS)
def test_https_without_a_certificate_is_refused_as_etcd(argv: list[str], says: str) -> None:
    assert refusal(*argv) == says


def test_https_urls_with_certificates_give_each_side_its_tls() -> None:
    config = load(
        "--listen-client-urls=https://127.0.0.1:2379",
        "--advertise-client-urls=https://127.0.0.1:2379",
        "--cert-file=server.pem", "--key-file=server-key.pem", "--trusted-ca-file=ca.pem",
        "--listen-peer-urls=https://127.0.0.1:2380",
        "--initial-advertise-peer-urls=https://127.0.0.1:2380",
        "--initial-cluster=default=https://127.0.0.1:2380",
        "--peer-cert-file=peer.pem", "--peer-key-file=peer-key.pem", "--peer-client-cert-auth",
    )  # fmt: skip

    client, peer = config.client_tls(), config.peer_tls()

    assert client == TlsInfo("server.pem", "server-key.pem", "ca.pem", client_cert_auth=False)
    assert client.requires_client_cert, "a trusted CA asks for client certificates, as etcd 3.4"
    assert peer == TlsInfo("peer.pem", "peer-key.pem", "", client_cert_auth=True)
    assert load().client_tls() is None and load().peer_tls() is None


def test_auto_tls_makes_self_signed_certificates_in_the_data_dir(tmp_path: Path) -> None:
    config = load(
        f"--data-dir={tmp_path / 'data'}",
        "--listen-client-urls=https://127.0.0.1:2379",
        "--advertise-client-urls=https://127.0.0.1:2379",
        "--auto-tls",
    )

    tls = config.client_tls()

    assert tls is not None and tls.self_signed
    assert tls.cert_file == str(tmp_path / "data" / "fixtures" / "client" / "cert.pem")
    context = tls.server_context()
    assert context.verify_mode == ssl.CERT_NONE
    assert config.client_tls() == tls, "made once, then reused"


# --- the initial cluster, checked when a member bootstraps -------------------------------------

BOOTSTRAP_REFUSALS = [
    (["--name", "x", "--initial-cluster", "y=http://localhost:2380"],
     'couldn\'t find local name "x" in the initial cluster configuration'),
    (["--initial-cluster", ""],
     'couldn\'t find local name "default" in the initial cluster configuration'),
    (["--initial-cluster", "default=http://127.0.0.1:2380"],
     "--initial-cluster has default=http://127.0.0.1:2380 but missing from "
     "--initial-advertise-peer-urls=http://localhost:2380 "
     '(resolved urls: "http://localhost:2380" != "http://127.0.0.1:2380")'),
    (["--initial-cluster", "default=http://localhost:2380,default=http://127.0.0.1:2381"],
     "--initial-cluster has default=http://127.0.0.1:2381 but missing from "
     "--initial-advertise-peer-urls=http://localhost:2380 "
     '(len(["http://localhost:2380"]) != len(["http://127.0.0.1:2381" "http://localhost:2380"]))'),
    (["--initial-advertise-peer-urls", "http://localhost:2380,http://127.0.0.1:2381"],
     "--initial-advertise-peer-urls has http://127.0.0.1:2381 but missing from "
     "--initial-cluster=default=http://127.0.0.1:2381,default=http://localhost:2380"),
    (["--initial-cluster", "default=http://localhost:2380,b=http://localhost:2380"],
     "initial cluster b=http://localhost:2380,default=http://localhost:2380 has duplicate url"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "etcd_says"), BOOTSTRAP_REFUSALS)
def test_bootstrap_refusals_keep_etcds_text(argv: list[str], etcd_says: str) -> None:
    config = load(*argv)

    with pytest.raises(ConfigError) as refused:
        config.verify_initial_cluster()

    assert str(refused.value) == etcd_says


def test_advertised_host_names_are_resolved_before_comparing_as_etcd_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        assert host == "node1.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    config = load(
        "--initial-advertise-peer-urls=http://node1.example:2380",
        "--initial-cluster=default=http://127.0.0.1:2380",
    )

    config.verify_initial_cluster()


def test_joining_an_existing_cluster_does_not_compare_advertised_urls() -> None:
    config = load(
        "--initial-cluster-state=existing", "--initial-cluster=default=http://127.0.0.1:2380"
    )

    config.verify_initial_cluster()


# --- member and cluster ids, as etcd derives them -----------------------------------------------


def test_default_flags_give_etcds_well_known_default_ids() -> None:
    # From etcd 3.4.23 started with only --data-dir: member 8e9e05c52164694d, cluster
    # cdf818194e3a8c32 (etcdctl endpoint status -w json).
    config = load()

    assert config.local_member_id == 10276657743932975437 == 0x8E9E05C52164694D
    assert config.cluster_id == 14841639068965178418 == 0xCDF818194E3A8C32


def test_three_member_ids_match_the_ones_etcd_gave_for_the_same_flags() -> None:
    # From `etcdctl member list -w json` and `endpoint status -w json` against etcd 3.4.23
    # started as n1, n2, n3 with exactly these flags (peer ports 23801-23803, client 23791-23793).
    config = load(*three_member_flags("n1", [23801, 23802, 23803], 23791, "etcd-node-vectors"))

    assert {name: config.member_id(name) for name in config.initial_cluster} == {
        "n1": 5769995217395277332,
        "n2": 10637995417134523675,
        "n3": 7564536781469399872,
    }
    assert config.cluster_id == 18202083203984588191


def test_the_cluster_token_changes_every_id() -> None:
    first = load("--initial-cluster-token=a")
    second = load("--initial-cluster-token=b")

    assert first.local_member_id != second.local_member_id
    assert first.cluster_id != second.cluster_id


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _etcdctl_json(endpoint: str, *command: str) -> object | None:
    assert ETCDCTL is not None
    answer = subprocess.run(
        [ETCDCTL, f"--endpoints={endpoint}", "--command-timeout=2s", *command, "-w", "json"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
        env=_etcd_free_environment(),
    )
    return json.loads(answer.stdout) if answer.returncode == 0 else None


def _etcd_free_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("ETCD")}


@contextlib.contextmanager
def real_etcd_cluster(token: str) -> Iterator[tuple[dict[str, list[str]], str]]:
    """A running three-member etcd 3.4 on loopback: each member's flags and n1's client URL.

    The members are stopped and their directory removed whatever happens.
    """
    assert ETCD is not None
    ports = _free_ports(6)
    peer_ports, client_ports = ports[:3], ports[3:]
    flags = {
        name: three_member_flags(name, peer_ports, client_port, token)
        for name, client_port in zip(("n1", "n2", "n3"), client_ports, strict=True)
    }
    with tempfile.TemporaryDirectory(prefix="real-etcd-") as tmp, contextlib.ExitStack() as stack:
        for name, member_flags in flags.items():
            log = stack.enter_context(open(Path(tmp) / f"{name}.log", "wb"))
            process = subprocess.Popen(
                [ETCD, f"--data-dir={Path(tmp) / name}", *member_flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_etcd_free_environment(),
            )
            stack.callback(_stop, process)
        yield flags, f"http://127.0.0.1:{client_ports[0]}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_status(endpoint: str) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        status = _etcdctl_json(endpoint, "endpoint", "status")
        if isinstance(status, list) and status and status[0]["Status"].get("leader"):
            return status[0]["Status"]
        time.sleep(0.1)
    pytest.fail(f"etcd at {endpoint} had no leader after {STARTUP_DEADLINE_S}s")


@pytest.mark.skipif(ETCD is None or ETCDCTL is None, reason=NO_ETCD)
def test_member_and_cluster_ids_equal_a_real_etcds_for_the_same_flags() -> None:
    with real_etcd_cluster(token="etcd-node-live-check") as (flags, endpoint):
        status = _wait_for_status(endpoint)
        members = _etcdctl_json(endpoint, "member", "list")
    assert isinstance(members, dict)
    etcd_ids = {member["name"]: member["ID"] for member in members["members"]}

    # The native port is ours alone (not an etcd flag): name one, since the default (client
    # port + 10000) does not exist for the high ports the OS may have picked.
    ours = [
        load(*member_flags, "--listen-native-urls=http://127.0.0.1:0")
        for member_flags in flags.values()
    ]

    assert {name: ours[0].member_id(name) for name in ours[0].initial_cluster} == etcd_ids
    assert ours[0].local_member_id == status["header"]["member_id"]
    assert {config.cluster_id for config in ours} == {status["header"]["cluster_id"]}


# --- the etcd-node command ----------------------------------------------------------------------


def test_help_prints_etcd_like_usage_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("Usage:\n\n  etcd-node [flags]\n")
    assert "Clustering:\n  --initial-advertise-peer-urls 'http://localhost:2380'\n" in out
    for flag in FLAGS:
        assert f"  --{flag.name} '{flag.default}'\n" in out


def test_version_names_the_package_version_and_the_etcd_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--version"]) == 0

    assert re.fullmatch(
        r"etcd-node version \d+\.\d+\.\d+\S* \(etcd API 3\.4\)\n", capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--bogus"], "flag provided but not defined: -bogus"),
        (["-bogus=1"], "flag provided but not defined: -bogus"),
        (["extra"], "'extra' is not a valid flag"),
        (["--", "--name"], "'--name' is not a valid flag"),
        (["--name"], "flag needs an argument: -name"),
        (["--heartbeat-interval", "300"],
         "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"),
        (["--name", "x", "--initial-cluster", "y=http://localhost:2380"],
         'couldn\'t find local name "x" in the initial cluster configuration'),
    ],
)  # fmt: skip
def test_a_refused_command_line_is_one_stderr_line_and_exit_1(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1

    captured = capsys.readouterr()
    assert captured.err == f"etcd-node: {line}\n"
    assert captured.out == ""


def test_a_member_with_data_is_not_held_to_its_initial_cluster_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "x.etcd"
    (data_dir / "member").mkdir(parents=True)
    monkeypatch.setitem(sys.modules, "node.api.process", None)

    argv = ["--name", "x", f"--data-dir={data_dir}", "--initial-cluster", "y=http://localhost:2380"]

    assert main(argv) == 1
    assert capsys.readouterr().err == "etcd-node: the member process is not built yet\n"


def test_without_the_member_process_the_command_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "node.api.process", None)

    assert main(["--name", "n1"]) == 1

    assert capsys.readouterr().err == "etcd-node: the member process is not built yet\n"


def test_a_valid_command_line_runs_the_member_with_its_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[ServerConfig] = []
    member = types.ModuleType("node.api.process")
    member.run_process = lambda config: started.append(config) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "node.api.process", member)

    assert main(["--name", "n1", "--enable-fault-injection"]) == 7

    [config] = started
    assert (config.name, config.enable_fault_injection) == ("n1", True)
