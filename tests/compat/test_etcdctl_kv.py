"""The real etcdctl reads and writes keys through our members' gRPC door as it would through
etcd's: get (prefix, range, limit, rev, keys-only, sort), put, del, txn, compaction, errors."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.compat.cluster import ETCDCTL, ProcessCluster, error_line, etcdctl

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def ok(cluster: ProcessCluster, *args: str, stdin: str | None = None) -> str:
    """etcdctl's stdout for a command that must succeed."""
    result = etcdctl(cluster.endpoints, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def put_all(cluster: ProcessCluster, pairs: dict[str, str]) -> int:
    """Put each pair; the revision of the last put."""
    revision = 0
    for key, value in pairs.items():
        revision = json.loads(ok(cluster, "put", key, value, "-w", "json"))["header"]["revision"]
    return revision


def test_get_with_prefix_prints_each_key_and_value_in_key_order(cluster, prefix):
    put_all(cluster, {f"{prefix}b": "2", f"{prefix}a": "1", f"{prefix}c": "3", "other": "x"})

    assert ok(cluster, "get", prefix, "--prefix") == (f"{prefix}a\n1\n{prefix}b\n2\n{prefix}c\n3\n")


def test_get_key_and_range_end_covers_the_range_without_its_end(cluster, prefix):
    put_all(cluster, {f"{prefix}a": "1", f"{prefix}b": "2", f"{prefix}c": "3"})

    assert ok(cluster, "get", f"{prefix}a", f"{prefix}c") == f"{prefix}a\n1\n{prefix}b\n2\n"


def test_limit_returns_the_first_keys_and_json_says_there_are_more(cluster, prefix):
    put_all(cluster, {f"{prefix}{n}": str(n) for n in range(4)})

    assert ok(cluster, "get", prefix, "--prefix", "--limit", "2", "--keys-only") == (
        f"{prefix}0\n\n{prefix}1\n\n"
    )
    listing = json.loads(ok(cluster, "get", prefix, "--prefix", "--limit", "2", "-w", "json"))
    assert (len(listing["kvs"]), listing["more"], listing["count"]) == (2, True, 4)


def test_rev_reads_the_value_a_key_had_at_that_revision(cluster, prefix):
    first = put_all(cluster, {f"{prefix}k": "old"})
    put_all(cluster, {f"{prefix}k": "new"})

    assert ok(cluster, "get", f"{prefix}k", "--rev", str(first)) == f"{prefix}k\nold\n"
    assert ok(cluster, "get", f"{prefix}k") == f"{prefix}k\nnew\n"


def test_keys_only_prints_keys_with_empty_values(cluster, prefix):
    put_all(cluster, {f"{prefix}a": "1", f"{prefix}b": "2"})

    assert ok(cluster, "get", prefix, "--prefix", "--keys-only") == f"{prefix}a\n\n{prefix}b\n\n"


def test_count_only_counts_the_range_without_sending_keys(cluster, prefix):
    # etcdctl 3.4 has no --count-only flag (3.5 added it); clientv3's WithCountOnly, which
    # `check perf` uses, sends this request.
    put_all(cluster, {f"{prefix}{n}": "v" for n in range(3)})
    request = rpc_pb2.RangeRequest(
        key=prefix.encode(), range_end=prefix[:-1].encode() + b"0", count_only=True
    )

    with grpc.insecure_channel(cluster.members[0].endpoint) as channel:
        reply = rpc_pb2_grpc.KVStub(channel).Range(request, timeout=10)

    assert (reply.count, list(reply.kvs), reply.more) == (3, [], False)


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("KEY", "DESCEND", ["c", "b", "a"]),
        ("MODIFY", "ASCEND", ["b", "c", "a"]),
        ("VALUE", "ASCEND", ["a", "b", "c"]),
        ("CREATE", "DESCEND", ["a", "c", "b"]),
    ],
)
def test_sort_by_and_order_sort_the_listing(cluster, prefix, sort_by, order, expected):
    put_all(cluster, {f"{prefix}b": "2", f"{prefix}c": "3", f"{prefix}a": "1"})

    output = ok(cluster, "get", prefix, "--prefix", "--keys-only", "--sort-by", sort_by,
                "--order", order)  # fmt: skip

    assert output.split() == [f"{prefix}{name}" for name in expected]


def test_json_listing_carries_header_and_base64_key_values(cluster, prefix):
    revision = put_all(cluster, {f"{prefix}k": "v"})

    listing = json.loads(ok(cluster, "get", f"{prefix}k", "-w", "json"))

    assert set(listing["header"]) == {"cluster_id", "member_id", "revision", "raft_term"}
    [kv] = listing["kvs"]
    assert kv == {
        "key": base64.b64encode(f"{prefix}k".encode()).decode(),
        "create_revision": revision,
        "mod_revision": revision,
        "version": 1,
        "value": "dg==",
    }
    assert listing["count"] == 1
    assert "more" not in listing


def test_del_with_prefix_prints_how_many_keys_it_deleted(cluster, prefix):
    put_all(cluster, {f"{prefix}a": "1", f"{prefix}b": "2", f"{prefix}bb": "3"})

    assert ok(cluster, "del", f"{prefix}b", "--prefix") == "2\n"
    assert ok(cluster, "get", prefix, "--prefix", "--keys-only") == f"{prefix}a\n\n"


def test_del_with_prev_kv_prints_what_was_deleted(cluster, prefix):
    put_all(cluster, {f"{prefix}a": "1"})

    assert ok(cluster, "del", f"{prefix}a", "--prev-kv") == f"1\n{prefix}a\n1\n"
    assert ok(cluster, "del", f"{prefix}a") == "0\n"


def test_txn_from_stdin_runs_success_ops_when_compares_hold(cluster, prefix):
    put_all(cluster, {f"{prefix}x": "1"})
    script = f'value("{prefix}x") = "1"\n\nput {prefix}y yes\nget {prefix}x\n\nput {prefix}y no\n\n'

    assert ok(cluster, "txn", stdin=script) == f"SUCCESS\n\nOK\n\n{prefix}x\n1\n"
    assert ok(cluster, "get", f"{prefix}y", "--print-value-only") == "yes\n"


def test_txn_from_stdin_runs_failure_ops_when_a_compare_fails(cluster, prefix):
    put_all(cluster, {f"{prefix}x": "1"})
    script = f'mod("{prefix}x") < "1"\n\nput {prefix}y yes\n\nput {prefix}y no\ndel {prefix}x\n\n'

    assert ok(cluster, "txn", stdin=script) == "FAILURE\n\nOK\n\n1\n"
    assert ok(cluster, "get", prefix, "--prefix") == f"{prefix}y\nno\n"


def test_compaction_makes_older_revisions_unreadable_with_etcds_error(cluster, prefix):
    old = put_all(cluster, {f"{prefix}k": "1"})
    latest = put_all(cluster, {f"{prefix}k": "2"})

    assert ok(cluster, "compact", str(latest)) == f"compacted revision {latest}\n"

    result = etcdctl(cluster.endpoints, "get", f"{prefix}k", "--rev", str(old))
    assert result.returncode == 1
    assert error_line(result) == "Error: etcdserver: mvcc: required revision has been compacted"
    assert ok(cluster, "get", f"{prefix}k", "--rev", str(latest)) == f"{prefix}k\n2\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("get", ""), "etcdserver: key is not provided"),
        (("put", "k", "v", "--lease", "123abc"), "etcdserver: requested lease not found"),
        (("compact", "999999999"), "etcdserver: mvcc: required revision is a future revision"),
        (("get", "k", "--rev", "999999999"),
         "etcdserver: mvcc: required revision is a future revision"),
        (("lease", "revoke", "123abc"),
         "failed to revoke lease (etcdserver: requested lease not found)"),
        (("member", "remove", "1234"), "etcdserver: member not found"),
        (("move-leader", "1234"), "etcdserver: bad leader transferee"),
    ],
)  # fmt: skip
def test_bad_input_prints_etcds_error_text(cluster, args, error):
    result = etcdctl(cluster.endpoints, *args)

    assert result.returncode != 0
    assert error_line(result) == f"Error: {error}"
