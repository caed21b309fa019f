"""`etcdctl -w json` prints the same JSON shape for our cluster as for a real etcd 3.4.

Each command runs against both after the same writes; ids, revisions and sizes differ, so
what is compared is the shape: every object's keys, and the type of every value. etcdctl
leaves zero fields out of its JSON, so a field we fill where etcd leaves it empty (or the
reverse) shows as a difference too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.compat.cluster import ETCD, ETCDCTL, ProcessCluster, etcdctl

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None,
    reason="etcd and etcdctl are not installed (Debian packages etcd-server, etcd-client)",
)


def shape(value: Any) -> Any:
    """The JSON value with every leaf replaced by its type name, and every list by the set of
    its items' shapes (lists differ in length: three members here, one there)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return sorted(shapes)
    return type(value).__name__


def run_json(cluster: ProcessCluster, *args: str, stdin: str | None = None) -> Any:
    result = etcdctl(cluster.endpoints.split(",")[0], *args, "-w", "json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def lease_id(cluster: ProcessCluster) -> str:
    return format(run_json(cluster, "lease", "grant", "60")["ID"], "x")


def compact_all(cluster: ProcessCluster, prefix: str) -> None:
    revision = run_json(cluster, "put", f"{prefix}k", "v")["header"]["revision"]
    assert etcdctl(cluster.endpoints, "compact", str(revision)).returncode == 0


Command = Callable[[ProcessCluster, str], Any]

COMMANDS: dict[str, Command] = {
    "put": lambda c, p: run_json(c, "put", f"{p}k", "v"),
    "put --prev-kv": lambda c, p: (
        run_json(c, "put", f"{p}k", "1"), run_json(c, "put", f"{p}k", "2", "--prev-kv"))[1],
    "get --prefix --limit": lambda c, p: (
        run_json(c, "put", f"{p}a", "1"), run_json(c, "put", f"{p}b", "2"),
        run_json(c, "get", p, "--prefix", "--limit", "1"))[2],
    "get --keys-only": lambda c, p: (
        run_json(c, "put", f"{p}a", "1"), run_json(c, "get", f"{p}a", "--keys-only"))[1],
    "get of nothing": lambda c, p: run_json(c, "get", f"{p}none"),
    "del --prev-kv": lambda c, p: (
        run_json(c, "put", f"{p}a", "1"), run_json(c, "del", f"{p}a", "--prev-kv"))[1],
    "txn": lambda c, p: run_json(
        c, "txn", stdin=f'create("{p}x") = "0"\n\nput {p}x 1\nget {p}x\ndel {p}y\n\n\n'),
    "lease grant": lambda c, p: run_json(c, "lease", "grant", "60"),
    "lease keep-alive --once": lambda c, p: run_json(
        c, "lease", "keep-alive", "--once", lease_id(c)),
    "lease timetolive --keys": lambda c, p: (
        lease := lease_id(c), run_json(c, "put", f"{p}l", "v", "--lease", lease),
        run_json(c, "lease", "timetolive", lease, "--keys"))[2],
    "lease list": lambda c, p: (lease_id(c), run_json(c, "lease", "list"))[1],
    "member list": lambda c, p: run_json(c, "member", "list"),
    "endpoint status": lambda c, p: run_json(c, "endpoint", "status"),
    "endpoint health": lambda c, p: run_json(c, "endpoint", "health"),
    "endpoint hashkv": lambda c, p: run_json(c, "endpoint", "hashkv"),
    "endpoint hashkv after a compaction": lambda c, p: (
        compact_all(c, p), run_json(c, "endpoint", "hashkv")
    )[1],
    "alarm list": lambda c, p: run_json(c, "alarm", "list"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_output_has_the_shape_real_etcd_gives(cluster, real_etcd, prefix, name):
    command = COMMANDS[name]

    ours = command(cluster, prefix)
    theirs = command(real_etcd, prefix)

    assert shape(ours) == shape(theirs)
