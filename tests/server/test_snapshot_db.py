"""Our backend in etcd 3.4's bbolt layout and back: the buckets and encodings etcd reads, and
what a restore keeps (keys with revisions, leases, compaction) and drops (membership, alarms)."""

from __future__ import annotations

import json
import struct

import pytest

from node.bbolt.reader import open_bolt
from node.bbolt.writer import write_bolt
from node.lease.lessor import Lessor
from node.messages.cluster import Member
from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.leasepb import lease_pb2
from node.messages.gen.mvccpb import kv_pb2
from node.messages.maintenance import AlarmType
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.server.alarms import AlarmStore
from node.server.cluster import RaftCluster
from node.server.snapshot_db import SnapshotFormatError, export_snapshot_db, import_snapshot_db

ETCD_BUCKETS = [b"alarm", b"auth", b"authRoles", b"authUsers", b"cluster", b"key", b"lease",
                b"members", b"members_removed", b"meta"]


@pytest.fixture
def backend(tmp_path):
    """A backend with a history (puts, an overwrite, a delete, a lease, a compaction), two
    members of which one was removed, an alarm and a consistent index."""
    backend = Backend(tmp_path / "source")
    lessor = Lessor(backend, min_ttl=1)
    store = KVStore(backend, lessor)
    lessor.grant(0x1234, 600)
    with store.write() as txn:
        txn.put(b"a", b"1")
    with store.write() as txn:
        txn.put(b"b", b"2", lease=0x1234)
    with store.write() as txn:
        txn.put(b"a", b"3")
    with store.write() as txn:
        txn.delete_range(b"a")
    store.compact(2)
    cluster = RaftCluster(backend)
    cluster.add(Member(0xABC, "one", ["http://127.0.0.1:2380"], ["http://127.0.0.1:2379"]))
    cluster.add(Member(0xDEF, "", ["http://127.0.0.1:2480"], is_learner=True))
    cluster.add(Member(0x99, "gone", ["http://127.0.0.1:2580"]))
    cluster.remove(0x99)
    AlarmStore(backend).activate(0xABC, AlarmType.NOSPACE)
    backend.set_consistent_index(42, 7)
    yield backend
    backend.close()


def test_the_export_has_etcds_buckets_and_encodings(backend, tmp_path):
    path = tmp_path / "snapshot.db"

    export_snapshot_db(backend, path)

    with open_bolt(path) as db:
        assert db.bucket_names() == ETCD_BUCKETS
        keys = [(struct.unpack(">Q", rev[:8])[0], rev[8:9], rev[17:], kv_pb2.KeyValue.FromString(v))
                for rev, v in db.items(b"key")]
        assert [(main, kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version,
                 kv.lease, mark) for main, _, mark, kv in keys] == [
            (2, b"a", b"1", 2, 2, 1, 0, b""),
            (3, b"b", b"2", 3, 3, 1, 0x1234, b""),
            (4, b"a", b"3", 2, 4, 2, 0, b""),
            (5, b"a", b"", 0, 0, 0, 0, b"t"),  # a tombstone holds the key alone, as etcd
        ]
        assert all(sep == b"_" for _, sep, _, _ in keys)
        [(lease_key, lease)] = db.items(b"lease")
        assert lease_key == struct.pack(">q", 0x1234)
        assert lease_pb2.Lease.FromString(lease) == lease_pb2.Lease(ID=0x1234, TTL=600)
        members = dict(db.items(b"members"))
        assert json.loads(members[b"abc"]) == {
            "id": 0xABC, "peerURLs": ["http://127.0.0.1:2380"], "name": "one",
            "clientURLs": ["http://127.0.0.1:2379"],
        }
        assert members[b"def"] == (b'{"id":3567,"peerURLs":["http://127.0.0.1:2480"],'
                                   b'"isLearner":true}')
        assert list(db.items(b"members_removed")) == [(b"99", b"removed")]
        [(alarm, empty)] = db.items(b"alarm")
        assert rpc_pb2.AlarmMember.FromString(alarm) == rpc_pb2.AlarmMember(
            memberID=0xABC, alarm=rpc_pb2.NOSPACE
        )
        assert empty == b""
        assert list(db.items(b"cluster")) == [(b"clusterVersion", b"3.4.0")]
        assert list(db.items(b"auth")) == [(b"authRevision", struct.pack(">Q", 1))]
        meta = dict(db.items(b"meta"))
        assert meta[b"consistent_index"] == struct.pack(">Q", 42)
        compacted = struct.pack(">Q", 2) + b"_" + struct.pack(">Q", 0)
        assert meta[b"scheduledCompactRev"] == meta[b"finishedCompactRev"] == compacted


def test_an_import_keeps_keys_revisions_leases_and_compaction_and_drops_membership(
    backend, tmp_path
):
    path = tmp_path / "snapshot.db"
    export_snapshot_db(backend, path)
    restored = Backend(tmp_path / "restored")
    try:
        import_snapshot_db(path, restored)

        assert restored.items(b"key") == backend.items(b"key")
        assert restored.items(b"lease") == backend.items(b"lease")
        assert restored.items(b"members") == []
        assert restored.items(b"alarm") == []
        assert restored.consistent_index() == (0, 0)
        store = KVStore(restored, Lessor(restored, min_ttl=1))
        assert store.current_revision == 5
        assert store.compact_revision == 2
        with store.read() as txn:
            [kv] = txn.range(b"b").kvs
        assert (kv.value, kv.create_revision, kv.mod_revision, kv.lease) == (b"2", 3, 3, 0x1234)
    finally:
        restored.close()


def test_a_bbolt_file_that_is_not_an_etcd_snapshot_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "other.db"
    write_bolt(path, [(b"widgets", [(b"k", b"v")])])
    restored = Backend(tmp_path / "restored")
    try:
        with pytest.raises(SnapshotFormatError, match="not an etcd snapshot: no `key` bucket"):
            import_snapshot_db(path, restored)
        assert restored.items(b"key") == []
    finally:
        restored.close()


def test_a_key_bucket_of_undecodable_records_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "bad.db"
    revision = struct.pack(">Q", 2) + b"_" + struct.pack(">Q", 0)
    write_bolt(path, [(b"key", [(revision, b"\xff\xff\xff")])])
    restored = Backend(tmp_path / "restored")
    try:
        with pytest.raises(SnapshotFormatError, match="undecodable record"):
            import_snapshot_db(path, restored)
        assert restored.items(b"key") == []
    finally:
        restored.close()
