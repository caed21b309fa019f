"""`etcdctl snapshot save` and `etcdctl check perf` against our cluster.

The snapshot etcdctl saves is in etcd's own format (a bbolt database, etcd's buckets), so our
members rebuild from it with --restore-from and so does a real etcd (test_etcdctl_snapshot.py).
"""

from __future__ import annotations

import re

import pytest

from tests.compat.cluster import ETCDCTL, ProcessCluster, etcdctl

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)

CHECK_PERF_S = 120.0
"""check perf --load=s runs 60 s of load, then reports."""


def test_a_saved_snapshot_restores_into_a_new_member_with_the_keys(cluster, prefix, tmp_path):
    assert etcdctl(cluster.endpoints, "put", f"{prefix}k", "kept").returncode == 0
    snapshot = tmp_path / "backup.db"

    saved = etcdctl(cluster.members[0].endpoint, "snapshot", "save", str(snapshot))

    assert saved.returncode == 0, saved.stderr
    assert saved.stdout == f"Snapshot saved at {snapshot}\n"
    assert snapshot.stat().st_size > 0
    restored = ProcessCluster.new(tmp_path / "restored", 1, token="restored")
    [member] = restored.members
    member.extra_args = (f"--restore-from={snapshot}",)
    try:
        restored.start_all()
        got = etcdctl(restored.endpoints, "get", f"{prefix}k", "--print-value-only")
        assert got.stdout == "kept\n"
    finally:
        restored.stop_all()


@pytest.mark.slow
def test_check_perf_small_load_runs_to_its_report(cluster):
    # Whether the figures PASS is a speed judgment (benchmarks/ compares them with etcd's):
    # here, etcdctl's whole load runs against our members and it reports in its own form.
    result = etcdctl(cluster.endpoints, "check", "perf", "--load=s", timeout=CHECK_PERF_S)

    # etcdctl 3.4's six verdict lines: a passing one says PASS, and only the throughput's
    # failing line says FAIL (the other two failing lines carry no prefix).
    verdicts = re.findall(
        r"^(?:PASS: Throughput is \d+ writes/s|FAIL: Throughput too low: \d+ writes/s|"
        r"PASS: Slowest request took [\d.]+s|Slowest request took too long: [\d.]+s|"
        r"PASS: Stddev is [\d.]+s|Stddev too high: [\d.]+s)$",
        result.stdout,
        re.MULTILINE,
    )
    print("check perf --load=s:", *verdicts, sep="\n")
    assert [v.removeprefix("PASS: ").removeprefix("FAIL: ").split()[0] for v in verdicts] == [
        "Throughput",
        "Slowest",
        "Stddev",
    ], result.stdout[-2000:]
    final = result.stdout.rstrip().rsplit("\n", 1)[-1]
    assert final in ("PASS", "FAIL")
    assert result.returncode == (0 if final == "PASS" else 1), result.stderr[-2000:]
