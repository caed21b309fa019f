"""The client with auth on: users, roles and permissions through the native door, the token
in every call, and a fresh token taken when a member no longer knows the old one."""

from __future__ import annotations

import pytest

from node.client import connect_client
from node.messages import errors
from node.messages.auth import PermissionType
from tests.api.native_cluster import native_cluster

FAST = {"bcrypt_cost": 4}


async def _set_up_root_and_alice(endpoint: str) -> None:
    async with connect_client([endpoint]) as admin:
        await admin.user_add("root", "rootpw")
        await admin.role_add("root")
        await admin.user_grant_role("root", "root")
        await admin.user_add("alice", "alicepw")
        await admin.role_add("dir-rw")
        await admin.role_grant_permission("dir-rw", PermissionType.READWRITE, "dir/", "dir0")
        await admin.user_grant_role("alice", "dir-rw")
        await admin.auth_enable()


async def test_a_user_reads_and_writes_what_its_roles_allow_and_nothing_else(tmp_path):
    async with native_cluster(tmp_path, **FAST) as (member,):
        await _set_up_root_and_alice(member.endpoint)
        async with connect_client([member.endpoint], user="alice", password="alicepw") as alice:
            await alice.put("dir/a", "1")
            got = await alice.get("dir/", prefix=True)
            with pytest.raises(errors.PermissionDenied):
                await alice.put("elsewhere", "x")
            with pytest.raises(errors.PermissionDenied):
                await alice.user_list()
            roles = await alice.user_get("alice")
        async with connect_client([member.endpoint]) as nobody:
            with pytest.raises(errors.UserEmpty):
                await nobody.get("dir/a")
        async with connect_client([member.endpoint], user="root", password="rootpw") as root:
            users = await root.user_list()
            role = await root.role_get("dir-rw")
            elsewhere = await root.get("elsewhere")
            await root.auth_disable()
        async with connect_client([member.endpoint]) as anyone:
            after = await anyone.get("dir/a")

    assert [kv.value for kv in got.kvs] == [b"1"]
    assert list(roles.roles) == ["dir-rw"]
    assert list(users.users) == ["alice", "root"]
    assert [(p.permType, p.key, p.range_end) for p in role.perm] == [
        (PermissionType.READWRITE, b"dir/", b"dir0")
    ]
    assert elsewhere.kvs == []
    assert after.kvs[0].value == b"1"


async def test_a_wrong_password_fails_to_connect(tmp_path):
    async with native_cluster(tmp_path, **FAST) as (member,):
        await _set_up_root_and_alice(member.endpoint)
        with pytest.raises(errors.AuthFailed):
            async with connect_client([member.endpoint], user="alice", password="nope"):
                pass


async def test_the_client_authenticates_again_when_its_token_is_no_longer_known(tmp_path):
    async with native_cluster(tmp_path, **FAST) as (member,):
        await _set_up_root_and_alice(member.endpoint)
        async with connect_client([member.endpoint], user="alice", password="alicepw") as alice:
            first_token = alice.token
            async with connect_client([member.endpoint], user="root", password="rootpw") as root:
                await root.user_change_password("alice", "alicepw")  # drops alice's tokens

            await alice.put("dir/b", "after the refresh")

            assert alice.token != first_token


async def test_a_client_goes_on_without_a_token_once_auth_is_turned_off(tmp_path):
    async with native_cluster(tmp_path, **FAST) as (member,):
        await _set_up_root_and_alice(member.endpoint)
        async with connect_client([member.endpoint], user="root", password="rootpw") as root:
            await root.auth_disable()

            await root.put("after", "auth off")

            assert root.token is None
