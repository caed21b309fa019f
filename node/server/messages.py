"""etcdserverpb-shaped requests and responses of the Lease, Cluster and Maintenance services.

Field names are those of `node/api/proto/etcdserverpb/rpc.proto` in snake_case (see
PROTO_NAMES for the irregular ones), so the front doors convert by field name. Enum values
are etcd's. The KV messages live in `node.mvcc.requests`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

PROTO_NAMES = {
    "id": "ID",
    "ttl": "TTL",
    "granted_ttl": "grantedTTL",
    "remaining_ttl": "remaining_TTL",
    "peer_urls": "peerURLs",
    "client_urls": "clientURLs",
    "is_learner": "isLearner",
    "db_size": "dbSize",
    "db_size_in_use": "dbSizeInUse",
    "raft_index": "raftIndex",
    "raft_term": "raftTerm",
    "raft_applied_index": "raftAppliedIndex",
    "member_id": "memberID",
    "target_id": "targetID",
}
"""snake_case field name -> the proto's spelling, where the two differ beyond case."""


@dataclass(slots=True)
class ResponseHeader:
    """Every response's header: who answered, at which key-space revision and raft term."""

    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


# -- KV (compaction; the other KV messages are node.mvcc.requests) ----------------------------


@dataclass(slots=True)
class CompactionRequest:
    """etcdserverpb.CompactionRequest (rpc.proto)."""

    revision: int = 0
    physical: bool = False


@dataclass(slots=True)
class CompactionResponse:
    """etcdserverpb.CompactionResponse (rpc.proto)."""

    header: ResponseHeader | None = None


# -- Lease ----------------------------------------------------------------------------------


@dataclass(slots=True)
class LeaseGrantRequest:
    """etcdserverpb.LeaseGrantRequest (rpc.proto)."""

    ttl: int = 0
    id: int = 0


@dataclass(slots=True)
class LeaseGrantResponse:
    """etcdserverpb.LeaseGrantResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0
    error: str = ""


@dataclass(slots=True)
class LeaseRevokeRequest:
    """etcdserverpb.LeaseRevokeRequest (rpc.proto)."""

    id: int = 0


@dataclass(slots=True)
class LeaseRevokeResponse:
    """etcdserverpb.LeaseRevokeResponse (rpc.proto)."""

    header: ResponseHeader | None = None


@dataclass(slots=True)
class LeaseCheckpoint:
    """etcdserverpb.LeaseCheckpoint (rpc.proto)."""

    id: int = 0
    remaining_ttl: int = 0


@dataclass(slots=True)
class LeaseCheckpointRequest:
    """etcdserverpb.LeaseCheckpointRequest (rpc.proto)."""

    checkpoints: list[LeaseCheckpoint] = field(default_factory=list)


@dataclass(slots=True)
class LeaseKeepAliveRequest:
    """etcdserverpb.LeaseKeepAliveRequest (rpc.proto)."""

    id: int = 0


@dataclass(slots=True)
class LeaseKeepAliveResponse:
    """etcdserverpb.LeaseKeepAliveResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0


@dataclass(slots=True)
class LeaseTimeToLiveRequest:
    """etcdserverpb.LeaseTimeToLiveRequest (rpc.proto)."""

    id: int = 0
    keys: bool = False


@dataclass(slots=True)
class LeaseTimeToLiveResponse:
    """etcdserverpb.LeaseTimeToLiveResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0
    granted_ttl: int = 0
    keys: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class LeaseLeasesRequest:
    """etcdserverpb.LeaseLeasesRequest (rpc.proto)."""


@dataclass(slots=True)
class LeaseStatus:
    """etcdserverpb.LeaseStatus (rpc.proto)."""

    id: int = 0


@dataclass(slots=True)
class LeaseLeasesResponse:
    """etcdserverpb.LeaseLeasesResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    leases: list[LeaseStatus] = field(default_factory=list)


# -- Cluster --------------------------------------------------------------------------------


@dataclass(slots=True)
class Member:
    """A cluster member as MemberList shows it; name and client_urls come once it published."""

    id: int = 0
    name: str = ""
    peer_urls: list[str] = field(default_factory=list)
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False


@dataclass(slots=True)
class MemberAddRequest:
    """etcdserverpb.MemberAddRequest (rpc.proto)."""

    peer_urls: list[str] = field(default_factory=list)
    is_learner: bool = False


@dataclass(slots=True)
class MemberAddResponse:
    """etcdserverpb.MemberAddResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    member: Member | None = None
    members: list[Member] = field(default_factory=list)


@dataclass(slots=True)
class MemberRemoveRequest:
    """etcdserverpb.MemberRemoveRequest (rpc.proto)."""

    id: int = 0


@dataclass(slots=True)
class MemberRemoveResponse:
    """etcdserverpb.MemberRemoveResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    members: list[Member] = field(default_factory=list)


@dataclass(slots=True)
class MemberUpdateRequest:
    """etcdserverpb.MemberUpdateRequest (rpc.proto)."""

    id: int = 0
    peer_urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MemberUpdateResponse:
    """etcdserverpb.MemberUpdateResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    members: list[Member] = field(default_factory=list)


@dataclass(slots=True)
class MemberListRequest:
    """etcdserverpb.MemberListRequest (rpc.proto)."""


@dataclass(slots=True)
class MemberListResponse:
    """etcdserverpb.MemberListResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    members: list[Member] = field(default_factory=list)


@dataclass(slots=True)
class MemberPromoteRequest:
    """etcdserverpb.MemberPromoteRequest (rpc.proto)."""

    id: int = 0


@dataclass(slots=True)
class MemberPromoteResponse:
    """etcdserverpb.MemberPromoteResponse (rpc.proto)."""

    header: ResponseHeader | None = None
    members: list[Member] = field(default_factory=list)


# -- Maintenance ----------------------------------------------------------------------------


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


# -- ours: fault injection ------------------------------------------------------------------


class FaultKind(IntEnum):
    """Ours: the faults inject_fault knows."""

    ISOLATE = 0
    LINK = 1
    FSYNC_DELAY = 2
    PAUSE_APPLY = 3
    RESUME_APPLY = 4
    HEAL = 5


@dataclass(slots=True)
class FaultRequest:
    """One fault to inject (see README.md): peers by member id, delays in milliseconds."""

    kind: FaultKind = FaultKind.HEAL
    peer_ids: list[int] = field(default_factory=list)
    drop_ratio: float = 0.0
    delay_ms: int = 0


@dataclass(slots=True)
class FaultResponse:
    """Ours: the faults in force after an inject_fault call."""

    header: ResponseHeader | None = None
    faults: dict = field(default_factory=dict)
