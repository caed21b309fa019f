"""The etcdctl commands the other compat tests leave out, run against our members and, where
the output can be compared, against a real etcd 3.4 started with the same flags: move-leader,
defrag, member update, lease list, put --ignore-value/--ignore-lease, watch from a delete,
make-mirror, endpoint hashkv, the NOSPACE alarm, and the request size and txn limits.

(`etcdctl snapshot save`, `status` and `restore` are test_etcdctl_snapshot.py's.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.cluster import (
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    MemberProcess,
    ProcessCluster,
    RunningEtcdctl,
    error_line,
    etcdctl,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)

NO_ETCD = pytest.mark.skipif(
    ETCD is None, reason="etcd is not installed (Debian package etcd-server)"
)
IMPLEMENTATIONS = [pytest.param("ours"), pytest.param("etcd", marks=NO_ETCD)]
COMMANDS = {"ours": OUR_MEMBER, "etcd": (ETCD or "etcd",)}


def ok(endpoints: str, *args: str, stdin: str | None = None) -> str:
    """etcdctl's stdout for a command that must succeed."""
    result = etcdctl(endpoints, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_json(endpoints: str, *args: str) -> Any:
    return json.loads(ok(endpoints, *args, "-w", "json"))


def refusal(endpoints: str, *args: str, stdin: str | None = None) -> str:
    """The `Error: ...` line of a command that must fail with etcdctl's exit status 1."""
    result = etcdctl(endpoints, *args, stdin=stdin)
    assert result.returncode == 1, result.stdout + result.stderr
    return error_line(result)


def member_ids(cluster: ProcessCluster) -> dict[str, int]:
    """Each member's id, by name."""
    return {m.name: m.status().header.member_id for m in cluster.members}


@pytest.fixture(params=IMPLEMENTATIONS)
def either(request: pytest.FixtureRequest) -> ProcessCluster:
    """Our shared cluster, then the real etcd: the test runs against each."""
    return request.getfixturevalue("cluster" if request.param == "ours" else "real_etcd")


@contextlib.contextmanager
def single_member(directory: Path, implementation: str, *flags: str) -> Iterator[MemberProcess]:
    """A fresh one-member cluster of `implementation` started with etcd's `flags`."""
    fresh = ProcessCluster.new(directory, 1, COMMANDS[implementation], token=directory.name)
    [member] = fresh.members
    member.extra_args = flags
    try:
        fresh.start_all()
        yield member
    finally:
        fresh.stop_all()


# -- leadership and maintenance on our three members --------------------------------------------


def test_move_leader_hands_leadership_to_the_named_follower(cluster):
    leader = cluster.wait_for_leader(cluster.members)
    follower = next(i for i in member_ids(cluster).values() if i != leader)

    moved = ok(cluster.endpoints, "move-leader", f"{follower:x}")

    assert moved == f"Leadership transferred from {leader:x} to {follower:x}\n"
    assert cluster.wait_for_leader(cluster.members) == follower


def test_defrag_cluster_defragments_every_member(cluster):
    output = ok(cluster.members[0].endpoint, "defrag", "--cluster")

    assert sorted(output.splitlines()) == sorted(
        f"Finished defragmenting etcd member[{m.client_url}]" for m in cluster.members
    )


def test_hashkv_of_the_cluster_is_equal_on_every_member_after_writes(cluster, prefix):
    for n in range(5):
        ok(cluster.endpoints, "put", f"{prefix}{n}", str(n))
    revision = as_json(cluster.endpoints, "del", f"{prefix}0")["header"]["revision"]

    def hashed_everywhere() -> bool:  # a follower may not have applied the last write yet
        return etcdctl(cluster.members[0].endpoint, "endpoint", "hashkv", "--cluster",
                       "--rev", str(revision)).returncode == 0  # fmt: skip

    wait_until(hashed_everywhere)
    rows = as_json(cluster.members[0].endpoint, "endpoint", "hashkv", "--cluster",
                   "--rev", str(revision))  # fmt: skip
    assert sorted(row["Endpoint"] for row in rows) == sorted(m.client_url for m in cluster.members)
    assert len({row["HashKV"]["hash"] for row in rows}) == 1


def test_member_update_sets_peer_urls_but_not_another_members(cluster):
    ids = member_ids(cluster)
    cluster_id = as_json(cluster.endpoints, "member", "list")["header"]["cluster_id"]
    m3 = cluster.member("m3")

    updated = ok(cluster.endpoints, "member", "update", f"{ids['m3']:x}",
                 f"--peer-urls={m3.peer_url}")  # fmt: skip
    taken = refusal(cluster.endpoints, "member", "update", f"{ids['m3']:x}",
                    f"--peer-urls={cluster.member('m2').peer_url}")  # fmt: skip

    assert updated == f"Member {ids['m3']:16x} updated in cluster {cluster_id:16x}\n"
    assert taken == "Error: etcdserver: Peer URLs already exists"


# -- keys, leases and watches, against ours and against etcd -----------------------------------


TTLS = (300, 100, 200)


def test_lease_list_on_the_leader_lists_the_soonest_expiring_first(either):
    leader = either.wait_for_leader(either.members)
    endpoint = next(m.endpoint for m in either.members if m.status().header.member_id == leader)
    # `lease list` prints ids as 16 hex digits, a leading zero included.
    granted = {ttl: f"{as_json(endpoint, 'lease', 'grant', str(ttl))['ID']:016x}" for ttl in TTLS}

    listed = ok(endpoint, "lease", "list").splitlines()[1:]

    assert [lease for lease in listed if lease in granted.values()] == [
        granted[100], granted[200], granted[300]
    ]  # fmt: skip


@pytest.mark.parametrize(
    "args", [("--ignore-value",), ("v", "--ignore-lease")], ids=["ignore-value", "ignore-lease"]
)
def test_put_ignoring_the_value_or_lease_of_an_absent_key_is_refused(either, prefix, args):
    assert refusal(either.endpoints, "put", f"{prefix}absent", *args) == (
        "Error: etcdserver: key not found"
    )


def test_put_ignore_lease_keeps_the_lease_and_ignore_value_keeps_the_value(either, prefix):
    key = f"{prefix}k"
    lease = as_json(either.endpoints, "lease", "grant", "60")["ID"]
    ok(either.endpoints, "put", key, "old", "--lease", f"{lease:x}")

    ok(either.endpoints, "put", key, "new", "--ignore-lease")
    [kv] = as_json(either.endpoints, "get", key)["kvs"]
    assert (kv["value"], kv["lease"]) == ("bmV3", lease)  # base64 of "new"

    ok(either.endpoints, "put", key, "--ignore-value", "--lease", f"{lease:x}")
    assert ok(either.endpoints, "get", key, "--print-value-only") == "new\n"


def test_watch_from_a_deletes_revision_shows_the_delete_and_the_value_it_removed(either, prefix):
    key = f"{prefix}k"
    ok(either.endpoints, "put", key, "1")
    ok(either.endpoints, "put", key, "2")
    deleted = as_json(either.endpoints, "del", key)["header"]["revision"]

    with RunningEtcdctl(
        either.endpoints, "watch", key, "--rev", str(deleted), "--prev-kv"
    ) as watch:
        assert watch.read_lines(5) == ["DELETE", key, "2", key, ""]


@pytest.mark.parametrize("source", IMPLEMENTATIONS)
def test_make_mirror_copies_keys_and_later_changes_to_the_other_cluster(
    cluster, real_etcd, prefix, source
):
    # make-mirror takes one destination endpoint: it dials a comma-separated list as one.
    origin, target = (cluster, real_etcd) if source == "ours" else (real_etcd, cluster)
    mirrored = f"mirror/{prefix}"
    ok(origin.endpoints, "put", f"{prefix}a", "1")

    with RunningEtcdctl(origin.endpoints, "make-mirror", "--prefix", prefix,
                        "--dest-prefix", mirrored, target.members[0].endpoint):  # fmt: skip
        wait_until(lambda: ok(target.endpoints, "get", mirrored, "--prefix") == f"{mirrored}a\n1\n")
        ok(origin.endpoints, "put", f"{prefix}b", "2")
        ok(origin.endpoints, "del", f"{prefix}a")
        wait_until(lambda: ok(target.endpoints, "get", mirrored, "--prefix") == f"{mirrored}b\n2\n")


# -- fresh members: hashes, the NOSPACE alarm, request limits ----------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_hashkv_is_the_hash_etcd_gives_for_the_same_history(tmp_path, implementation):
    with single_member(tmp_path / "hash", implementation) as member:
        for args in (("put", "a", "1"), ("put", "b", "2"), ("put", "a", "3"), ("del", "b")):
            ok(member.endpoint, *args)

        # etcd 3.4.23's hashes of this history: now (revision 5) and at revision 3.
        assert ok(member.endpoint, "endpoint", "hashkv") == f"{member.endpoint}, 1125682900\n"
        assert ok(member.endpoint, "endpoint", "hashkv", "--rev", "3") == (
            f"{member.endpoint}, 1827592406\n"
        )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_full_backend_raises_nospace_until_compacted_defragmented_and_disarmed(
    tmp_path, implementation
):
    with single_member(tmp_path / "quota", implementation, "--quota-backend-bytes=1000000") as m:
        big = "x" * 100_000
        for n in range(40):
            result = etcdctl(m.endpoint, "put", f"fill/{n}", big)
            if result.returncode != 0:
                break
        assert error_line(result) == "Error: etcdserver: mvcc: database space exceeded"
        alarm = f"memberID:{m.status().header.member_id} alarm:NOSPACE \n"
        assert ok(m.endpoint, "alarm", "list") == alarm

        revision = as_json(m.endpoint, "del", "fill/", "--prefix")["header"]["revision"]
        ok(m.endpoint, "compaction", str(revision), "--physical")
        ok(m.endpoint, "defrag")
        assert ok(m.endpoint, "alarm", "disarm") == alarm

        assert ok(m.endpoint, "alarm", "list") == ""
        assert ok(m.endpoint, "put", "after", "the alarm") == "OK\n"


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MemberProcess]:
    """One member taking requests of at most 1 KiB and txns of at most 3 operations."""
    directory = tmp_path_factory.mktemp(f"limited-{request.param}")
    with single_member(directory, request.param, "--max-request-bytes=1024",
                       "--max-txn-ops=3") as member:  # fmt: skip
        yield member


def test_a_request_over_max_request_bytes_is_refused_as_too_large(limited):
    assert refusal(limited.endpoint, "put", "k", "x" * 2000) == (
        "Error: etcdserver: request is too large"
    )


def test_a_message_over_the_grpc_limit_is_refused_with_grpcs_own_text(limited):
    # The limit is --max-request-bytes plus 512 KiB; the PutRequest is key, value and 6 bytes.
    assert refusal(limited.endpoint, "put", "big", stdin="x" * 600_000) == (
        "Error: rpc error: code = ResourceExhausted desc = "
        "grpc: received message larger than max (600009 vs. 525312)"
    )


def test_a_txn_with_more_operations_than_max_txn_ops_is_refused(limited):
    three = "".join(f"put k{n} v\n" for n in range(3))

    assert ok(limited.endpoint, "txn", stdin=f"\n{three}\n\n") == "SUCCESS\n\nOK\n\nOK\n\nOK\n"
    assert refusal(limited.endpoint, "txn", stdin=f"\n{three}put k3 v\n\n\n") == (
        "Error: etcdserver: too many operations in txn request"
    )
