"""`etcdctl lease` against our cluster: grant, keep-alive (once and as a stream),
time-to-live with the attached keys, list, revoke, and a lease that does not exist."""

from __future__ import annotations

import re

import pytest

from tests.compat.cluster import ETCDCTL, ProcessCluster, RunningEtcdctl, error_line, etcdctl

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def ok(cluster: ProcessCluster, *args: str) -> str:
    result = etcdctl(cluster.endpoints, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def grant(cluster: ProcessCluster, ttl: int) -> str:
    """A new lease's id in hex, as etcdctl prints and takes it."""
    match = re.fullmatch(
        rf"lease ([0-9a-f]+) granted with TTL\({ttl}s\)\n", ok(cluster, "lease", "grant", str(ttl))
    )
    assert match is not None
    return match.group(1)


def test_a_granted_lease_keeps_its_keys_until_revoked(cluster, prefix):
    lease = grant(cluster, 60)
    ok(cluster, "put", f"{prefix}a", "1", "--lease", lease)
    ok(cluster, "put", f"{prefix}b", "2", "--lease", lease)

    assert re.fullmatch(
        rf"lease {lease} granted with TTL\(60s\), remaining\((59|60)s\), "
        rf"attached keys\(\[{prefix}a {prefix}b\]\)\n",
        ok(cluster, "lease", "timetolive", lease, "--keys"),
    )
    assert lease in ok(cluster, "lease", "list").split()

    assert ok(cluster, "lease", "revoke", lease) == f"lease {lease} revoked\n"
    assert ok(cluster, "get", prefix, "--prefix") == ""
    assert lease not in ok(cluster, "lease", "list").split()


def test_keep_alive_once_renews_the_lease_to_its_full_ttl(cluster):
    lease = grant(cluster, 60)

    assert ok(cluster, "lease", "keep-alive", "--once", lease) == (
        f"lease {lease} keepalived with TTL(60)\n"
    )


def test_a_keep_alive_stream_holds_a_lease_past_its_ttl(cluster, prefix):
    lease = grant(cluster, 2)
    ok(cluster, "put", f"{prefix}k", "v", "--lease", lease)

    with RunningEtcdctl(cluster.endpoints, "lease", "keep-alive", lease) as keeper:
        # etcdctl renews at once, then every TTL/3 s: five renewals span more than the TTL.
        assert keeper.read_lines(5) == [f"lease {lease} keepalived with TTL(2)"] * 5
        assert ok(cluster, "get", f"{prefix}k", "--print-value-only") == "v\n"


def test_a_lease_that_does_not_exist_reads_as_expired_and_cannot_be_renewed(cluster):
    assert (
        ok(cluster, "lease", "timetolive", "123abc") == "lease 0000000000123abc already expired\n"
    )

    result = etcdctl(cluster.endpoints, "lease", "keep-alive", "--once", "123abc")
    assert result.returncode == 2  # etcdctl's ExitBadConnection, as with etcd
    assert error_line(result) == "Error: etcdserver: requested lease not found"
