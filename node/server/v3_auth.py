"""etcd's Auth service on a member (v3_server.go's Auth* methods): passwords are hashed and
checked off the event loop before anything is proposed, every change goes through raft with
the caller's user and auth revision, and the apply step checks and applies it
(auth_checks.py, auth_apply.py). Also the token check every door asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from node.messages import errors
from node.messages.auth import (
    AuthDisableRequest,
    AuthEnableRequest,
    AuthenticateRequest,
    AuthenticateResponse,
    AuthRequest,
    AuthRoleAddRequest,
    AuthRoleDeleteRequest,
    AuthRoleGetRequest,
    AuthRoleGrantPermissionRequest,
    AuthRoleListRequest,
    AuthRoleRevokePermissionRequest,
    AuthUserAddRequest,
    AuthUserChangePasswordRequest,
    AuthUserDeleteRequest,
    AuthUserGetRequest,
    AuthUserGrantRoleRequest,
    AuthUserListRequest,
    AuthUserRevokeRoleRequest,
)
from node.messages.header import ResponseHeader
from node.server.auth_store import AuthStore, hash_password, password_matches
from node.server.auth_tokens import AuthInfo, new_token_prefix
from node.server.config import ServerConfig
from node.server.raft_request import AuthChangeRequest, InternalAuthenticateRequest, RaftBody


class AuthServer:
    """The Auth service and token checks; V3Server inherits them."""

    if TYPE_CHECKING:  # what EtcdServer (etcdserver.py) provides
        config: ServerConfig

        @property
        def _auth_store(self) -> AuthStore: ...

        def header(self, revision: int | None = None) -> ResponseHeader: ...

        async def _raft_request(self, body: RaftBody, auth: AuthInfo | None = None) -> Any: ...

    def auth_info(self, token: str | None, common_name: str | None = None) -> AuthInfo | None:
        """Who makes a request (etcd's EtcdServer.AuthInfoFromCtx): the user its token names,
        InvalidAuthToken for a token that is forged, expired or unknown here; without a token
        and with --client-cert-auth, the common name of the client's verified certificate at
        the current auth revision (AuthInfoFromTLS); else None."""
        if token is not None:
            return self._auth_store.auth_info(token)
        if common_name is None or not self.config.client_cert_auth:
            return None
        return AuthInfo(common_name, self._auth_store.revision)

    def gateway_refuses(self, common_name: str | None) -> bool:
        """Whether a JSON gateway request from a client whose verified certificate has this
        CN is refused (etcd 3.4's accessController): with --client-cert-auth and auth on, the
        gateway never takes a CN for the user, so a request carrying one is an error."""
        return bool(common_name) and self.config.client_cert_auth and self._auth_store.enabled

    def _check_admin(self, auth: AuthInfo | None) -> None:
        """Root only, while auth is on (membership calls)."""
        store = self._auth_store
        if store.enabled:
            store.check_admin(auth)

    def _check_maintenance_admin(self, auth: AuthInfo | None) -> None:
        """Root only, while auth is on, refused in the maintenance server's words."""
        try:
            self._check_admin(auth)
        except errors.EtcdError as exc:
            raise errors.maintenance_auth_error(exc) from None

    async def authenticate(
        self, req: AuthenticateRequest, auth: AuthInfo | None = None
    ) -> AuthenticateResponse:
        """A token for a user and password; retried when the auth revision moved between the
        password check and the apply (as etcd)."""
        while True:
            store = self._auth_store
            hashed = store.password_hash(req.name)
            checked_revision = store.revision
            if not await trio.to_thread.run_sync(password_matches, req.password, hashed):
                raise errors.AuthFailed()
            resp = await self._raft_request(
                InternalAuthenticateRequest(req.name, new_token_prefix())
            )
            if checked_revision == self._auth_store.revision:
                resp.header = self.header()
                return resp

    async def _auth_change(
        self, request: AuthRequest, auth: AuthInfo | None, hashed: bytes = b""
    ) -> Any:
        resp = await self._raft_request(AuthChangeRequest(request, hashed), auth)
        resp.header = self.header()
        return resp

    async def _hash(self, password: str) -> bytes:
        return await trio.to_thread.run_sync(hash_password, password, self.config.password_cost)

    async def auth_enable(self, req: AuthEnableRequest, auth: AuthInfo | None = None) -> Any:
        """AuthEnable: refused without a root user holding the root role."""
        return await self._auth_change(AuthEnableRequest(), auth)

    async def auth_disable(self, req: AuthDisableRequest, auth: AuthInfo | None = None) -> Any:
        """AuthDisable (root only)."""
        return await self._auth_change(AuthDisableRequest(), auth)

    async def user_add(self, req: AuthUserAddRequest, auth: AuthInfo | None = None) -> Any:
        """UserAdd: the password is hashed here; a --no-password user has none."""
        no_password = req.options is not None and req.options.no_password
        hashed = b"" if no_password else await self._hash(req.password)
        request = AuthUserAddRequest(req.name, "", req.options)
        return await self._auth_change(request, auth, hashed)

    async def user_get(self, req: AuthUserGetRequest, auth: AuthInfo | None = None) -> Any:
        """UserGet: the user's roles (root, or the user itself)."""
        return await self._auth_change(req, auth)

    async def user_list(self, req: AuthUserListRequest, auth: AuthInfo | None = None) -> Any:
        """UserList (root only)."""
        return await self._auth_change(req, auth)

    async def user_delete(self, req: AuthUserDeleteRequest, auth: AuthInfo | None = None) -> Any:
        """UserDelete (root only)."""
        return await self._auth_change(req, auth)

    async def user_change_password(
        self, req: AuthUserChangePasswordRequest, auth: AuthInfo | None = None
    ) -> Any:
        """UserChangePassword: hashed here; the user's tokens stop working."""
        hashed = await self._hash(req.password)
        return await self._auth_change(AuthUserChangePasswordRequest(req.name, ""), auth, hashed)

    async def user_grant_role(
        self, req: AuthUserGrantRoleRequest, auth: AuthInfo | None = None
    ) -> Any:
        """UserGrantRole (root only)."""
        return await self._auth_change(req, auth)

    async def user_revoke_role(
        self, req: AuthUserRevokeRoleRequest, auth: AuthInfo | None = None
    ) -> Any:
        """UserRevokeRole (root only)."""
        return await self._auth_change(req, auth)

    async def role_add(self, req: AuthRoleAddRequest, auth: AuthInfo | None = None) -> Any:
        """RoleAdd (root only)."""
        return await self._auth_change(req, auth)

    async def role_get(self, req: AuthRoleGetRequest, auth: AuthInfo | None = None) -> Any:
        """RoleGet: the role's permissions (root, or a user holding the role)."""
        return await self._auth_change(req, auth)

    async def role_list(self, req: AuthRoleListRequest, auth: AuthInfo | None = None) -> Any:
        """RoleList (root only)."""
        return await self._auth_change(req, auth)

    async def role_delete(self, req: AuthRoleDeleteRequest, auth: AuthInfo | None = None) -> Any:
        """RoleDelete (root only)."""
        return await self._auth_change(req, auth)

    async def role_grant_permission(
        self, req: AuthRoleGrantPermissionRequest, auth: AuthInfo | None = None
    ) -> Any:
        """RoleGrantPermission (root only)."""
        return await self._auth_change(req, auth)

    async def role_revoke_permission(
        self, req: AuthRoleRevokePermissionRequest, auth: AuthInfo | None = None
    ) -> Any:
        """RoleRevokePermission (root only)."""
        return await self._auth_change(req, auth)
