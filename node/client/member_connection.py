"""What the client needs of a connection to one member, whichever door it goes through: the
native protocol (node.client.connection) or etcd's gRPC API (node.client.grpc_connection).

Both carry calls and streams named as the native protocol names them (`KV.Range`,
`Watch.Watch`), with bodies and replies keyed by etcd's proto field names, so the Client, its
streams and everything above them are the same over either door.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

from node.client.response import Response

Door = Literal["native", "grpc"]
"""Which front door a client dials: our members' native protocol, or etcd's gRPC API (the
only one a real etcd has)."""


class MemberStream(Protocol):
    """One open stream to a member: receive its messages, send the client's."""

    async def receive(self) -> Response | None:
        """The next message; None once the member ended the stream. Raises its error, or
        ConnectionLost when the connection broke."""
        ...

    async def send(self, body: dict[str, Any]) -> None:
        """Send one more stream message to the member."""
        ...

    async def close(self) -> None:
        """End the stream (the member cancels it); safe to call twice."""
        ...


class MemberConnection(Protocol):
    """A connection to one member carrying many calls and streams at once."""

    endpoint: str
    lost: bool
    """Broken: new calls need a new connection."""
    suspect: bool
    """A call timed out without hearing from the member: try another one first."""

    @property
    def usable(self) -> bool:
        """Whether new calls should go here: neither broken nor suspect."""
        ...

    async def run(self) -> None:
        """Serve the connection (read replies, follow its state) until it ends."""
        ...

    async def call(
        self,
        method: str,
        body: dict[str, Any],
        deadline: float = math.inf,
        token: str | None = None,
    ) -> Response:
        """Run one unary call made with the auth `token`, if any, and return its reply; the
        member's error, or DeadlineExceeded once the anyio clock passes `deadline`."""
        ...

    async def open_stream(
        self, method: str, body: dict[str, Any], token: str | None = None
    ) -> MemberStream:
        """Open a stream with its first message."""
        ...

    async def aclose(self) -> None:
        """Close the connection; what still waits on it fails."""
        ...
