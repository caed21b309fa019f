"""One gRPC channel to one member, as a MemberConnection: the Client over etcd's own v3 gRPC
API, the only door a real etcd has.

Calls and streams keep the names the native protocol gives them (`KV.Range`, `Lock.Lock`);
their bodies become etcd's protobuf messages (node.messages.grpc_convert) and the replies come
back as the bodies the native door sends, every field present. The auth token rides as etcd's
`token` metadata. Our own Admin calls (events, faults, step mode, raft status) have no gRPC
form: they fail with NotInGrpcApi. A failure of gRPC's transport (the member went away) is
ConnectionLost, etcd's refusals are the node.messages.errors classes, as on the native door.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from typing import Any

import anyio
import grpc
import grpc.aio
from anyio.streams.tls import TLSAttribute
from cryptography import x509
from google.protobuf.message import Message

from node.client.client_tls import ClientTls
from node.client.connection import parse_endpoint
from node.client.failures import (
    ConnectionLost,
    DeadlineExceeded,
    GrpcUnreachable,
    NotInGrpcApi,
    error_from,
)
from node.client.grpc_client import grpc_call, grpc_target
from node.client.response import Response
from node.messages import errors
from node.messages.grpc_convert import BodyMismatch, body_to_message, message_to_full_body
from node.messages.grpc_methods import GrpcMethod, grpc_methods

_BROKEN_STATES = (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)
_PROBE_TIMEOUT = 1.0
"""Seconds the call that asks gRPC why a channel cannot connect may take."""


class GrpcConnection:
    """A grpc.aio channel to one member carrying calls and streams (a MemberConnection)."""

    def __init__(self, channel: grpc.aio.Channel, endpoint: str) -> None:
        self.endpoint = endpoint
        self._channel = channel
        self.lost = False
        self.suspect = False

    @property
    def usable(self) -> bool:
        """Whether new calls should go here: neither broken nor suspect."""
        return not (self.lost or self.suspect)

    @classmethod
    async def open(
        cls,
        endpoint: str,
        credentials: grpc.ChannelCredentials | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> GrpcConnection:
        """A channel to `endpoint` (a URL or `host:port`) once it is connected, its TLS
        handshake done with `credentials`; ConnectionRefusedError when the member cannot be
        reached or refuses the handshake, saying why (the caller bounds the wait)."""
        target = grpc_target(endpoint)
        if credentials is None:
            channel = grpc.aio.insecure_channel(target, options)
        else:
            channel = grpc.aio.secure_channel(target, credentials, options)
        try:
            state = channel.get_state(try_to_connect=True)
            while state != grpc.ChannelConnectivity.READY:
                if state in _BROKEN_STATES:
                    reason = await _why_unreachable(channel)
                    if reason:
                        raise GrpcUnreachable(reason)
                await grpc_call(channel.wait_for_state_change(state))
                state = channel.get_state(try_to_connect=True)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await channel.close()
            raise
        return cls(channel, endpoint)

    @classmethod
    async def open_trusting_any(cls, endpoint: str, tls: ClientTls) -> GrpcConnection:
        """A channel as `open` gives, for etcdctl's --insecure-skip-tls-verify: grpcio always
        verifies, so it is told to trust the certificate the member presents in a handshake
        that verifies nothing, under a name that certificate carries."""
        host, port = parse_endpoint(endpoint)
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        if tls.cert:
            unverified.load_cert_chain(tls.cert, tls.key)
        stream = await anyio.connect_tcp(
            host, port, ssl_context=unverified, tls_standard_compatible=False
        )
        async with stream:
            der = stream.extra(TLSAttribute.peer_certificate_binary)
        if der is None:
            raise ConnectionRefusedError(f"{endpoint} presented no certificate")
        presented = ssl.DER_cert_to_PEM_cert(der).encode()
        options = [("grpc.ssl_target_name_override", _name_in(der) or host)]
        return await cls.open(endpoint, tls.grpc_credentials(presented), options)

    async def run(self) -> None:
        """Follow the channel's state until it breaks or is closed: a broken channel (the
        member went away) is lost, so the client dials again."""
        state = self._channel.get_state()
        while state not in _BROKEN_STATES and not self.lost:
            await grpc_call(self._channel.wait_for_state_change(state))
            state = self._channel.get_state()
        self.lost = True

    async def call(
        self,
        method: str,
        body: dict[str, Any],
        deadline: float = math.inf,
        token: str | None = None,
    ) -> Response:
        """Run one unary call made with the auth `token`, if any, and return its reply; the
        member's error, or DeadlineExceeded once the anyio clock passes `deadline`."""
        rpc = _method(method)
        request = _request(rpc, body)
        timeout = None if math.isinf(deadline) else max(deadline - anyio.current_time(), 0.0)
        caller = self._channel.unary_unary(
            rpc.path, request_serializer=_serialize, response_deserializer=rpc.reply.FromString
        )
        try:
            reply = await grpc_call(caller(request, timeout=timeout, metadata=_metadata(token)))
        except grpc.aio.AioRpcError as error:
            raise failure(error) from None
        except ConnectionError:
            raise ConnectionLost() from None
        return Response(message_to_full_body(reply))

    async def open_stream(
        self, method: str, body: dict[str, Any], token: str | None = None
    ) -> GrpcStream:
        """Open a stream with its first message (made with the auth `token`, if any)."""
        rpc = _method(method)
        request = _request(rpc, body)
        if rpc.client_streaming:
            opened = self._channel.stream_stream(
                rpc.path, request_serializer=_serialize, response_deserializer=rpc.reply.FromString
            )
            stream = GrpcStream(opened(metadata=_metadata(token)), rpc)
            try:
                await stream.send_message(request)
            except BaseException:
                await stream.close()
                raise
            return stream
        started = self._channel.unary_stream(
            rpc.path, request_serializer=_serialize, response_deserializer=rpc.reply.FromString
        )
        return GrpcStream(started(request, metadata=_metadata(token)), rpc)

    async def aclose(self) -> None:
        """Close the channel; calls and streams still on it fail."""
        self.lost = True
        with anyio.CancelScope(shield=True):
            await self._channel.close()


class GrpcStream:
    """One gRPC stream (a MemberStream): etcd's replies as bodies, the client's bodies sent as
    etcd's messages."""

    def __init__(self, call: Any, rpc: GrpcMethod) -> None:
        self._call = call
        self._rpc = rpc

    async def receive(self) -> Response | None:
        """The next message; None once the member ended the stream. Raises its error, or
        ConnectionLost when the connection broke."""
        try:
            message = await grpc_call(self._call.read())
        except grpc.aio.AioRpcError as error:
            raise failure(error) from None
        except ConnectionError:
            raise ConnectionLost() from None
        if message is grpc.aio.EOF:
            return None
        return Response(message_to_full_body(message))

    async def send(self, body: dict[str, Any]) -> None:
        """Send one more stream message to the member."""
        await self.send_message(_request(self._rpc, body))

    async def send_message(self, message: Message) -> None:
        """Send one more stream message, already a protobuf message."""
        try:
            await grpc_call(self._call.write(message))
        except grpc.aio.AioRpcError as error:
            raise failure(error) from None
        except ConnectionError:
            raise ConnectionLost() from None

    async def close(self) -> None:
        """End the stream (the member cancels it); safe to call twice."""
        self._call.cancel()


def failure(error: grpc.aio.AioRpcError) -> errors.EtcdError:
    """What a failed gRPC call raises: etcd's error by its code and text; DeadlineExceeded for
    a deadline gRPC kept; ConnectionLost when gRPC's transport failed (not etcd's refusal)."""
    code = error.code()
    refusal = error_from(code.name, error.details() or code.name)
    if type(refusal) is not errors.EtcdError:
        return refusal
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded()
    if code == grpc.StatusCode.UNAVAILABLE:
        lost = ConnectionLost()
        lost.__cause__ = refusal
        return lost
    return refusal


async def _why_unreachable(channel: grpc.aio.Channel) -> str:
    """gRPC's words for why `channel` cannot connect, told by a call that fails at once; ""
    if the call went through after all (the channel has connected meanwhile)."""
    status = grpc_methods()["Maintenance.Status"]
    probe = channel.unary_unary(
        status.path, request_serializer=_serialize, response_deserializer=status.reply.FromString
    )
    try:
        await grpc_call(probe(status.request(), timeout=_PROBE_TIMEOUT))
    except grpc.aio.AioRpcError as error:
        return error.details() or error.code().name
    return ""


def _name_in(der: bytes) -> str | None:
    """A name the certificate is valid for: its first DNS name, else its first IP address,
    else its common name."""
    certificate = x509.load_der_x509_certificate(der)
    with contextlib.suppress(x509.ExtensionNotFound):
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        addresses = san.get_values_for_type(x509.IPAddress)
        if names or addresses:
            return names[0] if names else str(addresses[0])
    common = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else None


def _method(name: str) -> GrpcMethod:
    rpc = grpc_methods().get(name)
    if rpc is None:
        raise NotInGrpcApi(name)
    return rpc


def _request(rpc: GrpcMethod, body: dict[str, Any]) -> Message:
    try:
        return body_to_message(rpc.request, body)
    except BodyMismatch as mismatch:
        raise ValueError(str(mismatch)) from None


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    return None if token is None else (("token", token),)
