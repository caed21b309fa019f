"""etcd's auth store (auth/store.go, auth/range_perm_cache.go): users, roles and key
permissions kept in the backend's `auth`, `authUsers` and `authRoles` buckets in etcd's own
encoding (authpb protobufs), changed only when raft entries are applied; the auth revision
that every change bumps; and the permission checks every request passes.

The checks cost one attribute test while auth is off. Passwords are bcrypt hashes, made
before proposing (so the raft log never holds a password) and compared outside apply.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import bcrypt

from node.messages import errors
from node.messages.auth import (
    AuthRoleGetResponse,
    AuthRoleGrantPermissionRequest,
    AuthRoleRevokePermissionRequest,
    AuthUserAddRequest,
    Permission,
    PermissionType,
)
from node.messages.gen.authpb import auth_pb2
from node.mvcc.backend import MAX_KEY_BYTES, Backend, decode_u64, encode_u64
from node.server.auth_tokens import AuthInfo, TokenProvider

AUTH = b"auth"
AUTH_USERS = b"authUsers"
AUTH_ROLES = b"authRoles"
ENABLED_KEY = b"authEnabled"
REVISION_KEY = b"authRevision"
ROOT = "root"
DEFAULT_BCRYPT_COST = 10
"""etcd's --bcrypt-cost default (bcrypt.DefaultCost); the minimum is 4."""
_FROM_KEY = b"\x00"


@dataclass(slots=True)
class _MergedPerms:
    """A user's readable and writable key space as sorted, disjoint [start, end) intervals
    (end None: to the end of the key space), so a check is one bisect."""

    read: list[tuple[bytes, bytes | None]]
    write: list[tuple[bytes, bytes | None]]


def _merge(intervals: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    merged: list[tuple[bytes, bytes | None]] = []
    for start, end in sorted(intervals, key=lambda iv: iv[0]):
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or start <= last_end:
                if last_end is not None and (end is None or end > last_end):
                    merged[-1] = (last_start, end)
                continue
        merged.append((start, end))
    return merged


def _covers(perms: list[tuple[bytes, bytes | None]], key: bytes, range_end: bytes) -> bool:
    """Whether the intervals cover the key (range_end empty), [key, range_end), or every key
    from `key` on (range_end "\\0")."""
    starts = [start for start, _ in perms]
    at = bisect.bisect_right(starts, key) - 1
    if at < 0:
        return False
    end = perms[at][1]
    if not range_end:
        return end is None or key < end
    if range_end == _FROM_KEY:
        return end is None
    return end is None or range_end <= end


def _interval(key: bytes, range_end: bytes) -> tuple[bytes, bytes | None]:
    if not range_end:
        return key, key + b"\x00"
    if range_end == _FROM_KEY:
        return key, None
    return key, range_end


def hash_password(password: str, cost: int) -> bytes:
    """A bcrypt hash of `password` (done before proposing, never in apply)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost))


def password_matches(password: str, hashed: bytes) -> bool:
    """Whether `password` is the one `hashed` was made from."""
    try:
        return bcrypt.checkpw(password.encode(), hashed)
    except ValueError:  # not a bcrypt hash (a user added with --no-password has none)
        return False


class AuthStore:
    """Users, roles, permissions and the auth revision of one member's backend."""

    def __init__(self, backend: Backend, tokens: TokenProvider) -> None:
        self.tokens = tokens
        self.enabled = False
        self.revision = 0
        self._perms: dict[str, _MergedPerms] = {}
        self._backend = backend
        self.reload(backend)

    def reload(self, backend: Backend) -> None:
        """Read the flags from `backend` (at start and after a snapshot)."""
        self._backend = backend
        with backend.write() as view:
            raw_revision = view.get(AUTH, REVISION_KEY)
            if raw_revision is None:  # a fresh store commits revision 1, as etcd's
                view.put(AUTH, REVISION_KEY, encode_u64(1))
                raw_revision = encode_u64(1)
            self.revision = decode_u64(raw_revision)
            self.enabled = view.get(AUTH, ENABLED_KEY) == b"\x01"
        self._perms.clear()
        if self.enabled:
            self.tokens.enable()
        else:
            self.tokens.disable()

    # -- reading ------------------------------------------------------------------------------

    def _user(self, name: str) -> auth_pb2.User | None:
        # no user has an empty name (a certificate without a CN names one): the backend
        # finds no key of zero bytes
        raw = self._backend.get(AUTH_USERS, name.encode())
        return None if raw is None else auth_pb2.User.FromString(raw)

    def _role(self, name: str) -> auth_pb2.Role | None:
        raw = self._backend.get(AUTH_ROLES, name.encode())
        return None if raw is None else auth_pb2.Role.FromString(raw)

    def user_roles(self, name: str) -> list[str]:
        """The roles of user `name` (UserGet); UserNotFound."""
        user = self._user(name)
        if user is None:
            raise errors.UserNotFound()
        return list(user.roles)

    def user_names(self) -> list[str]:
        """Every user's name, sorted (UserList)."""
        return [key.decode() for key, _ in self._backend.items(AUTH_USERS)]

    def role_names(self) -> list[str]:
        """Every role's name, sorted (RoleList)."""
        return [key.decode() for key, _ in self._backend.items(AUTH_ROLES)]

    def role_permissions(self, name: str) -> AuthRoleGetResponse:
        """The key permissions of role `name` (RoleGet); RoleNotFound."""
        role = self._role(name)
        if role is None:
            raise errors.RoleNotFound()
        return AuthRoleGetResponse(perm=[
            Permission(PermissionType(p.permType), p.key, p.range_end) for p in role.keyPermission
        ])

    def has_role(self, user_name: str, role: str) -> bool:
        """Whether the user holds the role (a user may read its own roles)."""
        user = self._user(user_name)
        return user is not None and role in user.roles

    def password_hash(self, name: str) -> bytes:
        """The bcrypt hash a password of `name` must match (etcd's CheckPassword reads it;
        the caller compares, off the event loop); AuthNotEnabled, AuthFailed, NoPasswordUser."""
        if not self.enabled:
            raise errors.AuthNotEnabled()
        user = self._user(name)
        if user is None:
            raise errors.AuthFailed()
        if user.options.no_password:
            raise errors.NoPasswordUser()
        return user.password

    def auth_info(self, token: str) -> AuthInfo:
        """Who a token names; InvalidAuthToken for one that is forged, expired or unknown."""
        info = self.tokens.info(token, self.revision)
        if info is None:
            raise errors.InvalidAuthToken()
        return info

    def as_root(self) -> AuthInfo | None:
        """Who the member's own requests run as (etcd's WithRoot): root at the current auth
        revision while auth is on, nobody in particular while it is off."""
        return AuthInfo(ROOT, self.revision) if self.enabled else None

    # -- permission checks (etcd's IsPutPermitted, IsRangePermitted, ...) ------------------

    def check_admin(self, auth: AuthInfo | None) -> None:
        """Root only (IsAdminPermitted): UserEmpty, UserNotFound or PermissionDenied."""
        if not self.enabled:
            return
        if auth is None or not auth.username:
            raise errors.UserEmpty()
        user = self._user(auth.username)
        if user is None:
            raise errors.UserNotFound()
        if ROOT not in user.roles:
            raise errors.PermissionDenied()

    def check_range(self, auth: AuthInfo | None, key: bytes, range_end: bytes) -> None:
        """READ on the key or range (IsRangePermitted)."""
        self._check_op(auth, key, range_end, write=False)

    def check_put(self, auth: AuthInfo | None, key: bytes) -> None:
        """WRITE on the key (IsPutPermitted)."""
        self._check_op(auth, key, b"", write=True)

    def check_delete_range(self, auth: AuthInfo | None, key: bytes, range_end: bytes) -> None:
        """WRITE on the key or range (IsDeleteRangePermitted)."""
        self._check_op(auth, key, range_end, write=True)

    def _check_op(
        self, auth: AuthInfo | None, key: bytes, range_end: bytes, *, write: bool
    ) -> None:
        if not self.enabled:
            return
        if auth is None or auth.revision == 0:
            raise errors.UserEmpty()
        if auth.revision < self.revision:
            raise errors.AuthOldRevision()
        perms = self._perms.get(auth.username)
        if perms is None:
            user = self._user(auth.username)
            if user is None:
                raise errors.PermissionDenied()
            perms = self._perms[auth.username] = self._merged_perms(user)
        if not _covers(perms.write if write else perms.read, key, range_end):
            raise errors.PermissionDenied()

    def _merged_perms(self, user: auth_pb2.User) -> _MergedPerms:
        if ROOT in user.roles:
            return _MergedPerms([(b"", None)], [(b"", None)])
        read: list[tuple[bytes, bytes | None]] = []
        write: list[tuple[bytes, bytes | None]] = []
        for role_name in user.roles:
            role = self._role(role_name)
            for perm in role.keyPermission if role is not None else ():
                interval = _interval(perm.key, perm.range_end)
                if perm.permType in (PermissionType.READ, PermissionType.READWRITE):
                    read.append(interval)
                if perm.permType in (PermissionType.WRITE, PermissionType.READWRITE):
                    write.append(interval)
        return _MergedPerms(_merge(read), _merge(write))

    # -- changes, applied from raft entries ---------------------------------------------------

    def _commit_revision(self) -> None:
        self.revision += 1
        self._backend.put(AUTH, REVISION_KEY, encode_u64(self.revision))
        self._perms.clear()

    def enable(self) -> None:
        """AuthEnable: refused without a root user holding the root role."""
        if self.enabled:
            return
        root = self._user(ROOT)
        if root is None:
            raise errors.RootUserNotExist()
        if ROOT not in root.roles:
            raise errors.RootRoleNotExist()
        self._backend.put(AUTH, ENABLED_KEY, b"\x01")
        self.enabled = True
        self.tokens.enable()
        self._perms.clear()

    def disable(self) -> None:
        """AuthDisable: every token is forgotten."""
        if not self.enabled:
            return
        self._backend.put(AUTH, ENABLED_KEY, b"\x00")
        self.enabled = False
        self.tokens.disable()
        self._commit_revision()

    def authenticate(self, name: str, prefix: str, index: int) -> str:
        """A token for `name`, whose password the proposing member checked."""
        if not self.enabled:
            raise errors.AuthNotEnabled()
        user = self._user(name)
        if user is None or user.options.no_password:
            raise errors.AuthFailed()
        return self.tokens.assign(name, self.revision, prefix, index)

    def user_add(self, req: AuthUserAddRequest, hashed: bytes) -> None:
        """UserAdd with the password already hashed (empty for a no-password user)."""
        if not req.name:
            raise errors.UserEmpty()
        if len(req.name.encode()) > MAX_KEY_BYTES:
            raise errors.UserNameTooLong()
        if self._user(req.name) is not None:
            raise errors.UserAlreadyExist()
        no_password = req.options is not None and req.options.no_password
        user = auth_pb2.User(name=req.name.encode(), password=hashed,
                             options=auth_pb2.UserAddOptions(no_password=no_password))
        self._put_user(user)
        self._commit_revision()

    def _put_user(self, user: auth_pb2.User) -> None:
        self._backend.put(AUTH_USERS, user.name, user.SerializeToString())

    def user_delete(self, name: str) -> None:
        """UserDelete; the root user stays while auth is on."""
        if self.enabled and name == ROOT:
            raise errors.InvalidAuthMgmt()
        if self._user(name) is None:
            raise errors.UserNotFound()
        self._backend.delete(AUTH_USERS, name.encode())
        self._commit_revision()
        self.tokens.invalidate_user(name)

    def user_change_password(self, name: str, hashed: bytes) -> None:
        """UserChangePassword with the new password already hashed; the user's tokens go."""
        user = self._user(name)
        if user is None:
            raise errors.UserNotFound()
        user.password = hashed
        self._put_user(user)
        self._commit_revision()
        self.tokens.invalidate_user(name)

    def user_grant_role(self, name: str, role: str) -> None:
        """UserGrantRole (root needs no RoleAdd to be granted); granting twice is no change."""
        user = self._user(name)
        if user is None:
            raise errors.UserNotFound()
        if role != ROOT and self._role(role) is None:
            raise errors.RoleNotFound()
        if role in user.roles:
            return
        roles = sorted([*user.roles, role])
        del user.roles[:]
        user.roles.extend(roles)
        self._put_user(user)
        self._commit_revision()

    def user_revoke_role(self, name: str, role: str) -> None:
        """UserRevokeRole; root keeps the root role while auth is on."""
        if self.enabled and name == ROOT and role == ROOT:
            raise errors.InvalidAuthMgmt()
        user = self._user(name)
        if user is None:
            raise errors.UserNotFound()
        if role not in user.roles:
            raise errors.RoleNotGranted()
        user.roles.remove(role)
        self._put_user(user)
        self._commit_revision()

    def role_add(self, name: str) -> None:
        """RoleAdd."""
        if not name:
            raise errors.RoleEmpty()
        if len(name.encode()) > MAX_KEY_BYTES:
            raise errors.RoleNameTooLong()
        if self._role(name) is not None:
            raise errors.RoleAlreadyExist()
        self._backend.put(AUTH_ROLES, name.encode(),
                          auth_pb2.Role(name=name.encode()).SerializeToString())
        self._commit_revision()

    def role_delete(self, name: str) -> None:
        """RoleDelete: the role goes from every user holding it; root stays while auth is on."""
        if self.enabled and name == ROOT:
            raise errors.InvalidAuthMgmt()
        if self._role(name) is None:
            raise errors.RoleNotFound()
        self._backend.delete(AUTH_ROLES, name.encode())
        for _, raw in list(self._backend.items(AUTH_USERS)):
            user = auth_pb2.User.FromString(raw)
            if name in user.roles:
                user.roles.remove(name)
                self._put_user(user)
        self._commit_revision()

    def role_grant_permission(self, req: AuthRoleGrantPermissionRequest) -> None:
        """RoleGrantPermission: a permission on the same key and range end is replaced."""
        role = self._role(req.name)
        if role is None:
            raise errors.RoleNotFound()
        perm = req.perm or Permission()
        for existing in role.keyPermission:
            if existing.key == perm.key and existing.range_end == perm.range_end:
                existing.permType = auth_pb2.Permission.Type.Value(perm.perm_type.name)
                break
        else:
            perms = [*role.keyPermission, auth_pb2.Permission(
                permType=perm.perm_type.name, key=perm.key, range_end=perm.range_end)]
            perms.sort(key=lambda p: p.key)
            del role.keyPermission[:]
            role.keyPermission.extend(perms)
        self._backend.put(AUTH_ROLES, role.name, role.SerializeToString())
        self._commit_revision()

    def role_revoke_permission(self, req: AuthRoleRevokePermissionRequest) -> None:
        """RoleRevokePermission of exactly (key, range_end)."""
        role = self._role(req.role)
        if role is None:
            raise errors.RoleNotFound()
        kept = [p for p in role.keyPermission
                if not (p.key == req.key and p.range_end == req.range_end)]
        if len(kept) == len(role.keyPermission):
            raise errors.PermissionNotGranted()
        del role.keyPermission[:]
        role.keyPermission.extend(kept)
        self._backend.put(AUTH_ROLES, role.name, role.SerializeToString())
        self._commit_revision()
