"""Where a TLS playground (`play --tls`) keeps its certificates and the flags that use them:
a CA of its own, one certificate every member serves and dials its peers with (127.0.0.1 and
localhost), and a client certificate whose common name is the user (root). They are made by
certificate_authority.py, imported only when a TLS playground is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CERTS_DIRECTORY = "certs"
"""Where in a playground's directory its certificates are."""
CLIENT_NAME = "root"
"""The client certificate's CN: the user etcd takes it for when auth is on."""


@dataclass(slots=True, frozen=True)
class CertificateFiles:
    """Paths of one playground's PEM files."""

    ca: Path
    member_cert: Path
    member_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> CertificateFiles:
        return cls(
            directory / "ca.pem",
            directory / "member.pem",
            directory / "member-key.pem",
            directory / "client.pem",
            directory / "client-key.pem",
        )

    def exist(self) -> bool:
        return all(path.exists() for path in (self.ca, self.member_cert, self.client_cert))

    def member_flags(self) -> list[str]:
        """etcd's flags for mutual TLS on both the client and the peer side."""
        return [
            f"--cert-file={self.member_cert}",
            f"--key-file={self.member_key}",
            f"--trusted-ca-file={self.ca}",
            "--client-cert-auth",
            f"--peer-cert-file={self.member_cert}",
            f"--peer-key-file={self.member_key}",
            f"--peer-trusted-ca-file={self.ca}",
            "--peer-client-cert-auth",
        ]

    def etcdctl_flags(self) -> list[str]:
        """etcdctl's flags for a client of this playground."""
        return [f"--cacert={self.ca}", f"--cert={self.client_cert}", f"--key={self.client_key}"]
