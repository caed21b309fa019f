"""etcd-node as a process with both doors: SIGTERM stops it cleanly (with a watch open) and
it restarts with its keys; an address in use or an unusable data dir is one line on stderr
and exit status 1."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.compat.cluster import (
    ETCDCTL,
    STOP_S,
    ProcessCluster,
    RunningEtcdctl,
    etcdctl,
)

needs_etcdctl = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def run_to_exit(member_args: list[str], command: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*command, *member_args], capture_output=True, text=True, timeout=STOP_S, check=False
    )


@needs_etcdctl
def test_sigterm_stops_the_member_cleanly_and_it_restarts_with_its_keys(tmp_path):
    cluster = ProcessCluster.new(tmp_path, 1, token="process")
    [member] = cluster.members
    try:
        cluster.start_all()
        assert etcdctl(cluster.endpoints, "put", "k", "kept").returncode == 0
        with RunningEtcdctl(cluster.endpoints, "watch", "k"):
            assert member.stop(signal.SIGTERM) == 0

        member.start()
        cluster.wait_for_leader([member])
        got = etcdctl(cluster.endpoints, "get", "k", "--print-value-only")
        assert got.stdout == "kept\n"
    finally:
        cluster.stop_all()
    assert "stopped" in member.log.read_text()


def test_a_client_port_in_use_is_one_line_on_stderr_and_exit_1(tmp_path):
    cluster = ProcessCluster.new(tmp_path, 1, token="taken")
    [member] = cluster.members
    port = int(member.client_url.rsplit(":", 1)[1])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()

        result = run_to_exit(member.args(), member.command)

    assert result.returncode == 1
    assert (
        result.stderr == f"etcd-node: listen tcp 127.0.0.1:{port}: bind: address already in use\n"
    )


def test_a_corrupt_wal_is_one_line_on_stderr_and_exit_1(tmp_path):
    cluster = ProcessCluster.new(tmp_path, 1, token="corrupt")
    [member] = cluster.members
    wal = Path(member.data_dir, "member", "wal")
    wal.mkdir(parents=True)
    (wal / "0000000000000000-0000000000000000.wal").write_bytes(b"\x07" * 4096)

    result = run_to_exit(member.args(), member.command)

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("etcd-node: wal: ")
    assert str(wal / "0000000000000000-0000000000000000.wal") in line
