"""TLS as etcd 3.4's TLSInfo (pkg/transport/listener.go): a member's certificate, key, trusted
CA and client-cert-auth for one side (client or peer), the contexts it serves and dials with,
and accepting a connection that must speak TLS (--auto-tls certificates: self_signed.py).

Shared by the peer transport (raft, snapshots, peer requests) and the client doors, which
terminate TLS themselves on trio's SSLStream (grpcio sits behind the client port on loopback).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import trio

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 10.0
"""How long an accepted connection has to finish its TLS handshake."""
GO_TLS_ERRORS = {
    "HTTP_REQUEST": "tls: first record does not look like a TLS handshake",
    "WRONG_VERSION_NUMBER": "tls: first record does not look like a TLS handshake",
    "UNKNOWN_PROTOCOL": "tls: first record does not look like a TLS handshake",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "tls: client didn't provide a certificate",
    "CERTIFICATE_VERIFY_FAILED": (
        "tls: failed to verify client certificate: x509: certificate signed by unknown authority"
    ),
}
"""OpenSSL's reasons for a failed handshake in Go's words, as etcd logs them."""


@dataclass(slots=True, frozen=True)
class TlsInfo:
    """One side's TLS settings, as etcd's flags give them (--cert-file or --peer-cert-file, ...).

    As etcd 3.4, a trusted CA file makes the server require and verify a client certificate
    just as --client-cert-auth does; `self_signed` marks --auto-tls certificates, which a
    dialing peer does not verify.
    """

    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    self_signed: bool = False

    @property
    def empty(self) -> bool:
        """No certificate and key: this side speaks plaintext."""
        return not self.cert_file and not self.key_file

    @property
    def requires_client_cert(self) -> bool:
        return self.client_cert_auth or bool(self.trusted_ca_file)

    def server_context(self) -> ssl.SSLContext:
        """What a listener of this side accepts with (ALPN: h2 for gRPC, http/1.1 for HTTP)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.trusted_ca_file:
            context.load_verify_locations(self.trusted_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if self.requires_client_cert else ssl.CERT_NONE
        # The server's order wins: a client offering http/1.1 (curl, browsers) gets it and
        # reaches the HTTP door; gRPC clients offer only h2, which grpcio insists on.
        context.set_alpn_protocols(["http/1.1", "h2"])
        return context

    def client_context(self) -> ssl.SSLContext:
        """What this member dials its peers with: its own certificate, the trusted CA (the
        system's without one), no verification of --auto-tls certificates (as etcd)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.trusted_ca_file:
            context.load_verify_locations(self.trusted_ca_file)
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        if self.self_signed:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def peer_common_name(stream: trio.SSLStream[trio.SocketStream]) -> str | None:
    """The common name of the verified certificate the other end presented ("" when its
    subject has none, as Go's Subject.CommonName); None without a verified certificate."""
    certificate = stream.getpeercert()
    if not certificate:
        return None
    for entry in certificate.get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return ""


def _remote(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def accept_tls(
    stream: trio.SocketStream, context: ssl.SSLContext, *, https_compatible: bool = False
) -> trio.SSLStream[trio.SocketStream] | None:
    """The accepted connection with its TLS handshake done, or None (closed, and logged as
    etcd's "rejected connection") when the other end sent plaintext, a certificate this side
    does not trust, none when one is required, or nothing in time. `https_compatible` (the
    client port, as HTTP clients do) neither sends nor expects a close_notify."""
    remote = _remote(stream)
    tls = trio.SSLStream(stream, context, server_side=True, https_compatible=https_compatible)
    try:
        with trio.fail_after(HANDSHAKE_TIMEOUT_S):
            await tls.do_handshake()
    except (trio.BrokenResourceError, trio.TooSlowError, trio.ClosedResourceError) as error:
        cause = error.__cause__ or error
        reason = getattr(cause, "reason", None) or str(cause) or type(cause).__name__
        reason = GO_TLS_ERRORS.get(reason, reason)
        log.warning('rejected connection from "%s" (error "%s", ServerName "")', remote, reason)
        await trio.aclose_forcefully(stream)
        return None
    return tls


async def open_peer_stream(host: str, port: int, context: ssl.SSLContext | None) -> trio.abc.Stream:
    """A TCP connection to (host, port), with the TLS handshake done when `context` is given
    (OSError or trio.BrokenResourceError when either fails)."""
    stream = await trio.open_tcp_stream(host, port)
    if context is None:
        return stream
    tls = trio.SSLStream(stream, context, server_hostname=host)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return tls
