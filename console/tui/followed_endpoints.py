"""The dashboard's long-lived client of the cluster, following the membership.

A client fails over only among the endpoints it was made with; once every one of those has
left the cluster (membership churn in a chaos run, remove-node in the playground) it can
reach nothing. `follow` takes the members there now; a connection none of whose endpoints
is still among them is told to end, so the next one is made with the current members.
`HeldClient` keeps such a client (and what is built on it) connected for the key source and
the command bar.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

import anyio

from node.client import Client

CALL_TIMEOUT = 2.0
RECONNECT_INTERVAL = 0.5
READY_TIMEOUT = 5.0
"""Seconds a caller waits for the first connection before giving up."""

_Held = TypeVar("_Held")


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


class HeldClient(Generic[_Held]):
    """A client of the followed endpoints, made again after `failures` or once its members
    have all left; `enter` builds what is held on it (the client itself, a Console)."""

    def __init__(
        self,
        endpoints: list[str],
        enter: Callable[[Client], AbstractAsyncContextManager[_Held]],
        failures: tuple[type[Exception], ...],
    ) -> None:
        self.endpoints = FollowedEndpoints(endpoints)
        self._enter = enter
        self._failures = failures
        self._held: _Held | None = None
        self._ready: anyio.Event | None = None

    def _ready_event(self) -> anyio.Event:
        if self._ready is None:
            self._ready = anyio.Event()
        return self._ready

    async def run(self) -> None:
        """Keep connected until cancelled."""
        while True:
            endpoints = self.endpoints.connect()
            try:
                async with (
                    await Client.connect(endpoints, timeout=CALL_TIMEOUT) as client,
                    self._enter(client) as held,
                ):
                    self._held = held
                    self._ready_event().set()
                    try:
                        await self.endpoints.wait_until_gone()
                    finally:
                        self._held = None  # before it closes: no call may start on it
            except* self._failures:
                pass  # the client's task group may wrap what it lost
            await anyio.sleep(RECONNECT_INTERVAL)

    async def held(self) -> _Held | None:
        """What is held now, waiting a while for the first connection; None if there is none."""
        with anyio.move_on_after(READY_TIMEOUT):
            await self._ready_event().wait()
        return self._held
