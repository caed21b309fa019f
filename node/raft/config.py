"""The parameters of one raft node, as etcd's raft.Config, checked before a node starts."""

from __future__ import annotations

from dataclasses import dataclass

from node.raft.storage import Storage

__all__ = ["Config"]


@dataclass(slots=True)
class Config:
    """How a node identifies itself, where its log lives, and how it paces elections.

    `election_tick` and `heartbeat_tick` count calls to tick(); `applied` is the last index
    the state machine applied before a restart (0 for a fresh node); `seed` drives the only
    randomness (election timeouts in [election_tick, 2 * election_tick)).
    `max_uncommitted_entries_size` 0 means no limit; `max_committed_size_per_ready` 0 means
    `max_size_per_msg`.
    """

    id: int
    storage: Storage
    election_tick: int = 10
    heartbeat_tick: int = 1
    applied: int = 0
    max_size_per_msg: int = 1 << 20
    max_committed_size_per_ready: int = 0
    max_uncommitted_entries_size: int = 0
    max_inflight_msgs: int = 256
    check_quorum: bool = True
    pre_vote: bool = True
    disable_proposal_forwarding: bool = False
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first problem (etcd's text where etcd has one)."""
        if type(self.id) is not int or self.id < 0:
            raise ValueError(f"id must be a positive integer, got {self.id!r}")
        if self.id == 0:
            raise ValueError("cannot use none as id")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election tick must be greater than heartbeat tick")
        if self.storage is None:
            raise ValueError("storage cannot be nil")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max inflight messages must be greater than 0")
        if self.applied < 0:
            raise ValueError("applied index must not be negative")
        if self.max_size_per_msg < 0:
            raise ValueError("max size per message must not be negative")
        if self.max_committed_size_per_ready < 0:
            raise ValueError("max committed size per ready must not be negative")
        if self.max_uncommitted_entries_size < 0:
            raise ValueError("max uncommitted entries size must not be negative")
