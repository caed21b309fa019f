"""etcd's Auth service as a member with authentication disabled and no users or roles answers
it: what both the gRPC door and the JSON gateway reply to /etcdserverpb.Auth calls.
"""

from __future__ import annotations

from node.api.service import Body, Service
from node.messages import errors


class AuthNotEnabled(errors.EtcdError):
    """Authenticate on a member whose authentication is off."""

    code = "FAILED_PRECONDITION"
    message = "etcdserver: authentication is not enabled"


class RootUserNotExist(errors.EtcdError):
    """AuthEnable without a root user (we never have one)."""

    code = "FAILED_PRECONDITION"
    message = "etcdserver: root user does not exist"


class UserNotFound(errors.EtcdError):
    """A user method naming a user: there are none."""

    code = "FAILED_PRECONDITION"
    message = "etcdserver: user name not found"


class RoleNotFound(errors.EtcdError):
    """A role method naming a role: there are none."""

    code = "FAILED_PRECONDITION"
    message = "etcdserver: role name not found"


class AuthNotSupported(errors.EtcdError):
    """Adding users or roles: ours keeps authentication off (etcd would store them)."""

    code = "UNIMPLEMENTED"
    message = "etcdserver: etcd-node does not support users and roles (authentication is off)"


_AUTH_FAILURES: dict[str, type[errors.EtcdError]] = {
    "Authenticate": AuthNotEnabled,
    "AuthEnable": RootUserNotExist,
    "UserAdd": AuthNotSupported,
    "RoleAdd": AuthNotSupported,
    **dict.fromkeys(
        ("UserGet", "UserDelete", "UserChangePassword", "UserGrantRole", "UserRevokeRole"),
        UserNotFound,
    ),
    **dict.fromkeys(
        ("RoleGet", "RoleDelete", "RoleGrantPermission", "RoleRevokePermission"), RoleNotFound
    ),
}
"""What etcd answers with auth disabled and no users or roles; the rest succeed empty."""


async def answer_auth(service: Service, method: str, body: Body) -> Body:
    """etcd's Auth method `method` on a member without authentication: AuthDisable,
    UserList and RoleList succeed with nothing to show, Authenticate says auth is off."""
    failure = _AUTH_FAILURES.get(method)
    if failure is not None:
        raise failure()
    return service.reply_to_wire(None)
