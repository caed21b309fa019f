"""The command language behind the dashboard's command bar: the REPL's own Console, on a
client of its own, held open while the dashboard runs (background jobs live in it)."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from console.cluster import Playground
from console.commands import BackgroundOutput, Command, Console, Result
from console.tui.followed_endpoints import FollowedEndpoints
from node.client import Client
from node.errors import EtcdError

CALL_TIMEOUT = 2.0
RECONNECT_INTERVAL = 0.5
READY_TIMEOUT = 5.0
"""Seconds a command waits for the cluster connection before failing."""


class CommandSession:
    """One Console of the cluster at `endpoints` (and the playground, if any)."""

    def __init__(
        self,
        endpoints: list[str],
        playground: Playground | None,
        on_background: Callable[[BackgroundOutput], None],
    ) -> None:
        self._endpoints = FollowedEndpoints(endpoints)
        self.playground = playground
        self.on_background = on_background
        self._console: Console | None = None
        self._ready: anyio.Event | None = None

    def _ready_event(self) -> anyio.Event:
        if self._ready is None:
            self._ready = anyio.Event()
        return self._ready

    @property
    def endpoints(self) -> list[str]:
        """The members' endpoints, as last followed."""
        return self._endpoints.current

    def follow_endpoints(self, endpoints: list[str]) -> None:
        """The cluster's members are now at `endpoints` (reconnect if none is left)."""
        self._endpoints.follow(endpoints)

    async def run(self) -> None:
        """Connect and keep the Console entered until cancelled."""
        while True:
            endpoints = self._endpoints.connect()
            try:
                async with (
                    await Client.connect(endpoints, timeout=CALL_TIMEOUT) as client,
                    Console(client, self.playground) as console,
                ):
                    console.on_background = self.on_background
                    self._console = console
                    self._ready_event().set()
                    try:
                        await self._endpoints.wait_until_gone()
                    finally:
                        self._console = None  # before it closes: no command may start on it
            except* (EtcdError, OSError):
                pass  # the client's task group may wrap what it lost
            await anyio.sleep(RECONNECT_INTERVAL)

    async def execute(self, command: Command) -> Result:
        """Run one parsed command; a cluster that cannot be reached is one error line."""
        with anyio.move_on_after(READY_TIMEOUT):
            await self._ready_event().wait()
        if self._console is None:
            line = (
                f"Error: cannot reach the cluster: no member answers at {', '.join(self.endpoints)}"
            )
            return Result(False, [line])
        return await self._console.execute(command)
