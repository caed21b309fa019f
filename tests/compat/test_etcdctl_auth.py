"""etcdctl's auth commands against our cluster, which (like a fresh etcd) has authentication
off and no users: --user is accepted and ignored, listings are empty, enabling is refused."""

from __future__ import annotations

import pytest

from tests.compat.cluster import ETCDCTL, error_line, etcdctl

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def test_a_user_name_is_ignored_while_authentication_is_off(cluster, prefix):
    assert etcdctl(cluster.endpoints, "put", f"{prefix}k", "v").returncode == 0

    result = etcdctl(cluster.endpoints, "--user", "root:secret", "get", f"{prefix}k")

    assert (result.returncode, result.stdout) == (0, f"{prefix}k\nv\n")


def test_auth_disable_succeeds_and_users_and_roles_are_empty(cluster):
    assert etcdctl(cluster.endpoints, "auth", "disable").stdout == "Authentication Disabled\n"
    assert etcdctl(cluster.endpoints, "user", "list").stdout == ""
    assert etcdctl(cluster.endpoints, "role", "list").stdout == ""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("auth", "enable"), "etcdserver: root user does not exist"),
        (("user", "get", "nobody"), "etcdserver: user name not found"),
        (("role", "get", "nothing"), "etcdserver: role name not found"),
    ],
)
def test_auth_commands_that_need_users_print_etcds_error(cluster, args, error):
    result = etcdctl(cluster.endpoints, *args)

    assert result.returncode == 1
    assert error_line(result) == f"Error: {error}"
