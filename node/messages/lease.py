"""The Lease service's requests and responses (etcdserverpb, field names in snake_case)."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.messages.header import ResponseHeader


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
