"""TLS at the shared client port: a gRPC client with a verified certificate is known by its
common name to the gRPC door (VerifiedClients) while its connection lives, as auth needs it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc
import trio

from node.api.client_port import serve_client_port
from node.api.grpc_door import serve_grpc
from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from playground.certificate_authority import make_certificates
from tests.api.native_cluster import _free_port, native_cluster

WAIT_S = 10.0


async def test_a_verified_client_certificate_names_its_grpc_connection(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    async with native_cluster(tmp_path / "data") as (member,):
        url = [f"https://127.0.0.1:{_free_port()}"]
        config = dataclasses.replace(
            member.server.config,
            listen_client_urls=url,
            advertise_client_urls=url,
            cert_file=str(certs.member_cert),
            key_file=str(certs.member_key),
            trusted_ca_file=str(certs.ca),
            client_cert_auth=True,
        )
        credentials = grpc.ssl_channel_credentials(
            certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
        )
        async with trio.open_nursery() as nursery:
            client_port = await nursery.start(serve_client_port, member.server, config)
            channel = grpc.secure_channel(f"127.0.0.1:{client_port.ports[0]}", credentials)
            try:
                status = rpc_pb2_grpc.MaintenanceStub(channel).Status
                reply = await trio.to_thread.run_sync(
                    lambda: status(rpc_pb2.StatusRequest(), timeout=WAIT_S)
                )
                assert reply.header.member_id == member.server.member_id
                names = client_port.grpc_door.verified_clients.names
                assert list(names.values()) == ["root"]
                assert all(peer.startswith("ipv4:127.0.0.1:") for peer in names)
            finally:
                channel.close()
            with trio.fail_after(WAIT_S):
                # the splice ends on its own once the client's connection closes
                while client_port.grpc_door.verified_clients.names:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            await client_port.grpc_door.stop()
            nursery.cancel_scope.cancel()


async def test_grpc_alone_on_the_client_port_serves_tls_itself(tmp_path: Path) -> None:
    """--client-port-http=false: grpcio owns the port and does the handshake, with the same
    certificates and client-cert-auth."""
    certs = make_certificates(tmp_path / "certs")
    async with native_cluster(tmp_path / "data") as (member,):
        url = [f"https://127.0.0.1:{_free_port()}"]
        config = dataclasses.replace(
            member.server.config,
            listen_client_urls=url,
            advertise_client_urls=url,
            client_port_http=False,
            cert_file=str(certs.member_cert),
            key_file=str(certs.member_key),
            trusted_ca_file=str(certs.ca),
        )
        with_cert = grpc.ssl_channel_credentials(
            certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
        )
        without_cert = grpc.ssl_channel_credentials(certs.ca.read_bytes())
        target = url[0].removeprefix("https://")

        def status(credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
            with grpc.secure_channel(target, credentials) as channel:
                try:
                    rpc_pb2_grpc.MaintenanceStub(channel).Status(
                        rpc_pb2.StatusRequest(), timeout=WAIT_S / 2
                    )
                except grpc.RpcError as error:
                    return error.code()  # type: ignore[no-any-return, attr-defined]
            return grpc.StatusCode.OK

        async with trio.open_nursery() as nursery:
            door = await nursery.start(serve_grpc, member.server, config)
            assert await trio.to_thread.run_sync(status, with_cert) == grpc.StatusCode.OK
            assert await trio.to_thread.run_sync(status, without_cert) == (
                grpc.StatusCode.UNAVAILABLE
            )
            await door.stop()
            nursery.cancel_scope.cancel()
