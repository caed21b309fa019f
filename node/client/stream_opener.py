"""What the client's long-lived streams need of a client: opening a stream on a member.

The streams (node.client.streams) take a StreamOpener rather than the Client itself, so the
client module can build streams without the two modules importing each other.
"""

from __future__ import annotations

from typing import Any, Protocol

from node.client.member_connection import MemberStream
from node.client.response import Response


class StreamOpener(Protocol):
    """Opens streams by their native method name, failing over between endpoints."""

    async def open_stream(self, method: str, body: dict[str, Any]) -> MemberStream:
        """Open a stream with its first message."""
        ...

    async def open_stream_with_reply(
        self, method: str, body: dict[str, Any]
    ) -> tuple[MemberStream, Response]:
        """Open a stream that is safe to reopen and wait for its first reply."""
        ...
