"""The endpoints a long-lived client of the dashboard connects to, following the membership.

A client fails over only among the endpoints it was made with; once every one of those has
left the cluster (membership churn in a chaos run, remove-node in the playground) it can
reach nothing. `follow` takes the members there now; a connection none of whose endpoints
is still among them is cancelled, so the next one is made with the current members.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio


class FollowedEndpoints:
    """The current endpoints, and the connection (if any) made with earlier ones."""

    def __init__(self, endpoints: list[str]) -> None:
        self.current = list(endpoints)
        self._connected: list[str] = []
        self._scope: anyio.CancelScope | None = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[list[str]]:
        """The endpoints to connect to now; the block is cancelled when they all leave."""
        with anyio.CancelScope() as scope:
            self._scope, self._connected = scope, list(self.current)
            try:
                yield self._connected
            finally:
                self._scope = None

    def follow(self, endpoints: list[str]) -> None:
        """The cluster's members are now at `endpoints`."""
        self.current = list(endpoints)
        if self._scope is not None and not set(self._connected) & set(endpoints):
            self._scope.cancel()
