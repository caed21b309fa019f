"""The backend in etcd 3.4's own layout, as a bbolt file: what `Maintenance.Snapshot` sends
and what `--restore-from` reads, so snapshots move both ways between our members and etcd.

etcd's buckets and encodings (mvcc/kvstore.go, lease/lessor.go, membership/store.go,
auth/store.go): `key` holds revision keys (as ours) with protobuf mvccpb.KeyValue values;
`meta` the consistent index (8 bytes big-endian) and the compaction revisions; `lease`
leasepb.Lease values; `members` JSON under the member id in hex, `members_removed` "removed";
`cluster` the cluster version; `alarm` AlarmMember protobufs as keys; `auth` (enabled flag,
auth revision), `authUsers` and `authRoles` (authpb protobufs) as the backend keeps them.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cbor2
from google.protobuf.message import DecodeError

from node.bbolt.page import BoltFormatError
from node.bbolt.reader import open_bolt
from node.bbolt.writer import write_bolt
from node.lease.lease import Lease
from node.lease.lessor import LEASE_BUCKET
from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.leasepb import lease_pb2
from node.messages.gen.mvccpb import kv_pb2
from node.messages.key_value import KeyValue
from node.mvcc.backend import (
    CONSISTENT_INDEX_KEY,
    FINISHED_COMPACT_KEY,
    SCHEDULED_COMPACT_KEY,
    Backend,
    ReadView,
    encode_u64,
)
from node.mvcc.records import REVISION_BYTES, decode_key_value, encode_key_value, is_tombstone
from node.server.alarms import ALARM
from node.server.auth_store import AUTH, AUTH_ROLES, AUTH_USERS, REVISION_KEY
from node.server.cluster import MEMBERS, member_from_wire

KEY = b"key"
META = b"meta"
CLUSTER_VERSION = b"3.4.0"
"""What etcd 3.4 stores under `cluster`/clusterVersion (major.minor.0)."""
_ALARM_KEY = struct.Struct(">QB")
AUTH_BUCKETS = (AUTH, AUTH_ROLES, AUTH_USERS)
FRESH_AUTH_REVISION = encode_u64(1)
"""A fresh etcd's auth revision (auth/store.go commits 1 when it creates the buckets)."""


class SnapshotFormatError(Exception):
    """A file that is not an etcd snapshot database (etcd's or bbolt's words where it has
    them)."""


def _member_json(value: bytes) -> bytes:
    """A member as etcd's json.Marshal(Member) writes it (omitempty fields left out)."""
    member = member_from_wire(cbor2.loads(value))
    doc: dict[str, object] = {"id": member.id, "peerURLs": list(member.peer_urls)}
    if member.is_learner:
        doc["isLearner"] = True
    if member.name:
        doc["name"] = member.name
    if member.client_urls:
        doc["clientURLs"] = list(member.client_urls)
    return json.dumps(doc, separators=(",", ":")).encode()


def _etcd_buckets(view: ReadView) -> Iterator[tuple[bytes, Iterable[tuple[bytes, bytes]]]]:
    """Our backend's buckets in etcd's layout, in bucket-name order, keys in key order."""
    alarms = [
        rpc_pb2.AlarmMember(memberID=member_id, alarm=alarm).SerializeToString()
        for member_id, alarm in (_ALARM_KEY.unpack(key) for key, _ in view.items(ALARM))
    ]
    yield b"alarm", [(key, b"") for key in sorted(alarms)]
    auth = dict(view.items(AUTH))
    auth.setdefault(REVISION_KEY, FRESH_AUTH_REVISION)
    yield AUTH, sorted(auth.items())
    yield AUTH_ROLES, list(view.items(AUTH_ROLES))  # authpb protobufs, as etcd stores them
    yield AUTH_USERS, list(view.items(AUTH_USERS))
    yield b"cluster", [(b"clusterVersion", CLUSTER_VERSION)]
    yield KEY, (
        (revision, _key_value_pb(decode_key_value(value))) for revision, value in view.items(KEY)
    )
    yield b"lease", (
        (key, _lease_pb(value)) for key, value in view.items(LEASE_BUCKET)
    )
    members, removed = [], []
    for key, value in view.items(MEMBERS):
        member_key = b"%x" % struct.unpack(">Q", key[1:])[0]
        if key[:1] == b"m":
            members.append((member_key, _member_json(value)))
        else:
            removed.append((member_key, b"removed"))
    yield b"members", sorted(members)
    yield b"members_removed", sorted(removed)
    meta = []
    raw_index = view.get(META, CONSISTENT_INDEX_KEY)
    if raw_index is not None:
        meta.append((CONSISTENT_INDEX_KEY, raw_index[:8]))
    for name in (FINISHED_COMPACT_KEY, SCHEDULED_COMPACT_KEY):
        raw = view.get(META, name)
        if raw is not None:
            meta.append((name, raw))
    yield META, meta


def _lease_pb(value: bytes) -> bytes:
    lease = Lease.decode(value, time.monotonic)
    return lease_pb2.Lease(
        ID=lease.id, TTL=lease.ttl, RemainingTTL=lease.remaining_ttl
    ).SerializeToString()


def export_snapshot_db(backend: Backend, dest: Path) -> int:
    """Write `backend`'s state as etcd 3.4's bbolt database at `dest`, read through one view
    so it is one revision's state (the server passes a copy it took under the backend lock);
    returns the file's size."""
    with backend.read() as view:
        return write_bolt(dest, _etcd_buckets(view))


def import_snapshot_db(source: Path, backend: Backend) -> None:
    """Fill the empty `backend` from etcd's bbolt database at `source`: keys with their
    revisions, leases, the compaction revisions and the auth state (users, roles, the enabled
    flag and the auth revision), as etcd's restore keeps them. Members, removed members and
    alarms are left out: the restored member's cluster is the one
    --initial-cluster names. Raises SnapshotFormatError when `source` is not one."""
    try:
        with open_bolt(source) as db, backend.write() as view:
            if KEY not in db.bucket_names():
                raise SnapshotFormatError(f"{source} is not an etcd snapshot: no `key` bucket")
            for revision, value in db.items(KEY):
                if len(revision) != REVISION_BYTES and not is_tombstone(revision):
                    raise SnapshotFormatError(f"{source}: `key` bucket key {revision!r:.60} "
                                              "is not a revision")
                view.put(KEY, revision, encode_key_value(_key_value(value)))
            for lease_key, value in db.items(LEASE_BUCKET):
                lease = lease_pb2.Lease.FromString(value)
                view.put(LEASE_BUCKET, lease_key, Lease(lease.ID, lease.TTL,
                                                        lease.RemainingTTL).encode())
            for name, value in db.items(META):
                if name in (SCHEDULED_COMPACT_KEY, FINISHED_COMPACT_KEY):
                    view.put(META, name, value)
            for bucket in AUTH_BUCKETS:
                for key, value in db.items(bucket):
                    view.put(bucket, key, value)
    except BoltFormatError as exc:
        raise SnapshotFormatError(str(exc)) from exc
    except DecodeError as exc:
        raise SnapshotFormatError(f"{source}: undecodable record: {exc}") from exc
    backend.set_consistent_index(0, 0)


def _key_value_pb(kv: KeyValue) -> bytes:
    """mvccpb.KeyValue's bytes (the generated C-backed protobuf: the export's hot path)."""
    return kv_pb2.KeyValue(
        key=kv.key, create_revision=kv.create_revision, mod_revision=kv.mod_revision,
        version=kv.version, value=kv.value, lease=kv.lease,
    ).SerializeToString()


def _key_value(value: bytes) -> KeyValue:
    kv = kv_pb2.KeyValue.FromString(value)
    return KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value,
                    kv.lease)
