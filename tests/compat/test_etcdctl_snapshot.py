"""Snapshots move both ways between our members and real etcd 3.4: `etcdctl snapshot save`
against ours gives a file `etcdctl snapshot status` reads and a real etcd restores, and a
real etcd's snapshot (or, with --restore-skip-hash-check, its data dir's bare db) rebuilds our
member (`--restore-from`), keys with their revisions, leases and the compaction revision kept
as etcd keeps them. Bad files are refused by both, with etcd's words, nothing written."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.compat.cluster import (
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    ProcessCluster,
    error_line,
    etcdctl,
    running_cluster,
)

pytestmark = pytest.mark.skipif(
    ETCD is None or ETCDCTL is None,
    reason="etcd and etcdctl are not installed (Debian packages etcd-server, etcd-client)",
)

LEASE_TTL = 600
LARGE_KEYS = 3000
"""About 1 MB of keys: hundreds of leaf pages under branch pages, every 100th value on
overflow pages."""
COMPACTED_AT = 3


def _write_the_same_history(cluster: ProcessCluster) -> str:
    """Puts, an overwrite, a key on a lease, a delete and a compaction; the lease id (hex)."""
    for args in (("put", "k/a", "1"), ("put", "k/b", "2"), ("put", "k/a", "3")):
        assert etcdctl(cluster.endpoints, *args).returncode == 0
    granted = etcdctl(cluster.endpoints, "lease", "grant", str(LEASE_TTL))
    lease = granted.stdout.split()[1]
    assert etcdctl(cluster.endpoints, "put", "k/c", "4", f"--lease={lease}").returncode == 0
    assert etcdctl(cluster.endpoints, "del", "k/b").returncode == 0
    assert etcdctl(cluster.endpoints, "compact", str(COMPACTED_AT)).returncode == 0
    return lease


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, str]]:
    with running_cluster(tmp_path_factory.mktemp("ours-snap"), 1) as cluster:
        yield cluster, _write_the_same_history(cluster)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, str]]:
    assert ETCD is not None
    with running_cluster(tmp_path_factory.mktemp("real-snap"), 1, (ETCD,)) as cluster:
        yield cluster, _write_the_same_history(cluster)


def _save(cluster: ProcessCluster, path: Path) -> Path:
    saved = etcdctl(cluster.endpoints, "snapshot", "save", str(path))
    assert saved.returncode == 0, saved.stderr
    return path


def _status(path: Path) -> dict:
    result = etcdctl("", "snapshot", "status", str(path), "-w", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _kvs(endpoints: str) -> tuple[int, list[dict]]:
    """The header revision and every key under k/ as etcdctl's JSON shows them."""
    got = json.loads(etcdctl(endpoints, "get", "k/", "--prefix", "-w", "json").stdout)
    kvs = [
        {**kv, "key": base64.b64decode(kv["key"]), "value": base64.b64decode(kv["value"])}
        for kv in got["kvs"]
    ]
    return got["header"]["revision"], kvs


def _leases(endpoints: str) -> list[str]:
    return etcdctl(endpoints, "lease", "list").stdout.split()[3:]


def _lease_shown(endpoints: str, lease: str) -> str:
    """etcdctl's `lease timetolive --keys` line without the remaining TTL, which runs down."""
    shown = etcdctl(endpoints, "lease", "timetolive", lease, "--keys").stdout
    return re.sub(r"remaining\(\d+s\)", "remaining(...)", shown)


def _compacted_error(endpoints: str) -> str:
    return error_line(etcdctl(endpoints, "get", "k/a", f"--rev={COMPACTED_AT - 1}"))


def _restored_cluster(saved_by: str, snapshot: Path, directory: Path) -> ProcessCluster:
    """A one-member cluster of the other kind, its data restored from `snapshot`: a real etcd
    through `etcdctl snapshot restore` when ours saved it, ours through --restore-from."""
    if saved_by == "real":
        restored = ProcessCluster.new(directory, 1, token="restored")
        restored.members[0].extra_args = (f"--restore-from={snapshot}",)
        return restored
    assert ETCD is not None
    restored = ProcessCluster.new(directory, 1, (ETCD,), token="restored")
    [member] = restored.members
    result = etcdctl(
        "", "snapshot", "restore", str(snapshot), f"--name={member.name}",
        f"--data-dir={member.data_dir}", f"--initial-cluster={member.initial_cluster}",
        f"--initial-advertise-peer-urls={member.peer_url}", "--initial-cluster-token=restored",
    )
    assert result.returncode == 0, result.stderr
    return restored


def test_snapshot_status_reads_ours_in_the_same_form_as_real_etcds(ours, real, tmp_path):
    mine = _status(_save(ours[0], tmp_path / "ours.db"))
    theirs = _status(_save(real[0], tmp_path / "real.db"))
    print(f"snapshot status: ours {mine}, real etcd's {theirs}")

    assert mine.keys() == theirs.keys() == {"hash", "revision", "totalKey", "totalSize"}
    assert mine["revision"] == theirs["revision"] == 6
    assert mine["totalKey"] == theirs["totalKey"]
    assert mine["totalSize"] % 4096 == theirs["totalSize"] % 4096 == 0
    tables = [
        etcdctl("", "snapshot", "status", str(tmp_path / name), "-w", "table").stdout
        for name in ("ours.db", "real.db")
    ]
    headers = [[cell.strip() for cell in table.splitlines()[1].split("|")] for table in tables]
    assert headers[0] == headers[1] == ["", "HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", ""]


def test_a_real_etcd_restores_our_snapshot_with_revisions_leases_and_compaction(ours, tmp_path):
    cluster, lease = ours
    snapshot = _save(cluster, tmp_path / "ours.db")
    revision, kvs = _kvs(cluster.endpoints)
    restored = _restored_cluster("ours", snapshot, tmp_path / "restored")
    try:
        restored.start_all()

        assert _kvs(restored.endpoints) == (revision, kvs)
        assert _leases(restored.endpoints) == [lease]
        assert _lease_shown(restored.endpoints, lease) == (
            f"lease {lease} granted with TTL({LEASE_TTL}s), remaining(...), "
            "attached keys([k/c])\n"
        )
        assert _compacted_error(restored.endpoints) == _compacted_error(cluster.endpoints)
        assert "required revision has been compacted" in _compacted_error(restored.endpoints)
    finally:
        restored.stop_all()


def test_our_member_restores_a_real_etcd_snapshot_with_revisions_leases_and_compaction(
    real, tmp_path
):
    cluster, lease = real
    snapshot = _save(cluster, tmp_path / "real.db")
    revision, kvs = _kvs(cluster.endpoints)
    restored = _restored_cluster("real", snapshot, tmp_path / "restored")
    [member] = restored.members
    try:
        restored.start_all()

        assert _kvs(restored.endpoints) == (revision, kvs)
        assert _leases(restored.endpoints) == [lease]
        assert _lease_shown(restored.endpoints, lease) == (
            f"lease {lease} granted with TTL({LEASE_TTL}s), remaining(...), "
            "attached keys([k/c])\n"
        )
        assert _compacted_error(restored.endpoints) == _compacted_error(cluster.endpoints)
        members = etcdctl(restored.endpoints, "member", "list").stdout
        assert member.name in members and member.peer_url in members
        assert len(members.splitlines()) == 1
    finally:
        restored.stop_all()


def _fill_large(endpoint: str) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        for i in range(LARGE_KEYS):
            value = (b"%d" % i) * (5000 if i % 100 == 0 else 100)  # some overflow pages
            kv.Put(rpc_pb2.PutRequest(key=b"big/%06d" % i, value=value), timeout=10)
        kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"big/000100"), timeout=10)


def _range_large(endpoint: str) -> rpc_pb2.RangeResponse:
    with grpc.insecure_channel(endpoint) as channel:
        return rpc_pb2_grpc.KVStub(channel).Range(
            rpc_pb2.RangeRequest(key=b"big/", range_end=b"big0"), timeout=10
        )


@pytest.mark.parametrize("saved_by", ["ours", "real"])
def test_a_large_snapshot_with_branch_and_overflow_pages_restores_across(saved_by, tmp_path):
    command = OUR_MEMBER if saved_by == "ours" else (str(ETCD),)
    with running_cluster(tmp_path / saved_by, 1, command) as cluster:
        _fill_large(cluster.members[0].endpoint)
        snapshot = _save(cluster, tmp_path / "saved.db")
        expected = _range_large(cluster.members[0].endpoint)
    assert _status(snapshot)["revision"] == expected.header.revision
    restored = _restored_cluster(saved_by, snapshot, tmp_path / "restored")
    try:
        restored.start_all()
        got = _range_large(restored.members[0].endpoint)

        assert got.header.revision == expected.header.revision
        assert list(got.kvs) == list(expected.kvs)
        assert len(got.kvs) == LARGE_KEYS - 1
    finally:
        restored.stop_all()


def _bad_files(snapshot: Path, directory: Path) -> dict[str, Path]:
    data = snapshot.read_bytes()
    foreign = b"SQLite format 3\0".ljust(8192, b"\0")
    files = {
        "truncated": data[: len(data) // 2],
        "wrong hash": data[:-32] + bytes(32),
        # whole pages with a right digest: only the database check can tell
        "another program": foreign + hashlib.sha256(foreign).digest(),
    }
    for name, content in files.items():
        (directory / name.replace(" ", "-")).write_bytes(content)
    return {name: directory / name.replace(" ", "-") for name in files}


@pytest.mark.parametrize("kind", ["truncated", "wrong hash", "another program"])
def test_a_bad_snapshot_file_is_refused_by_both_and_nothing_is_written(ours, tmp_path, kind):
    bad = _bad_files(_save(ours[0], tmp_path / "ours.db"), tmp_path)[kind]
    [member] = ProcessCluster.new(tmp_path / "restored", 1).members
    member.extra_args = (f"--restore-from={bad}",)

    theirs = etcdctl("", "snapshot", "restore", str(bad), f"--data-dir={tmp_path / 'real'}")
    mine = subprocess.run(
        [*OUR_MEMBER, *member.args()], capture_output=True, text=True, timeout=60, check=False
    )
    print(f"{kind}: etcdctl says {theirs.stderr.strip()!r}; ours says {mine.stderr.strip()!r}")

    assert theirs.returncode != 0
    assert mine.returncode != 0
    expected = {
        "truncated": "snapshot missing hash but --skip-hash-check=false",
        "wrong hash": "sha256 mismatch: expected sha256",
        "another program": "invalid database",
    }[kind]
    assert expected in mine.stderr
    assert "Traceback" not in mine.stderr
    assert not (member.data_dir / "member").exists()  # only its log, no WAL and no backend


def test_our_member_restores_a_real_etcds_data_dir_db_with_the_hash_check_skipped(tmp_path):
    with running_cluster(tmp_path / "real", 1, (str(ETCD),)) as cluster:
        lease = _write_the_same_history(cluster)
        revision, kvs = _kvs(cluster.endpoints)
        cluster.stop_all()
        db = cluster.members[0].data_dir / "member" / "snap" / "db"
    restored = ProcessCluster.new(tmp_path / "restored", 1, token="restored")
    [member] = restored.members
    member.extra_args = (f"--restore-from={db}", "--restore-skip-hash-check")
    try:
        restored.start_all()

        assert _kvs(restored.endpoints) == (revision, kvs)
        assert _leases(restored.endpoints) == [lease]
    finally:
        restored.stop_all()
