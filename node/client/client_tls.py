"""A client's TLS, from etcdctl's connection flags (--cacert, --cert, --key,
--insecure-skip-tls-verify): the ssl context the native client dials with and the gRPC
channel credentials of GrpcClient, which both present the client certificate when given.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import grpc


@dataclass(slots=True, frozen=True)
class ClientTls:
    """Files as etcdctl takes them; an empty `cacert` trusts the system's CAs (as etcdctl)."""

    cacert: str = ""
    cert: str = ""
    key: str = ""
    insecure_skip_tls_verify: bool = False

    @classmethod
    def from_flags(
        cls,
        endpoints: list[str],
        cacert: str = "",
        cert: str = "",
        key: str = "",
        insecure_skip_tls_verify: bool = False,
    ) -> ClientTls | None:
        """TLS when etcdctl would use it: an https endpoint or any TLS flag; None otherwise."""
        wanted = cacert or cert or key or insecure_skip_tls_verify
        if not wanted and not any(endpoint.startswith("https://") for endpoint in endpoints):
            return None
        if bool(cert) != bool(key):
            raise ValueError("--cert and --key must be given together")
        return cls(cacert, cert, key, insecure_skip_tls_verify)

    def ssl_context(self) -> ssl.SSLContext:
        """The context the native client dials with."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cacert or None)
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def grpc_credentials(self, presented: bytes | None = None) -> grpc.ChannelCredentials:
        """The channel credentials a gRPC channel dials with. grpcio always verifies the
        server: with --insecure-skip-tls-verify it is made to trust `presented`, the PEM
        certificate the member showed (node.client.grpc_connection fetches it), else refused."""
        if self.insecure_skip_tls_verify and presented is None:
            raise ValueError(
                "--insecure-skip-tls-verify is not supported by the dashboard's gRPC client: "
                "give --cacert"
            )
        if presented is not None:
            root: bytes | None = presented
        else:
            root = _read(self.cacert) if self.cacert else None
        chain = _read(self.cert) if self.cert else None
        key = _read(self.key) if self.key else None
        return grpc.ssl_channel_credentials(root, key, chain)


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()
