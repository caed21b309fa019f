"""etcd's v3 gRPC methods by the names both doors give them (`KV.Range`, `Lock.Lock`): each
one's path on the wire, its request and reply classes, and which way it streams."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.v3electionpb import v3election_pb2
from node.messages.gen.v3lockpb import v3lock_pb2

ETCD_SERVICES: tuple[ServiceDescriptor, ...] = (
    *(rpc_pb2.DESCRIPTOR.services_by_name[name] for name in
      ("KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth")),
    v3lock_pb2.DESCRIPTOR.services_by_name["Lock"],
    v3election_pb2.DESCRIPTOR.services_by_name["Election"],
)  # fmt: skip
"""The services of etcd 3.4's gRPC API, with v3lock and v3election."""


@dataclass(slots=True, frozen=True)
class GrpcMethod:
    """One method of etcd's gRPC API."""

    name: str
    """`Service.Method`, as the native protocol names it."""
    path: str
    """`/package.Service/Method`, as gRPC calls it."""
    request: type[Message]
    reply: type[Message]
    client_streaming: bool
    server_streaming: bool


@cache
def grpc_methods() -> dict[str, GrpcMethod]:
    """Every method of ETCD_SERVICES by its `Service.Method` name."""
    methods = {}
    for service in ETCD_SERVICES:
        for method in service.methods:
            name = f"{service.name}.{method.name}"
            methods[name] = GrpcMethod(
                name,
                f"/{service.full_name}/{method.name}",
                message_factory.GetMessageClass(method.input_type),
                message_factory.GetMessageClass(method.output_type),
                method.client_streaming,
                method.server_streaming,
            )
    return methods
