"""Ours: a member's raft state as etcd-io/raft's Status tells it (not part of etcd's API).

etcd's Status reply has the term, the leader and the commit and applied indexes, but not the
vote, the role or the last log index a learner wants beside them; the native door's
Admin.RaftStatus answers those.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.messages.header import ResponseHeader


@dataclass(slots=True)
class RaftStatusRequest:
    """Ours: ask one member for its raft state."""


@dataclass(slots=True)
class RaftStatusResponse:
    """Ours: one member's raft state: role (`leader`, `follower`, `candidate`,
    `pre_candidate`), term, vote and leader (member ids, 0 for none), and its log's last,
    committed and applied indexes."""

    header: ResponseHeader | None = None
    role: str = ""
    term: int = 0
    vote: int = 0
    leader: int = 0
    last_index: int = 0
    commit: int = 0
    applied: int = 0
