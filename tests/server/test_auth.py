"""Auth in the server: replicated users and roles, checks at apply against the auth revision,
JWT tokens any member verifies, and auth state surviving restart and snapshot files."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from node.messages import errors
from node.messages.auth import (
    AuthEnableRequest,
    AuthenticateRequest,
    AuthRoleAddRequest,
    AuthRoleGrantPermissionRequest,
    AuthUserAddRequest,
    AuthUserGetRequest,
    AuthUserGrantRoleRequest,
    AuthUserListRequest,
    Permission,
    PermissionType,
)
from node.messages.kv import PutRequest, RangeRequest
from node.messages.lease import LeaseGrantRequest
from node.mvcc.backend import Backend
from node.server.auth_tokens import AuthInfo
from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer
from node.server.snapshot_db import export_snapshot_db, import_snapshot_db
from tests.server.harness import Cluster, cluster_configs, wait_for

FAST = {"bcrypt_cost": 4}


async def _secure(server: EtcdServer) -> AuthInfo:
    """root/rootpw with the root role, alice/alicepw granted READWRITE on `a`; auth on.
    Returns root's auth info."""
    await server.user_add(AuthUserAddRequest("root", "rootpw"))
    await server.role_add(AuthRoleAddRequest("root"))
    await server.user_grant_role(AuthUserGrantRoleRequest("root", "root"))
    await server.user_add(AuthUserAddRequest("alice", "alicepw"))
    await server.role_add(AuthRoleAddRequest("rw-a"))
    await server.role_grant_permission(
        AuthRoleGrantPermissionRequest("rw-a", Permission(PermissionType.READWRITE, b"a"))
    )
    await server.user_grant_role(AuthUserGrantRoleRequest("alice", "rw-a"))
    await server.auth_enable(AuthEnableRequest())
    return await _login(server, "root", "rootpw")


async def _login(server: EtcdServer, name: str, password: str) -> AuthInfo:
    token = (await server.authenticate(AuthenticateRequest(name, password))).token
    info = server.auth_info(token)
    assert info is not None
    return info


async def test_users_roles_and_tokens_are_replicated_to_every_member(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, **FAST))
        await cluster.start_all()
        leader = await cluster.leader()
        root = await _secure(leader)
        alice_token = (await leader.authenticate(AuthenticateRequest("alice", "alicepw"))).token

        for server in cluster.followers(leader):
            await wait_for(lambda s=server: s.applied_index >= leader.applied_index)
            alice = server.auth_info(alice_token)
            assert alice == AuthInfo("alice", server._auth_store.revision)
            await server.put(PutRequest(b"a", b"from-a-follower"), alice)
            with pytest.raises(errors.PermissionDenied):
                await server.put(PutRequest(b"b", b"refused"), alice)
            users = await server.user_list(AuthUserListRequest(), root)
            assert users.users == ["alice", "root"]
        assert (await leader.range(RangeRequest(b"b"), root)).kvs == []
        nursery.cancel_scope.cancel()


async def test_a_request_checked_at_an_older_auth_revision_is_refused_at_apply(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, **FAST))
        await cluster.start_all()
        server = await cluster.leader()
        root = await _secure(server)
        alice = await _login(server, "alice", "alicepw")
        await server.role_add(AuthRoleAddRequest("another"), root)  # bumps the auth revision

        with pytest.raises(errors.AuthOldRevision):
            await server.put(PutRequest(b"a", b"stale"), alice)
        with pytest.raises(errors.UserEmpty):
            await server.put(PutRequest(b"a", b"nobody"))
        root = await _login(server, "root", "rootpw")
        assert (await server.range(RangeRequest(b"a"), root)).kvs == []
        nursery.cancel_scope.cancel()


async def test_auth_state_survives_a_restart(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, **FAST))
        await cluster.start_all()
        server = await cluster.leader()
        await _secure(server)
        revision = server._auth_store.revision
        member = cluster.members[0]
        await cluster.stop(member)
        server = await cluster.start(member)
        await cluster.leader()

        assert server._auth_store.enabled
        assert server._auth_store.revision == revision
        alice = await _login(server, "alice", "alicepw")
        assert (await server.user_get(AuthUserGetRequest("alice"), alice)).roles == ["rw-a"]
        with pytest.raises(errors.AuthFailed):
            await server.authenticate(AuthenticateRequest("alice", "wrong"))
        nursery.cancel_scope.cancel()


async def test_a_snapshot_file_carries_users_roles_and_the_enabled_flag(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, **FAST))
        await cluster.start_all()
        server = await cluster.leader()
        await _secure(server)
        store = server._auth_store
        exported = tmp_path / "snapshot.db"
        export_snapshot_db(server._state_now.backend, exported)
        revision = store.revision
        nursery.cancel_scope.cancel()

    restored = Backend(tmp_path / "restored")
    try:
        import_snapshot_db(exported, restored)
        users = [name for name, _ in restored.items(b"authUsers")]
        assert users == [b"alice", b"root"]
        assert restored.get(b"auth", b"authEnabled") == b"\x01"
        assert int.from_bytes(restored.get(b"auth", b"authRevision") or b"", "big") == revision
    finally:
        restored.close()


def _jwt_flag(tmp_path, *, private: bool) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_path = tmp_path / "jwt.pub"
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ))
    flag = f"jwt,pub-key={public_path},sign-method=RS256,ttl=1m"
    if private:
        private_path = tmp_path / "jwt.key"
        private_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        flag += f",priv-key={private_path}"
    return flag


async def test_jwt_tokens_carry_the_auth_revision_and_are_refused_once_it_moves(tmp_path):
    async with trio.open_nursery() as nursery:
        flag = _jwt_flag(tmp_path, private=True)
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, auth_token=flag, **FAST))
        await cluster.start_all()
        server = await cluster.leader()
        root = await _secure(server)
        token = (await server.authenticate(AuthenticateRequest("alice", "alicepw"))).token
        assert token.count(".") == 2  # header.claims.signature

        alice = server.auth_info(token)
        await server.put(PutRequest(b"a", b"jwt"), alice)
        with pytest.raises(errors.InvalidAuthToken):
            server.auth_info(token[:-4] + "AAAA")
        await server.role_add(AuthRoleAddRequest("another"), root)
        with pytest.raises(errors.AuthOldRevision):
            await server.put(PutRequest(b"a", b"stale"), server.auth_info(token))
        nursery.cancel_scope.cancel()


def test_an_unknown_token_kind_is_refused_at_start_in_etcds_words():
    config = ServerConfig(auth_token="paseto")

    with pytest.raises(Exception, match="unknown token type: paseto"):
        config.validate()


async def test_an_expired_lease_is_revoked_with_its_keys_while_auth_is_on(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1, **FAST))
        await cluster.start_all()
        server = await cluster.leader()
        await _secure(server)
        alice = await _login(server, "alice", "alicepw")
        lease = await server.lease_grant(LeaseGrantRequest(ttl=1), alice)
        await server.put(PutRequest(b"a", b"leased", lease=lease.id), alice)

        await wait_for(lambda: server._state_now.lessor.lookup(lease.id) is None)

        root = await _login(server, "root", "rootpw")
        assert (await server.range(RangeRequest(b"a"), root)).kvs == []
        nursery.cancel_scope.cancel()
