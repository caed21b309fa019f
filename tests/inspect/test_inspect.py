"""The inspectors (python -m node.inspect wal|snap|db) on a real member's data directory:
what a user checks is there, the filters work, damage is named, a live member keeps serving."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import trio

from node.messages.kv import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)
from node.messages.lease import LeaseGrantRequest
from tests.server.harness import Cluster, cluster_configs


async def inspect(*args: str | Path) -> trio.CompletedProcess:
    """Run the inspector as the console does: a child process with this Python."""
    return await trio.run_process(
        [sys.executable, "-m", "node.inspect", *map(str, args)],
        capture_stdout=True, capture_stderr=True, check=False,
    )


def json_rows(done: trio.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


async def write_history(server) -> int:
    """Puts, a txn, a lease with a key on it, a delete and a compaction; the lease id."""
    for i in range(6):
        await server.put(PutRequest(key=f"demo/k{i}".encode(), value=f"v{i}".encode()))
    await server.put(PutRequest(key=b"demo/k1", value=b"v1-again"))
    await server.txn(TxnRequest(
        compare=[Compare(CompareResult.EQUAL, CompareTarget.VALUE, b"demo/k1", value=b"v1-again")],
        success=[RequestOp(request_put=PutRequest(key=b"demo/txn", value=b"yes"))],
        failure=[RequestOp(request_put=PutRequest(key=b"demo/txn", value=b"no"))],
    ))
    lease = await server.lease_grant(LeaseGrantRequest(ttl=600))
    await server.put(PutRequest(key=b"demo/leased", value=b"held", lease=lease.id))
    await server.delete_range(DeleteRangeRequest(key=b"demo/k5"))
    await server.compact(CompactionRequest(revision=3))
    return lease.id


@pytest.fixture
async def member_dir(tmp_path):
    """A one-member cluster's data dir (snapshots every 8 entries) with history in it, the
    member still running; yields (data dir, server, lease id)."""
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, snapshot_count=8))
        await cluster.start_all()
        server = await cluster.leader()
        lease_id = await write_history(server)
        yield Path(cluster.members[0].config.data_dir), server, lease_id
        nursery.cancel_scope.cancel()


async def test_wal_shows_segments_records_and_decoded_requests_on_a_live_member(member_dir):
    data_dir, server, lease_id = member_dir
    done = await inspect("wal", data_dir)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "segment 0000000000000000-0000000000000000.wal" in text
    assert "metadata member" in text
    assert 'put "demo/k0" "v0"' in text
    assert f'put "demo/leased" "held" lease={lease_id:x}' in text
    assert f"lease grant id={lease_id:x} ttl=600" in text
    assert 'txn if value("demo/k1") = "v1-again" then [put "demo/txn" "yes"]' in text
    assert 'del "demo/k5"' in text
    assert "compaction revision=3" in text
    assert "EntryConfChange v" in text
    assert "hardstate Term:" in text
    assert "snapshot marker term" in text
    # the member was read beside, not disturbed
    put = await server.put(PutRequest(key=b"after", value=b"inspect"))
    assert put.revision > 0
    got = await server.range(RangeRequest(key=b"after"))
    assert got.kvs[0].value == b"inspect"


async def test_wal_filters_by_index_range_and_type(member_dir):
    data_dir, _, _ = member_dir
    rows = json_rows(await inspect("-w", "json", "wal", data_dir, "--types", "put"))
    records = [row for row in rows if row["row"] == "record"]
    assert records and all(row["request"]["kind"] == "put" for row in records)
    assert {row["request"]["key"] for row in records} >= {"demo/k0", "demo/leased"}
    for row in records:
        assert row["bytes"] > 0 and len(row["crc"]) == 8 and row["offset"] > 0
    rows = json_rows(
        await inspect("-w", "json", "wal", data_dir, "--start-index", "5", "--end-index", "7")
    )
    entries = [row for row in rows if row["row"] == "record" and row["type"] == "entry"]
    assert [row["index"] for row in entries] == [5, 6, 7]
    rows = json_rows(await inspect("-w", "json", "wal", data_dir, "--types", "IRRTxn,hardstate"))
    kinds = {row.get("request", {}).get("kind", row["type"]) for row in rows
             if row["row"] == "record"}
    assert kinds == {"txn", "hardstate"}
    bad = await inspect("wal", data_dir, "--types", "puts")
    assert bad.returncode == 1
    assert b"unknown record type 'puts'" in bad.stderr and b"Traceback" not in bad.stderr


async def test_snap_lists_snapshots_with_conf_state_and_their_wal_markers(member_dir):
    data_dir, server, _ = member_dir
    rows = json_rows(await inspect("-w", "json", "snap", data_dir))
    snapshots = [row for row in rows if row["row"] == "snapshot"]
    assert snapshots
    for row in snapshots:
        assert row["index"] > 0 and row["term"] > 0 and row["size"] > 0
        assert row["voters"] == [f"{server.member_id:x}"]
        assert row["wal_marker"].startswith("0000000000000000-0000000000000000.wal @")
    newest = snapshots[-1]
    snap_dir = data_dir / "member" / "snap"
    shutil.copy(snap_dir / newest["file"], snap_dir / (newest["file"] + ".broken"))
    text = (await inspect("snap", data_dir)).stdout.decode()
    assert f"{newest['file']}.broken" in text and "broken" in text
    assert f"term {newest['term']}  index {newest['index']}  Voters:[{server.member_id:x}]" in text


async def test_db_shows_meta_revisions_tombstones_leases_and_members(member_dir):
    data_dir, server, lease_id = member_dir
    rows = json_rows(await inspect("-w", "json", "db", data_dir))
    buckets = {row["bucket"]: row["entries"] for row in rows if row["row"] == "bucket"}
    assert buckets["key"] > 0 and buckets["members"] == 1 and buckets["lease"] == 1
    meta = next(row for row in rows if row["row"] == "meta")
    assert meta["consistent_index"] > 10 and meta["term"] >= 1
    assert meta["scheduled_compact_revision"] == 3
    revisions = [row for row in rows if row["row"] == "key_revision"]
    k1 = [row for row in revisions if row["key"] == "demo/k1"]
    # compacted at 3: k1's first put (revision 3) is the one kept at the compaction point
    assert [(row["mod_revision"], row["version"], row["value"]) for row in k1][-1] == (
        8, 2, "v1-again"
    )
    assert any(row["key"] == "demo/k5" and row["tombstone"] for row in revisions)
    leased = next(row for row in revisions if row["key"] == "demo/leased")
    assert leased["lease"] == f"{lease_id:x}"
    lease = next(row for row in rows if row["row"] == "lease")
    assert lease["id"] == f"{lease_id:x}" and lease["ttl"] == 600
    assert lease["keys"] == ["demo/leased"]
    member = next(row for row in rows if row["row"] == "member")
    assert member["id"] == f"{server.member_id:x}" and member["name"] == "m0"
    text = (await inspect("db", data_dir, "--prefix", "demo/k1")).stdout.decode()
    assert 'key "demo/k1"' in text and 'key "demo/k2"' not in text
    assert "create 3  mod 8  version 2  value \"v1-again\"" in text


async def test_a_corrupt_wal_is_named_with_its_offset(member_dir, tmp_path):
    data_dir, _, _ = member_dir
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("*.mdb"))
    segments = sorted((copy / "member" / "wal").glob("*.wal"))
    rows = json_rows(await inspect("-w", "json", "wal", copy))
    victim = next(row for row in rows if row["row"] == "record" and row["type"] == "entry"
                  and row["segment"] == segments[0].name)
    with segments[0].open("r+b") as file:
        file.seek(victim["offset"] + 10)
        byte = file.read(1)
        file.seek(victim["offset"] + 10)
        file.write(bytes([byte[0] ^ 0xFF]))
    done = await inspect("wal", copy)
    assert done.returncode == 1
    error = done.stderr.decode()
    assert "Traceback" not in error
    assert str(segments[0]) in error and f"at byte offset {victim['offset']}" in error
    # the records before the damage were shown
    assert "metadata member" in done.stdout.decode()


async def test_bad_paths_and_files_get_a_clear_message(tmp_path):
    done = await inspect("wal", tmp_path)
    assert done.returncode == 1
    assert b"is no member data directory" in done.stderr and b"Traceback" not in done.stderr
    backend = tmp_path / "member" / "backend"
    backend.mkdir(parents=True)
    (backend / "data.mdb").write_bytes(b"not an lmdb file" * 512)
    done = await inspect("db", tmp_path)
    assert done.returncode == 1
    assert str(backend / "data.mdb").encode() in done.stderr
    assert b"Traceback" not in done.stderr
    done = await inspect("wal", tmp_path)
    assert done.returncode == 1 and b"wal: file not found" in done.stderr



async def test_a_torn_tail_is_reported_and_left_alone(member_dir, tmp_path):
    data_dir, _, _ = member_dir
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("*.mdb"))
    rows = json_rows(await inspect("-w", "json", "wal", copy))
    last = [row for row in rows if row["row"] == "segment"][-1]
    segment = copy / "member" / "wal" / last["segment"]
    # half a record: a header promising 100 bytes, 20 of them written, the rest never landed
    with segment.open("r+b") as file:
        file.seek(last["records_end"])
        file.write((100).to_bytes(4, "big") + b"\x12\x34\x56\x78" + b"\x82\x02" + b"x" * 18)
    before = segment.read_bytes()
    done = await inspect("wal", copy)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert f"@{last['records_end']}  torn tail" in text
    assert "a torn tail after" in text
    assert segment.read_bytes() == before
