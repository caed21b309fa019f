"""Auth names a fuzzer found to kill the member at apply: an empty role or user name to look
up, and names longer than the backend takes as a key (LMDB: 511 bytes). Each is refused with
an error and the member goes on serving."""

from __future__ import annotations

import pytest
import trio

from node.messages import errors
from node.messages.auth import (
    AuthRoleAddRequest,
    AuthRoleGetRequest,
    AuthUserAddRequest,
    AuthUserGetRequest,
    AuthUserGrantRoleRequest,
)
from node.messages.kv import PutRequest, RangeRequest
from tests.server.harness import Cluster, cluster_configs

FAST = {"bcrypt_cost": 4}
TOO_LONG = "r" * 512


async def test_empty_and_too_long_auth_names_are_refused_and_the_member_serves_on(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, **FAST))
        await cluster.start_all()
        server = await cluster.leader()

        with pytest.raises(errors.RoleNotFound):
            await server.role_get(AuthRoleGetRequest(role=""))
        with pytest.raises(errors.UserNotFound):
            await server.user_get(AuthUserGetRequest(name=""))
        with pytest.raises(errors.RoleNotFound):
            await server.role_get(AuthRoleGetRequest(role=TOO_LONG))
        with pytest.raises(errors.RoleNameTooLong):
            await server.role_add(AuthRoleAddRequest(name=TOO_LONG))
        with pytest.raises(errors.UserNameTooLong):
            await server.user_add(AuthUserAddRequest(name=TOO_LONG, password="pw"))
        await server.user_add(AuthUserAddRequest(name="alice", password="pw"))
        with pytest.raises(errors.RoleNotFound):
            await server.user_grant_role(AuthUserGrantRoleRequest(user="alice", role=TOO_LONG))

        await server.put(PutRequest(b"after", b"the bad names"))
        assert [kv.value for kv in (await server.range(RangeRequest(b"after"))).kvs] == [
            b"the bad names"
        ]
        nursery.cancel_scope.cancel()
