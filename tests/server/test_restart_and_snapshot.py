"""Restart from the data dir, snapshots every snapshot_count entries, catching up by a
streamed backend, and rebuilding a member from a Maintenance.Snapshot file."""

from __future__ import annotations

import hashlib

import pytest
import trio

from node.messages.cluster import MemberListRequest
from node.messages.kv import PutRequest, RangeRequest
from node.messages.maintenance import HashKVRequest, SnapshotRequest
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.server.bootstrap import bootstrap
from node.server.config import ServerConfig
from node.server.maintenance import SnapshotFileError
from node.server.member_storage import DataPaths
from node.server.snapshot_db import export_snapshot_db
from node.wal import WAL
from node.wal.snapshotter import Snapshotter
from tests.server.harness import (
    Cluster,
    cluster_configs,
    member_config,
    reserve_peer_port,
    wait_for,
)


async def _hash_kv(server):
    return (await server.hash_kv(HashKVRequest())).hash


async def test_a_restarted_member_catches_up_with_identical_hash(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, snapshot_count=20))
        await cluster.start_all()
        leader = await cluster.leader()
        victim = cluster.members[
            [s.member_id for s in cluster.running].index(cluster.followers(leader)[0].member_id)
        ]
        for i in range(30):
            await leader.put(PutRequest(key=f"k{i}".encode(), value=b"before"))
        await wait_for(lambda: victim.server.applied_index == leader.applied_index)
        await cluster.stop(victim)
        for i in range(5):
            await leader.put(PutRequest(key=f"k{i}".encode(), value=b"while down"))
        server = await cluster.start(victim)
        assert server.applied_index >= 30  # it came back from its own WAL, snapshot and backend
        await wait_for(lambda: server.applied_index == leader.applied_index)
        assert await _hash_kv(server) == await _hash_kv(leader)
        got = await server.range(RangeRequest(key=b"k0", serializable=True))
        assert got.kvs[0].value == b"while down"
        nursery.cancel_scope.cancel()


async def test_a_member_far_behind_catches_up_by_snapshot(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, snapshot_count=20))
        await cluster.start_all()
        leader = await cluster.leader()
        lagging = next(mb for mb in cluster.members if mb.server is cluster.followers(leader)[0])
        await cluster.stop(lagging)
        snapshots = leader.subscribe_events()
        for i in range(80):
            await leader.put(PutRequest(key=f"k{i:03}".encode(), value=b"x" * 100))
        raft_storage = leader._raft_node.storage.raft_storage
        assert raft_storage.first_index() > 2  # the log no longer reaches back to the start
        server = await cluster.start(lagging)
        await wait_for(lambda: server.applied_index >= leader.applied_index)
        sent = [
            e
            for e in snapshots.drain()
            if e.kind == "snapshot" and e.fields.get("action") == "sent"
        ]
        assert sent and sent[0].fields["peer"] == server.member_id
        assert sent[0].fields["ok"] is True, "a delivered snapshot is reported as delivered"
        received = list(server.paths.snap.glob("*.snap")) != []
        assert received
        assert await _hash_kv(server) == await _hash_kv(leader)
        got = await server.range(RangeRequest(key=b"k", range_end=b"l", serializable=True))
        assert got.count == 80
        assert len(got.kvs) == 80
        nursery.cancel_scope.cancel()


async def test_snapshots_compact_the_wal_and_keep_the_data(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, snapshot_count=20))
        member = cluster.members[0]
        await cluster.start_all()
        server = await cluster.leader()
        for i in range(300):
            await server.put(PutRequest(key=b"k", value=b"y" * 10_000 + str(i).encode()))
        # 3 MB went through 1 MiB segments: the ones before the last snapshot are gone
        assert len(list(server.paths.wal.glob("*.wal"))) <= 2
        assert 1 <= len(list(server.paths.snap.glob("*.snap"))) <= 5
        assert server._raft_node.storage.raft_storage.first_index() > 250
        await cluster.stop(member)
        server = await cluster.start(member)
        leader = await cluster.leader()
        got = await leader.range(RangeRequest(key=b"k"))
        assert got.kvs[0].value.endswith(b"299")
        nursery.cancel_scope.cancel()


async def test_the_backend_is_forced_to_disk_before_a_snapshot_releases_the_wal(
    tmp_path, monkeypatch
):
    steps: list[str] = []

    def recording(cls, method, step):
        original = getattr(cls, method)

        def record(self, *args):
            steps.append(step)
            return original(self, *args)

        monkeypatch.setattr(cls, method, record)

    recording(Backend, "sync", "backend synced")
    recording(Snapshotter, "save", "snapshot saved")
    recording(WAL, "release_before", "wal released")
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, snapshot_count=20))
        await cluster.start_all()
        server = await cluster.leader()
        for i in range(30):
            await server.put(PutRequest(key=b"k", value=str(i).encode()))
        await wait_for(lambda: "wal released" in steps)
        nursery.cancel_scope.cancel()
    assert steps[:3] == ["backend synced", "snapshot saved", "wal released"]


async def test_a_snapshot_file_restores_a_new_cluster_with_keys_and_revisions(tmp_path):
    snapshot_file = tmp_path / "backup.db"
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path / "old", 1))
        await cluster.start_all()
        server = await cluster.leader()
        for i in range(10):
            await server.put(PutRequest(key=f"k{i}".encode(), value=str(i).encode()))
        revision = (await server.range(RangeRequest(key=b"k0"))).revision
        chunks = [chunk async for chunk in server.snapshot(SnapshotRequest())]
        nursery.cancel_scope.cancel()
    data = b"".join(c.blob for c in chunks[:-1])
    assert chunks[-1].remaining_bytes == 0
    assert chunks[-1].blob == hashlib.sha256(data).digest()
    assert [c.remaining_bytes for c in chunks[:-1]][-1] == 0
    assert (len(data) + 32) % 512 == 32  # what etcdctl looks for to verify the digest
    snapshot_file.write_bytes(data + chunks[-1].blob)

    port = reserve_peer_port()
    restored: ServerConfig = member_config(
        tmp_path / "new",
        "restored",
        port,
        {"restored": [f"http://127.0.0.1:{port}"]},
        restore_from=str(snapshot_file),
    )
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, [restored])
        await cluster.start_all()
        server = await cluster.leader()
        got = await server.range(RangeRequest(key=b"k", range_end=b"l"))
        assert [kv.value for kv in got.kvs] == [str(i).encode() for i in range(10)]
        assert got.revision == revision
        members = (await server.member_list(MemberListRequest())).members
        assert [mb.name for mb in members] == ["restored"]
        nursery.cancel_scope.cancel()


async def test_a_corrupt_snapshot_file_is_refused(tmp_path):
    snapshot_file = tmp_path / "bad.db"
    snapshot_file.write_bytes(b"\0" * 4096 + b"\1" * 32)
    port = reserve_peer_port()
    config = member_config(
        tmp_path, "m", port, {"m": [f"http://127.0.0.1:{port}"]}, restore_from=str(snapshot_file)
    )
    with pytest.raises(SnapshotFileError, match="sha256 mismatch"):
        await bootstrap(config, DataPaths(tmp_path / "m"), 1 << 20)


def _restore_config(tmp_path, snapshot_file, **flags) -> ServerConfig:
    port = reserve_peer_port()
    return member_config(
        tmp_path, "m", port, {"m": [f"http://127.0.0.1:{port}"]},
        restore_from=str(snapshot_file), **flags,
    )


async def test_a_file_of_another_program_is_an_invalid_database_and_nothing_is_left(tmp_path):
    snapshot_file = tmp_path / "other.db"
    content = b"SQLite format 3\0".ljust(8192, b"\0")
    snapshot_file.write_bytes(content + hashlib.sha256(content).digest())
    paths = DataPaths(tmp_path / "m")

    with pytest.raises(SnapshotFileError, match="invalid database"):
        await bootstrap(_restore_config(tmp_path, snapshot_file), paths, 1 << 20)
    assert not paths.member.exists()


async def test_a_bare_database_restores_only_with_the_hash_check_skipped(tmp_path):
    source = Backend(tmp_path / "source")
    with KVStore(source).write() as txn:
        txn.put(b"k", b"v")
    export_snapshot_db(source, tmp_path / "bare.db")
    source.close()

    with pytest.raises(SnapshotFileError, match="snapshot missing hash but --skip-hash-check"):
        await bootstrap(_restore_config(tmp_path, tmp_path / "bare.db"),
                        DataPaths(tmp_path / "refused"), 1 << 20)
    booted = await bootstrap(
        _restore_config(tmp_path, tmp_path / "bare.db", restore_skip_hash_check=True),
        DataPaths(tmp_path / "m"), 1 << 20,
    )
    try:
        with KVStore(booted.backend).read() as txn:
            [kv] = txn.range(b"k").kvs
        assert (kv.value, kv.mod_revision) == (b"v", 2)
    finally:
        booted.storage.close()
        booted.backend.close()
