"""Who each TLS client is: the common name of its verified certificate, by connection.

etcd takes that name as the user when auth is on and no token is given. TLS ends at the
client port (client_port.py), which splices gRPC connections to grpcio on loopback, so a gRPC
call's own peer address (`context.peer()`, "ipv4:127.0.0.1:PORT") is the splice's end and not
the client's: the client port records the name under that address for as long as the
connection lives, and the gRPC door looks it up with `common_name(context.peer())`. The native
door keeps the name on its connection (`_Connection.common_name`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class VerifiedClients:
    """Common names of verified client certificates, keyed by the gRPC door's view of each
    spliced connection's address ("ipv4:127.0.0.1:PORT")."""

    names: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def grpc_peer(host: str, port: int) -> str:
        """The address grpcio reports for a connection from (host, port), as context.peer()."""
        return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"

    def add(self, grpc_peer: str, common_name: str) -> None:
        self.names[grpc_peer] = common_name

    def remove(self, grpc_peer: str) -> None:
        self.names.pop(grpc_peer, None)

    def common_name(self, grpc_peer: str) -> str | None:
        """The verified certificate's CN of the client behind this gRPC peer, if it sent one."""
        return self.names.get(grpc_peer)
