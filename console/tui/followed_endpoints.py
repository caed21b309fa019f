"""The endpoints a long-lived client of the dashboard connects to, following the membership.

A client fails over only among the endpoints it was made with; once every one of those has
left the cluster (membership churn in a chaos run, remove-node in the playground) it can
reach nothing. `follow` takes the members there now; a connection none of whose endpoints
is still among them is told to end, so the next one is made with the current members.
"""

from __future__ import annotations

import anyio


class FollowedEndpoints:
    """The current endpoints, and those the open connection (if any) was made with."""

    def __init__(self, endpoints: list[str]) -> None:
        self.current = list(endpoints)
        self._connected: list[str] = []
        self._gone: anyio.Event | None = None

    def connect(self) -> list[str]:
        """The endpoints a new connection is to be made with (from now on, the followed)."""
        self._connected = list(self.current)
        self._gone = anyio.Event()
        return self._connected

    async def wait_until_gone(self) -> None:
        """Return once none of the connection's endpoints is a member any more."""
        assert self._gone is not None, "connect() first"
        await self._gone.wait()

    def follow(self, endpoints: list[str]) -> None:
        """The cluster's members are now at `endpoints`."""
        self.current = list(endpoints)
        if self._gone is not None and not set(self._connected) & set(endpoints):
            self._gone.set()
