"""`etcdctl watch` against our cluster: it prints each event as etcd's members make it print,
for a prefix, from a past revision, and with the previous key-value."""

from __future__ import annotations

import json

import pytest

from tests.compat.cluster import ETCDCTL, ProcessCluster, RunningEtcdctl, etcdctl

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def put(cluster: ProcessCluster, key: str, value: str) -> int:
    result = etcdctl(cluster.endpoints, "put", key, value, "-w", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["header"]["revision"]


def delete(cluster: ProcessCluster, key: str) -> None:
    assert etcdctl(cluster.endpoints, "del", key).returncode == 0


def watching(watch: RunningEtcdctl, cluster: ProcessCluster, key: str) -> None:
    """Put `key` until the watch prints it, then read up to the last put's event: from then
    on the watch prints exactly the changes that follow."""
    for attempt in range(100):
        put(cluster, key, str(attempt))
        try:
            event = watch.read_lines(3, timeout=0.3)
        except AssertionError:
            continue
        while event[2] != str(attempt):
            event = watch.read_lines(3)
        return
    raise AssertionError(f"the watch never printed {key}")


def test_watch_prefix_prints_puts_and_deletes_under_the_prefix_only(cluster, prefix):
    with RunningEtcdctl(cluster.endpoints, "watch", prefix, "--prefix") as watch:
        watching(watch, cluster, f"{prefix}ready")

        put(cluster, "elsewhere", "x")
        put(cluster, f"{prefix}a", "1")
        delete(cluster, f"{prefix}a")

        assert watch.read_lines(6) == ["PUT", f"{prefix}a", "1", "DELETE", f"{prefix}a", ""]


def test_watch_from_a_past_revision_replays_history_in_order(cluster, prefix):
    first = put(cluster, f"{prefix}k", "1")
    put(cluster, f"{prefix}k", "2")
    delete(cluster, f"{prefix}k")

    with RunningEtcdctl(cluster.endpoints, "watch", f"{prefix}k", "--rev", str(first)) as watch:
        assert watch.read_lines(9) == [
            "PUT", f"{prefix}k", "1",
            "PUT", f"{prefix}k", "2",
            "DELETE", f"{prefix}k", "",
        ]  # fmt: skip


def test_watch_with_prev_kv_prints_the_pair_before_each_event(cluster, prefix):
    first = put(cluster, f"{prefix}k", "1")
    put(cluster, f"{prefix}k", "2")
    delete(cluster, f"{prefix}k")

    args = ("watch", f"{prefix}k", "--rev", str(first + 1), "--prev-kv")
    with RunningEtcdctl(cluster.endpoints, *args) as watch:
        assert watch.read_lines(10) == [
            "PUT", f"{prefix}k", "1", f"{prefix}k", "2",
            "DELETE", f"{prefix}k", "2", f"{prefix}k", "",
        ]  # fmt: skip


def test_watch_from_a_compacted_revision_is_cancelled_with_etcds_reason(cluster, prefix):
    first = put(cluster, f"{prefix}k", "1")
    latest = put(cluster, f"{prefix}k", "2")
    assert etcdctl(cluster.endpoints, "compact", str(latest)).returncode == 0

    with RunningEtcdctl(cluster.endpoints, "watch", f"{prefix}k", "--rev", str(first)) as watch:
        assert watch.process.wait(timeout=20) == 5  # etcdctl's ExitInterrupted, as with etcd
        stderr = watch.stderr_so_far()

    assert stderr.splitlines() == [
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)",
        "Error: watch is canceled by the server",
    ]
