"""The errors a client call raises: etcd's errors rebuilt from a reply's code and text.

A member answers a failed call with etcd's gRPC code name and message; the client raises the
node.messages.errors class with that message (so `except errors.Compacted` works on the client
side as in the server), or a plain EtcdError carrying the code for a text it does not know.
"""

from __future__ import annotations

from node.messages import errors


class NoEndpointAvailable(errors.EtcdError):
    """No endpoint accepted a connection: nothing was sent."""

    code = "UNAVAILABLE"
    message = "there is no connection available"


class ConnectionLost(errors.EtcdError):
    """The connection broke after the request went out: it may or may not have been applied."""

    code = "UNAVAILABLE"
    message = "transport is closing"


class ClientClosed(errors.EtcdError):
    """The client was closed before or while the call ran (grpc-go's ErrClientConnClosing):
    a call racing with the close may or may not have been applied."""

    code = "CANCELED"
    message = "grpc: the client connection is closing"


class DeadlineExceeded(errors.EtcdError):
    """The call's deadline passed before its reply came (clientv3's context deadline): it may
    or may not have been applied."""

    code = "DEADLINE_EXCEEDED"
    message = "context deadline exceeded"


def _known_errors() -> dict[str, type[errors.EtcdError]]:
    known: dict[str, type[errors.EtcdError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.EtcdError):
            known[value.message] = value
    return known


_BY_MESSAGE = _known_errors()


def error_from(code: str, message: str) -> errors.EtcdError:
    """The exception for a member's error reply."""
    known = _BY_MESSAGE.get(message)
    if known is not None and known.code == code:
        return known()
    error = errors.EtcdError(message)
    error.code = code
    return error


class GrpcUnreachable(ConnectionError):
    """A member's gRPC channel cannot connect; the text is gRPC's reason (refused, a TLS
    handshake that failed, ...)."""


class NotInGrpcApi(errors.EtcdError):
    """A call of our members' native door (events, faults, step mode, raft status) asked of
    etcd's gRPC API, which has no such method."""

    code = "UNIMPLEMENTED"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"{method} is a call of the native door of members of ours: etcd's gRPC API has none"
        )
