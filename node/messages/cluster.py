"""The Cluster service's requests and responses: the member list and its changes (etcdserverpb)."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.messages.header import ResponseHeader


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
