"""Applying an Auth service request from a raft entry to the auth store (etcd's
applierV3backend Auth* methods): one response per request kind."""

from __future__ import annotations

from typing import Any

from node.messages.auth import (
    AuthDisableRequest,
    AuthEnableRequest,
    AuthResponse,
    AuthRoleAddRequest,
    AuthRoleDeleteRequest,
    AuthRoleGetRequest,
    AuthRoleGrantPermissionRequest,
    AuthRoleListRequest,
    AuthRoleListResponse,
    AuthRoleRevokePermissionRequest,
    AuthUserAddRequest,
    AuthUserChangePasswordRequest,
    AuthUserDeleteRequest,
    AuthUserGetRequest,
    AuthUserGetResponse,
    AuthUserGrantRoleRequest,
    AuthUserListRequest,
    AuthUserListResponse,
    AuthUserRevokeRoleRequest,
)
from node.raft import MalformedRecord
from node.server.auth_store import AuthStore
from node.server.raft_request import AuthChangeRequest


def apply_auth_change(store: AuthStore, body: AuthChangeRequest) -> Any:
    """Apply one Auth request; raises etcd's errors (UserNotFound, RoleAlreadyExist, ...)."""
    req = body.request
    if isinstance(req, AuthEnableRequest):
        store.enable()
    elif isinstance(req, AuthDisableRequest):
        store.disable()
    elif isinstance(req, AuthUserAddRequest):
        store.user_add(req, body.hashed_password)
    elif isinstance(req, AuthUserDeleteRequest):
        store.user_delete(req.name)
    elif isinstance(req, AuthUserChangePasswordRequest):
        store.user_change_password(req.name, body.hashed_password)
    elif isinstance(req, AuthUserGrantRoleRequest):
        store.user_grant_role(req.user, req.role)
    elif isinstance(req, AuthUserRevokeRoleRequest):
        store.user_revoke_role(req.name, req.role)
    elif isinstance(req, AuthRoleAddRequest):
        store.role_add(req.name)
    elif isinstance(req, AuthRoleDeleteRequest):
        store.role_delete(req.role)
    elif isinstance(req, AuthRoleGrantPermissionRequest):
        store.role_grant_permission(req)
    elif isinstance(req, AuthRoleRevokePermissionRequest):
        store.role_revoke_permission(req)
    elif isinstance(req, AuthUserGetRequest):
        return AuthUserGetResponse(roles=store.user_roles(req.name))
    elif isinstance(req, AuthRoleGetRequest):
        return store.role_permissions(req.role)
    elif isinstance(req, AuthUserListRequest):
        return AuthUserListResponse(users=store.user_names())
    elif isinstance(req, AuthRoleListRequest):
        return AuthRoleListResponse(roles=store.role_names())
    else:
        raise MalformedRecord(f"no applier for {type(req).__name__}")
    return AuthResponse()
