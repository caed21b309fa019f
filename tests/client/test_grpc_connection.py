"""What a call through the gRPC door raises: etcd's refusals as the node.messages.errors classes
the native door gives, gRPC's own failures as the client's ConnectionLost and DeadlineExceeded,
and our native-only calls refused before anything is sent."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest

from node.client import ConnectionLost, DeadlineExceeded, NotInGrpcApi
from node.client.grpc_connection import GrpcConnection, failure
from node.messages import errors


def _failed(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "details", "raised"),
    [
        (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader", errors.NoLeader),
        (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: key is not provided", errors.EmptyKey),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied.message,
         errors.PermissionDenied),
        (grpc.StatusCode.UNAVAILABLE, "Socket closed", ConnectionLost),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", DeadlineExceeded),
    ],
)  # fmt: skip
def test_a_failed_call_raises_what_the_native_door_would(code, details, raised):
    assert type(failure(_failed(code, details))) is raised


def test_an_unknown_refusal_keeps_etcds_code_and_text():
    refused = failure(_failed(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: something new"))

    assert (refused.code, str(refused)) == ("FAILED_PRECONDITION", "etcdserver: something new")


def test_a_call_only_our_members_answer_is_refused_without_dialing():
    async def ask() -> str:
        channel = grpc.aio.insecure_channel("127.0.0.1:9")
        connection = GrpcConnection(channel, "127.0.0.1:9")
        try:
            await connection.call("Admin.RaftStatus", {})
        except NotInGrpcApi as refused:
            return str(refused)
        finally:
            await connection.aclose()
        return "answered"

    assert asyncio.run(ask()) == (
        "Admin.RaftStatus is a call of the native door of members of ours: etcd's gRPC API has "
        "none"
    )
