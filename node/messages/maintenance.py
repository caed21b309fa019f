"""The Maintenance service's requests and responses: alarms, status, hashes, snapshot,
defragment and leader moves (etcdserverpb; enum values are etcd's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from node.messages.header import ResponseHeader


class AlarmType(IntEnum):
    """etcdserverpb.AlarmType (rpc.proto)."""

    NONE = 0
    NOSPACE = 1
    CORRUPT = 2


class AlarmAction(IntEnum):
    """etcdserverpb.AlarmAction (rpc.proto)."""

    GET = 0
    ACTIVATE = 1
    DEACTIVATE = 2


@dataclass(slots=True)
class AlarmRequest:
    """etcdserverpb.AlarmRequest (rpc.proto)."""

    action: AlarmAction = AlarmAction.GET
    member_id: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(slots=True)
class AlarmMember:
    """etcdserverpb.AlarmMember (rpc.proto)."""

    member_id: int = 0
    alarm: AlarmType = AlarmType.NONE

    def __str__(self) -> str:
        """As the Go proto's String(), which etcd puts in StatusResponse.errors."""
        return f"memberID:{self.member_id} alarm:{self.alarm.name} "


@dataclass(slots=True)
class AlarmResponse:
    """etcdserverpb.AlarmResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    alarms: list[AlarmMember] = field(default_factory=list)


@dataclass(slots=True)
class StatusRequest:
    """etcdserverpb.StatusRequest (rpc.proto)."""


@dataclass(slots=True)
class StatusResponse:
    """etcdserverpb.StatusResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    version: str = ""
    db_size: int = 0
    leader: int = 0
    raft_index: int = 0
    raft_term: int = 0
    raft_applied_index: int = 0
    errors: list[str] = field(default_factory=list)
    db_size_in_use: int = 0
    is_learner: bool = False


@dataclass(slots=True)
class HashRequest:
    """etcdserverpb.HashRequest (rpc.proto)."""


@dataclass(slots=True)
class HashResponse:
    """etcdserverpb.HashResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    hash: int = 0


@dataclass(slots=True)
class HashKVRequest:
    """etcdserverpb.HashKVRequest (rpc.proto)."""

    revision: int = 0


@dataclass(slots=True)
class HashKVResponse:
    """etcdserverpb.HashKVResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    hash: int = 0
    compact_revision: int = 0


@dataclass(slots=True)
class SnapshotRequest:
    """etcdserverpb.SnapshotRequest (rpc.proto)."""


@dataclass(slots=True)
class SnapshotResponse:
    """etcdserverpb.SnapshotResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    remaining_bytes: int = 0
    blob: bytes = b""


@dataclass(slots=True)
class DefragmentRequest:
    """etcdserverpb.DefragmentRequest (rpc.proto)."""


@dataclass(slots=True)
class DefragmentResponse:
    """etcdserverpb.DefragmentResponse (rpc.proto)."""

    header: ResponseHeader | None = None


@dataclass(slots=True)
class MoveLeaderRequest:
    """etcdserverpb.MoveLeaderRequest (rpc.proto)."""

    target_id: int = 0


@dataclass(slots=True)
class MoveLeaderResponse:
    """etcdserverpb.MoveLeaderResponse (rpc.proto)."""

    header: ResponseHeader | None = None
