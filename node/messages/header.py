"""The header every response carries (etcdserverpb.ResponseHeader)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ResponseHeader:
    """Every response's header: who answered, at which key-space revision and raft term."""

    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0
