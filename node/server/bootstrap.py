"""How a member starts: new cluster, joining an existing one, restart, or restore from a
snapshot file (etcd's NewServer start-up paths)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from node.messages.cluster import Member
from node.mvcc.backend import Backend
from node.server.cluster import MEMBERS, member_from_wire
from node.server.config import ServerConfig
from node.server.maintenance import SnapshotFileError, extract_snapshot_database
from node.server.member_storage import (
    BootstrapError,
    DataPaths,
    MemberStorage,
    create_member_storage,
    has_wal,
    open_backend,
    open_member_storage,
)
from node.server.peer_api import PeerUnavailable, call_peer, peer_address
from node.server.snapshot_db import SnapshotFormatError, import_snapshot_db

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = 2.0


@dataclass(slots=True)
class Bootstrapped:
    """A started member's storage and backend."""

    storage: MemberStorage
    backend: Backend


def initial_members(config: ServerConfig) -> dict[int, Member]:
    """The members --initial-cluster describes, with etcd's derived ids."""
    return {
        config.member_id(name): Member(config.member_id(name), name, sorted(urls))
        for name, urls in config.initial_cluster.items()
    }


async def bootstrap(config: ServerConfig, paths: DataPaths, segment_size: int) -> Bootstrapped:
    """Open or create the member's WAL, snapshots and backend as its data dir and flags say."""
    if has_wal(paths):
        if config.restore_from is not None:
            raise BootstrapError(
                f"--restore-from needs a fresh data dir, but {paths.wal} already holds a WAL"
            )
        storage = open_member_storage(paths, segment_size)
        try:
            backend = open_backend(paths, storage.snapshot)
        except BaseException:
            storage.close()
            raise
        if not _has_members(backend):
            storage.seeds = initial_members(config)
        return Bootstrapped(storage, backend)
    if config.is_new_cluster:
        if config.restore_from is not None:
            restore_backend(Path(config.restore_from), paths, config.restore_skip_hash_check)
        seeds = initial_members(config)
        storage = create_member_storage(
            paths, config.local_member_id, config.cluster_id, sorted(seeds), seeds, segment_size
        )
        return Bootstrapped(storage, open_backend(paths, None))
    cluster_id, remote = await fetch_cluster(config)
    mine = set(config.initial_advertise_peer_urls)
    local = next((m for m in remote if mine & set(m.peer_urls)), None)
    if local is None:
        raise BootstrapError(
            f"member {config.name} has peer URLs {sorted(mine)} that no member of the existing "
            "cluster has: add it with MemberAdd first"
        )
    local.name = config.name
    seeds = {member.id: member for member in remote}
    storage = create_member_storage(paths, local.id, cluster_id, [], seeds, segment_size)
    return Bootstrapped(storage, open_backend(paths, None))


def _has_members(backend: Backend) -> bool:
    return bool(backend.items(MEMBERS, limit=1))


async def fetch_cluster(config: ServerConfig) -> tuple[int, list[Member]]:
    """etcd's GetClusterFromRemotePeers: ask the other members named in --initial-cluster."""
    mine = set(config.initial_advertise_peer_urls)
    peer_tls = config.peer_tls()
    context = None if peer_tls is None else peer_tls.client_context()
    failures = []
    for name, urls in config.initial_cluster.items():
        if name == config.name:
            continue
        for url in urls:
            if url in mine:
                continue
            try:
                answer = await call_peer(
                    peer_address(url), "members", {}, FETCH_TIMEOUT, tls=context
                )
            except PeerUnavailable as exc:
                failures.append(str(exc))
                continue
            members = [member_from_wire(m) for m in answer["members"]]
            return answer["cluster_id"], members
    raise BootstrapError(
        "cannot fetch cluster info from peer urls: " + ("; ".join(failures) or "none given")
    )


def restore_backend(
    snapshot_file: Path, paths: DataPaths, skip_hash_check: bool = False
) -> None:
    """etcdctl snapshot restore: the keys, revisions, leases and compaction revision of a
    snapshot file (etcd's or ours: etcd 3.4's bbolt layout) become this member's backend; its
    membership, alarms and raft position are dropped (the new cluster's membership is
    bootstrapped as for any new member). The sha256 at its end is checked unless
    `skip_hash_check` (etcd's --skip-hash-check: the file is a bare database then). Nothing is
    left behind when the file is refused."""
    made = paths.member if not paths.member.exists() else paths.backend
    paths.member.mkdir(parents=True, exist_ok=True)
    extracted = paths.member / "restore-from.db"
    db = snapshot_file if skip_hash_check else extracted
    try:
        if not skip_hash_check:
            extract_snapshot_database(snapshot_file, extracted)
        backend = Backend(paths.backend)
        try:
            import_snapshot_db(db, backend)
        finally:
            backend.close()
    except SnapshotFormatError as exc:
        shutil.rmtree(made, ignore_errors=True)
        raise SnapshotFileError(f"snapshot file {snapshot_file}: {exc}") from exc
    except BaseException:
        shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        extracted.unlink(missing_ok=True)
    logger.info("restored the backend from snapshot file %s", snapshot_file)
