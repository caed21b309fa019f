"""The Auth service's requests and responses, and authpb's User, Role and Permission
(etcdserverpb and authpb of etcd 3.4; enum values are etcd's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from node.messages.header import ResponseHeader


class PermissionType(IntEnum):
    """authpb.Permission.Type."""

    READ = 0
    WRITE = 1
    READWRITE = 2


@dataclass(slots=True)
class Permission:
    """authpb.Permission: READ, WRITE or READWRITE on a key, or on [key, range_end)."""

    perm_type: PermissionType = PermissionType.READ
    key: bytes = b""
    range_end: bytes = b""


@dataclass(slots=True)
class UserAddOptions:
    """authpb.UserAddOptions."""

    no_password: bool = False


@dataclass(slots=True)
class AuthEnableRequest:
    """etcdserverpb.AuthEnableRequest."""


@dataclass(slots=True)
class AuthDisableRequest:
    """etcdserverpb.AuthDisableRequest."""


@dataclass(slots=True)
class AuthenticateRequest:
    """etcdserverpb.AuthenticateRequest."""

    name: str = ""
    password: str = ""


@dataclass(slots=True)
class AuthUserAddRequest:
    """etcdserverpb.AuthUserAddRequest."""

    name: str = ""
    password: str = ""
    options: UserAddOptions | None = None


@dataclass(slots=True)
class AuthUserGetRequest:
    """etcdserverpb.AuthUserGetRequest."""

    name: str = ""


@dataclass(slots=True)
class AuthUserDeleteRequest:
    """etcdserverpb.AuthUserDeleteRequest."""

    name: str = ""


@dataclass(slots=True)
class AuthUserChangePasswordRequest:
    """etcdserverpb.AuthUserChangePasswordRequest."""

    name: str = ""
    password: str = ""


@dataclass(slots=True)
class AuthUserGrantRoleRequest:
    """etcdserverpb.AuthUserGrantRoleRequest."""

    user: str = ""
    role: str = ""


@dataclass(slots=True)
class AuthUserRevokeRoleRequest:
    """etcdserverpb.AuthUserRevokeRoleRequest."""

    name: str = ""
    role: str = ""


@dataclass(slots=True)
class AuthRoleAddRequest:
    """etcdserverpb.AuthRoleAddRequest."""

    name: str = ""


@dataclass(slots=True)
class AuthRoleGetRequest:
    """etcdserverpb.AuthRoleGetRequest."""

    role: str = ""


@dataclass(slots=True)
class AuthUserListRequest:
    """etcdserverpb.AuthUserListRequest."""


@dataclass(slots=True)
class AuthRoleListRequest:
    """etcdserverpb.AuthRoleListRequest."""


@dataclass(slots=True)
class AuthRoleDeleteRequest:
    """etcdserverpb.AuthRoleDeleteRequest."""

    role: str = ""


@dataclass(slots=True)
class AuthRoleGrantPermissionRequest:
    """etcdserverpb.AuthRoleGrantPermissionRequest."""

    name: str = ""
    perm: Permission | None = None


@dataclass(slots=True)
class AuthRoleRevokePermissionRequest:
    """etcdserverpb.AuthRoleRevokePermissionRequest."""

    role: str = ""
    key: bytes = b""
    range_end: bytes = b""


@dataclass(slots=True)
class AuthResponse:
    """The responses that carry only a header (AuthEnableResponse, AuthUserAddResponse, ...)."""

    header: ResponseHeader | None = None


@dataclass(slots=True)
class AuthenticateResponse:
    """etcdserverpb.AuthenticateResponse: the token to send with later requests."""

    header: ResponseHeader | None = None
    token: str = ""


@dataclass(slots=True)
class AuthUserGetResponse:
    """etcdserverpb.AuthUserGetResponse."""

    header: ResponseHeader | None = None
    roles: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AuthUserListResponse:
    """etcdserverpb.AuthUserListResponse."""

    header: ResponseHeader | None = None
    users: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AuthRoleGetResponse:
    """etcdserverpb.AuthRoleGetResponse."""

    header: ResponseHeader | None = None
    perm: list[Permission] = field(default_factory=list)


@dataclass(slots=True)
class AuthRoleListResponse:
    """etcdserverpb.AuthRoleListResponse."""

    header: ResponseHeader | None = None
    roles: list[str] = field(default_factory=list)


AuthRequest = (
    AuthEnableRequest
    | AuthDisableRequest
    | AuthUserAddRequest
    | AuthUserGetRequest
    | AuthUserDeleteRequest
    | AuthUserChangePasswordRequest
    | AuthUserGrantRoleRequest
    | AuthUserRevokeRoleRequest
    | AuthRoleAddRequest
    | AuthRoleGetRequest
    | AuthUserListRequest
    | AuthRoleListRequest
    | AuthRoleDeleteRequest
    | AuthRoleGrantPermissionRequest
    | AuthRoleRevokePermissionRequest
)
"""The Auth requests that go through raft (Authenticate goes as InternalAuthenticateRequest)."""
