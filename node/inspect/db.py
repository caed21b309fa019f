"""`inspect db`: a member's backend (etcd's etcd-dump-db): its buckets and their counts, the
consistent index, the compaction revisions, every revision of every key, the leases with the
keys attached to them, the members and the alarms.

The LMDB environment is opened read-only with LMDB's lock file, as a reader of a live
database must be: the reader takes a slot in the reader table, so the member writing beside
it never reuses the pages of the snapshot it reads. Everything comes from one read
transaction, one consistent state.
"""

from __future__ import annotations

import errno
import struct
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import lmdb

from node.inspect.rows import InspectError, Row, show_bytes
from node.messages.key_value import KeyValue
from node.messages.maintenance import AlarmType
from node.mvcc.backend import (
    BUCKETS,
    CONSISTENT_INDEX_KEY,
    FINISHED_COMPACT_KEY,
    SCHEDULED_COMPACT_KEY,
)
from node.mvcc.records import Revision, decode_key_value, is_tombstone
from node.raft.describe import quote
from node.server.alarms import ALARM
from node.server.cluster import MEMBERS, member_from_wire
from node.server.member_storage import DataPaths

_U64_PAIR = struct.Struct(">QQ")
_ALARM_KEY = struct.Struct(">QB")
_DATA_FILE = "data.mdb"


def inspect_db(paths: DataPaths, prefix: bytes = b"") -> Iterator[Row]:
    """Rows describing the backend; keys (and their revisions) only those under `prefix`."""
    data_file = paths.backend / _DATA_FILE
    if not data_file.is_file():
        raise InspectError(f"{data_file}: no backend database there")
    unlocked = False
    try:
        env = _open_readonly(paths.backend, lock=True)
    except lmdb.ReadonlyError:
        # no writing the lock file (a read-only copy): then no member writes there either
        env, unlocked = _open_readonly(paths.backend, lock=False), True
    except lmdb.Error as exc:
        raise InspectError(f"{data_file} is not a readable LMDB database: {exc}") from None
    try:
        with env.begin() as txn:
            if unlocked:
                yield Row(
                    f"(read without LMDB's lock file, which cannot be written here: if a member "
                    f"writes {data_file} now, what follows may be inconsistent)",
                    {"row": "note", "note": "read without the lock file"},
                )
            yield from _describe(env, txn, data_file, prefix)
    except lmdb.Error as exc:
        raise InspectError(f"{data_file}: cannot be read: {exc}") from None
    finally:
        env.close()


def _open_readonly(directory: Path, *, lock: bool) -> Any:
    try:
        return lmdb.open(
            str(directory), readonly=True, create=False, lock=lock, max_dbs=len(BUCKETS) + 2,
            readahead=False,
        )
    except lmdb.Error as exc:
        if lock and getattr(exc, "errno", None) in (errno.EACCES, errno.EROFS):
            raise lmdb.ReadonlyError(str(exc)) from exc
        raise


def _describe(env: Any, txn: Any, data_file: Path, prefix: bytes) -> Iterator[Row]:
    size = data_file.stat().st_size
    yield Row(f"backend {data_file}  {size} bytes", {"row": "backend", "file": str(data_file),
                                                     "size": size})
    dbs = {}
    for name in BUCKETS:
        try:
            dbs[name] = env.open_db(name, txn=txn, create=False)
        except lmdb.NotFoundError:
            yield Row(f"bucket {name.decode():<8} missing", {"row": "bucket",
                                                             "bucket": name.decode(),
                                                             "entries": None})
            continue
        entries = txn.stat(dbs[name])["entries"]
        yield Row(f"bucket {name.decode():<8} {entries} entries",
                  {"row": "bucket", "bucket": name.decode(), "entries": entries})
    if b"meta" in dbs:
        yield _meta_row(txn, dbs[b"meta"])
    if b"key" in dbs:
        yield from _key_rows(txn, dbs[b"key"], prefix, dbs.get(b"lease"))
    if MEMBERS in dbs:
        yield from _member_rows(txn, dbs[MEMBERS])
    if ALARM in dbs:
        for raw, _ in txn.cursor(db=dbs[ALARM]):
            member_id, alarm = _ALARM_KEY.unpack(raw)
            alarm_name = AlarmType(alarm).name
            yield Row(f"alarm {alarm_name} member {member_id:x}",
                      {"row": "alarm", "alarm": alarm_name, "member_id": f"{member_id:x}"})


def _meta_row(txn: Any, meta: Any) -> Row:
    raw = txn.get(CONSISTENT_INDEX_KEY, db=meta)
    index, term = _U64_PAIR.unpack(raw) if raw else (0, 0)
    scheduled, finished = (
        Revision.from_bytes(raw).main if (raw := txn.get(key, db=meta)) else 0
        for key in (SCHEDULED_COMPACT_KEY, FINISHED_COMPACT_KEY)
    )
    return Row(
        f"consistent index {index} term {term}; compaction scheduled at revision {scheduled}, "
        f"finished at revision {finished}",
        {"row": "meta", "consistent_index": index, "term": term,
         "scheduled_compact_revision": scheduled, "finished_compact_revision": finished},
    )


def _key_rows(txn: Any, key_db: Any, prefix: bytes, lease_db: Any) -> Iterator[Row]:
    history: dict[bytes, list[tuple[Revision, bool, KeyValue]]] = defaultdict(list)
    last_revision = 0
    for raw, value in txn.cursor(db=key_db):
        revision = Revision.from_bytes(raw)
        last_revision = max(last_revision, revision.main)
        kv = decode_key_value(value)
        if kv.key.startswith(prefix):
            history[kv.key].append((revision, is_tombstone(raw), kv))
    yield Row(f"revision {last_revision} (the newest in the key bucket)",
              {"row": "revision", "revision": last_revision})
    attached: dict[int, list[bytes]] = defaultdict(list)
    for key in sorted(history):
        yield Row(f"key {quote(key)}", {"row": "key", "key": key})
        for revision, tombstone, kv in history[key]:
            yield _revision_row(revision, tombstone, kv)
        _, tombstone, latest = history[key][-1]
        if not tombstone and latest.lease:
            attached[latest.lease].append(key)
    if lease_db is not None:
        for _, raw in txn.cursor(db=lease_db):
            lease_id, ttl, remaining_ttl = cbor2.loads(raw)
            keys = attached.get(lease_id, [])
            shown = " ".join(quote(key) for key in keys) or "none"
            scope = f" under {quote(prefix)}" if prefix else ""
            yield Row(
                f"lease {lease_id:x}  ttl {ttl}  remaining ttl checkpointed {remaining_ttl}  "
                f"keys{scope}: {shown}",
                {"row": "lease", "id": f"{lease_id:x}", "ttl": ttl,
                 "remaining_ttl": remaining_ttl, "keys": keys},
            )


def _revision_row(revision: Revision, tombstone: bool, kv: KeyValue) -> Row:
    rev = f"{revision.main}_{revision.sub}"
    fields = {"row": "key_revision", "key": kv.key, "main": revision.main, "sub": revision.sub,
              "tombstone": tombstone}
    if tombstone:
        return Row(f"  rev {rev:<8} tombstone (deleted)", fields)
    lease = f"  lease {kv.lease:x}" if kv.lease else ""
    fields.update(create_revision=kv.create_revision, mod_revision=kv.mod_revision,
                  version=kv.version, lease=f"{kv.lease:x}" if kv.lease else None,
                  value=show_bytes(kv.value))
    return Row(
        f"  rev {rev:<8} create {kv.create_revision}  mod {kv.mod_revision}  "
        f"version {kv.version}{lease}  value {quote(kv.value)}",
        fields,
    )


def _member_rows(txn: Any, members_db: Any) -> Iterator[Row]:
    for raw, value in txn.cursor(db=members_db):
        member_id = struct.unpack(">Q", raw[1:9])[0]
        if raw[:1] == b"r":
            yield Row(f"removed member {member_id:x}",
                      {"row": "removed_member", "id": f"{member_id:x}"})
            continue
        member = member_from_wire(cbor2.loads(value))
        learner = " learner" if member.is_learner else ""
        yield Row(
            f"member {member.id:x}  name {member.name or '(unpublished)'}{learner}  "
            f"peer_urls {','.join(member.peer_urls)}  client_urls {','.join(member.client_urls)}",
            {"row": "member", "id": f"{member.id:x}", "name": member.name,
             "peer_urls": member.peer_urls, "client_urls": member.client_urls,
             "is_learner": member.is_learner},
        )
