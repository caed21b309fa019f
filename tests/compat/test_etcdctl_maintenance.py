"""`etcdctl snapshot save` and `etcdctl check perf` against our cluster.

The snapshot etcdctl saves is in etcd's own format (a bbolt database, etcd's buckets), so our
members rebuild from it with --restore-from and so does a real etcd (test_etcdctl_snapshot.py).
"""

from __future__ import annotations

import re
import time

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
def test_check_perf_small_load_passes(cluster):
    started = time.monotonic()

    result = etcdctl(cluster.endpoints, "check", "perf", "--load=s", timeout=CHECK_PERF_S)

    verdicts = re.findall(r"^(PASS|FAIL): .*$", result.stdout, re.MULTILINE)
    report = "\n".join(re.findall(r"^(?:PASS|FAIL).*$", result.stdout, re.MULTILINE))
    print(f"check perf --load=s took {time.monotonic() - started:.1f}s:\n{report}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert verdicts == ["PASS", "PASS", "PASS"]
    assert result.stdout.rstrip().endswith("PASS")
