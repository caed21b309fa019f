"""The member's replicated state machine: backend, key space, lessor, membership, alarms and
auth, opened together and swapped together when a backend arrives with a raft snapshot."""

from __future__ import annotations

from pathlib import Path

from node.lease import Lessor
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.mvcc.watchable_store import WatchableStore
from node.server.alarms import AlarmStore
from node.server.auth_store import AuthStore
from node.server.auth_tokens import TokenProvider
from node.server.cluster import RaftCluster
from node.server.member_storage import DataPaths, install_backend_file


class MemberState:
    """Everything the apply task changes; `watchable` survives a swap (its streams stay)."""

    def __init__(
        self,
        backend: Backend,
        *,
        min_lease_ttl: int,
        checkpoint_enabled: bool,
        tokens: TokenProvider,
    ) -> None:
        self._min_lease_ttl = min_lease_ttl
        self._checkpoint_enabled = checkpoint_enabled
        self.backend = backend
        self.lessor, self.kv = self._open_stores(backend)
        self.watchable = WatchableStore(self.kv)
        self.cluster = RaftCluster(backend)
        self.alarms = AlarmStore(backend)
        self.auth = AuthStore(backend, tokens)

    def _open_stores(self, backend: Backend) -> tuple[Lessor, KVStore]:
        lessor = Lessor(
            backend, min_ttl=self._min_lease_ttl, checkpoint_enabled=self._checkpoint_enabled
        )
        kv = KVStore(backend, lessor)
        lessor.set_range_deleter(kv.write)
        return lessor, kv

    @property
    def consistent_index(self) -> int:
        """The raft index of the last entry the backend reflects."""
        return self.backend.consistent_index()[0]

    def install_backend(self, paths: DataPaths, db_file: Path) -> None:
        """Replace the whole state with the backend in `db_file` (etcd's applySnapshot):
        close, move into place, reopen key space, lessor, membership and alarms; watchers
        move over to the new key space and catch up from it."""
        replaced = self.backend
        replaced.close()
        install_backend_file(paths, db_file)
        backend = Backend(paths.backend, batch_limit=replaced.batch_limit)
        backend.on_commit = replaced.on_commit
        self.backend = backend
        self.lessor, self.kv = self._open_stores(backend)
        self.watchable.restore(self.kv)
        self.cluster.reload(backend)
        self.alarms.reload(backend)
        self.auth.reload(backend)

    def close(self) -> None:
        """Stop watching the key space and close the backend."""
        self.watchable.close()
        self.backend.close()
