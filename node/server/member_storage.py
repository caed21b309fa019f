"""A member's durable state at start-up: bootstrap a new member, or rebuild a restarting one.

As etcd's server.go start-up paths plus storage.go: a new member creates its WAL (metadata:
member id and cluster id) and hands raft its initial membership; a restarting member loads
the newest snapshot that has a WAL marker, replays the WAL from that marker into a fresh
MemoryStorage, and swaps in the backend received with that snapshot if the backend it has
is older (a crash between receiving and installing it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cbor2

from node.messages.cluster import Member
from node.mvcc.backend import Backend
from node.raft import ConfState, Entry, HardState, MemoryStorage, Snapshot
from node.wal import SEGMENT_SIZE, WAL, Snapshotter, WalSnapshot, valid_snapshot_markers
from node.wal.errors import EntryGapError, SnapshotMismatchError, SnapshotNotFoundError
from node.wal.snapshotter import BROKEN_SUFFIX

logger = logging.getLogger(__name__)


class BootstrapError(Exception):
    """The data directory cannot start a member (etcd's fatal start-up errors)."""


@dataclass(slots=True, frozen=True)
class DataPaths:
    """Where a member keeps its WAL, snapshots and backend under its data directory."""

    data_dir: Path

    @property
    def member(self) -> Path:
        """`<data-dir>/member`."""
        return self.data_dir / "member"

    @property
    def wal(self) -> Path:
        """The WAL directory."""
        return self.member / "wal"

    @property
    def snap(self) -> Path:
        """The snapshot directory."""
        return self.member / "snap"

    @property
    def backend(self) -> Path:
        """The LMDB environment's directory."""
        return self.member / "backend"

    @property
    def log_file(self) -> Path:
        """The member's JSON-lines log."""
        return self.data_dir / "node.log"

    def snapshot_db(self, index: int) -> Path:
        """A backend received with the raft snapshot at `index` (etcd's <index>.snap.db)."""
        return self.snap / f"{index:016x}.snap.db"


def make_data_dir(data_dir: Path) -> None:
    """Create the data dir (and its parents) if missing, or raise BootstrapError with etcd's
    text (etcdmain's TouchDirAll), e.g. on a read-only file system. An existing dir's
    writability is checked with the flags (ServerConfig)."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        text = exc.strerror or str(exc)
        reason = text[:1].lower() + text[1:]
        raise BootstrapError(
            f"cannot access data directory: mkdir {exc.filename or data_dir}: {reason}"
        ) from exc


def encode_wal_metadata(member_id: int, cluster_id: int) -> bytes:
    """The WAL's metadata record: member id and cluster id."""
    return cbor2.dumps([member_id, cluster_id])


def decode_wal_metadata(metadata: bytes) -> tuple[int, int]:
    """(member id, cluster id) from the WAL's metadata."""
    member_id, cluster_id = cbor2.loads(metadata)
    return member_id, cluster_id


@dataclass(slots=True)
class MemberStorage:
    """What the raft node starts from."""

    paths: DataPaths
    wal: WAL
    snapshotter: Snapshotter
    raft_storage: MemoryStorage
    member_id: int
    cluster_id: int
    snapshot: Snapshot | None = None
    """The snapshot a restart began from (None for a new member or one never snapshotted)."""
    seeds: dict[int, Member] = field(default_factory=dict)
    """Members known before any is applied (initial cluster, or fetched when joining): the
    attributes for raft's bootstrap CONF_CHANGE entries, which carry no context."""

    def close(self) -> None:
        """Close the WAL (releasing its lock)."""
        self.wal.close()


def has_wal(paths: DataPaths) -> bool:
    """Whether the data dir already holds a WAL (a restart)."""
    return WAL.exists(paths.wal)


def create_member_storage(
    paths: DataPaths,
    member_id: int,
    cluster_id: int,
    voters: list[int],
    seeds: dict[int, Member],
    segment_size: int = SEGMENT_SIZE,
) -> MemberStorage:
    """A brand-new member: an empty WAL and raft's initial membership (`voters`, empty when
    joining an existing cluster)."""
    paths.member.mkdir(parents=True, exist_ok=True)
    paths.snap.mkdir(parents=True, exist_ok=True)
    wal = WAL.create(paths.wal, encode_wal_metadata(member_id, cluster_id), segment_size)
    storage = MemoryStorage(conf_state=ConfState(voters=sorted(voters)))
    return MemberStorage(
        paths, wal, Snapshotter(paths.snap), storage, member_id, cluster_id, seeds=seeds
    )


def open_member_storage(paths: DataPaths, segment_size: int = SEGMENT_SIZE) -> MemberStorage:
    """A restarting member: snapshot + WAL replay into a MemoryStorage."""
    snapshotter = Snapshotter(paths.snap)
    # The newest snapshot first, read with the WAL in one pass from its marker: nearly
    # always it is the one etcd 3.5 picks, and looking for the WAL's valid markers first
    # reads the whole WAL once more (as long as the replay, on a member with a long log).
    snapshot = snapshotter.load()
    replayed = _replay_if_marked(paths, snapshot, segment_size)
    if replayed is None:
        # The newest snapshot file has no marker at or below the WAL's commit index (a crash
        # between saving the file and the marker): the newest one that has (etcd 3.5).
        snapshot = snapshotter.load_newest_available(valid_snapshot_markers(paths.wal))
        replayed = _replay_wal(paths, snapshot, segment_size)
    wal, metadata, hard_state, entries = replayed
    try:
        member_id, cluster_id = decode_wal_metadata(metadata)
        storage = MemoryStorage()
        if snapshot is not None:
            storage.apply_snapshot(snapshot)
        storage.set_hard_state(hard_state)
        storage.append(entries)
    except BaseException:
        wal.close()
        raise
    logger.info(
        "member %x: restarting from %s, WAL holds entries up to %d (commit %d)",
        member_id,
        f"snapshot at index {snapshot.metadata.index}" if snapshot else "the start of the log",
        storage.last_index(),
        hard_state.commit,
    )
    return MemberStorage(paths, wal, snapshotter, storage, member_id, cluster_id, snapshot)


_Replayed = tuple[WAL, bytes, HardState, list[Entry]]


def _replay_if_marked(
    paths: DataPaths, snapshot: Snapshot | None, segment_size: int
) -> _Replayed | None:
    """The replay from `snapshot` if the WAL marks it at or below its commit index; None if
    it does not (the WAL closed again)."""
    try:
        replayed = _replay_wal(paths, snapshot, segment_size)
    except (SnapshotNotFoundError, SnapshotMismatchError):
        if snapshot is None:
            raise
        return None
    wal, _, hard_state, _ = replayed
    if snapshot is not None and snapshot.metadata.index > hard_state.commit:
        wal.close()
        return None
    return replayed


def _replay_wal(paths: DataPaths, snapshot: Snapshot | None, segment_size: int) -> _Replayed:
    """The WAL opened from `snapshot`'s marker (the log's start if None) and read through."""
    marker = WalSnapshot()
    if snapshot is not None:
        marker = WalSnapshot(snapshot.metadata.index, snapshot.metadata.term)
    wal = WAL.open(paths.wal, marker, segment_size)
    try:
        metadata, hard_state, entries = wal.read_all()
    except EntryGapError as gap:
        wal.close()
        broken = sorted(path.name for path in paths.snap.glob(f"*{BROKEN_SUFFIX}"))
        if not broken:
            raise
        raise EntryGapError(
            f"{gap}; the snapshot the log starts from was set aside as broken "
            f"({', '.join(broken)}): remove this member and add it again with an empty data dir"
        ) from gap
    except BaseException:
        wal.close()
        raise
    return wal, metadata, hard_state, entries


def open_backend(paths: DataPaths, snapshot: Snapshot | None) -> Backend:
    """The member's backend; a newer one received with `snapshot` is moved into place first
    (etcd's recoverSnapshotBackend)."""
    backend = Backend(paths.backend)
    if snapshot is None or snapshot.metadata.index <= backend.consistent_index()[0]:
        return backend
    received = paths.snapshot_db(snapshot.metadata.index)
    if not received.exists():
        backend.close()
        raise BootstrapError(
            f"failed to find database snapshot file ({received}): the backend is at index "
            f"{backend.consistent_index()[0]}, older than the snapshot at "
            f"{snapshot.metadata.index}"
        )
    backend.close()
    install_backend_file(paths, received)
    return Backend(paths.backend)


def install_backend_file(paths: DataPaths, db_file: Path) -> None:
    """Replace the backend's database with `db_file` (the backend must be closed)."""
    paths.backend.mkdir(parents=True, exist_ok=True)
    for stale in ("lock.mdb",):
        (paths.backend / stale).unlink(missing_ok=True)
    os.replace(db_file, paths.backend / "data.mdb")
    fd = os.open(paths.backend, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_received_backends(paths: DataPaths, keep_index: int) -> None:
    """Drop received backend files older than the snapshot at `keep_index`."""
    for path in paths.snap.glob("*.snap.db"):
        try:
            index = int(path.name.split(".")[0], 16)
        except ValueError:
            continue
        if index < keep_index:
            path.unlink(missing_ok=True)
