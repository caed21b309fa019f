"""The Lock and Election services' messages, shaped as etcd's v3lockpb and v3electionpb."""

from __future__ import annotations

from dataclasses import dataclass

from node.messages.header import ResponseHeader
from node.messages.key_value import KeyValue


@dataclass(slots=True)
class LockRequest:
    """Acquire the lock `name`, held as long as `lease` lives (0: a 60 s lease of its own)."""

    name: bytes = b""
    lease: int = 0


@dataclass(slots=True)
class LockResponse:
    """key: the lock's ownership key; deleting it (Unlock) releases the lock."""

    header: ResponseHeader | None = None
    key: bytes = b""


@dataclass(slots=True)
class UnlockRequest:
    key: bytes = b""


@dataclass(slots=True)
class UnlockResponse:
    header: ResponseHeader | None = None


@dataclass(slots=True)
class LeaderKey:
    """A won election: its name, the leader's key, that key's create revision and lease."""

    name: bytes = b""
    key: bytes = b""
    rev: int = 0
    lease: int = 0


@dataclass(slots=True)
class CampaignRequest:
    name: bytes = b""
    lease: int = 0
    value: bytes = b""


@dataclass(slots=True)
class CampaignResponse:
    header: ResponseHeader | None = None
    leader: LeaderKey | None = None


@dataclass(slots=True)
class ProclaimRequest:
    leader: LeaderKey | None = None
    value: bytes = b""


@dataclass(slots=True)
class ProclaimResponse:
    header: ResponseHeader | None = None


@dataclass(slots=True)
class LeaderRequest:
    name: bytes = b""


@dataclass(slots=True)
class LeaderResponse:
    header: ResponseHeader | None = None
    kv: KeyValue | None = None


@dataclass(slots=True)
class ResignRequest:
    leader: LeaderKey | None = None


@dataclass(slots=True)
class ResignResponse:
    header: ResponseHeader | None = None
