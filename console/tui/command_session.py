"""The command language behind the dashboard's command bar: the REPL's own Console, on a
client of its own that follows the membership, held open while the dashboard runs
(background jobs live in it); on a real etcd its client goes through etcd's gRPC API."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from console.commands import BackgroundOutput, Command, Console, Result
from console.tui.playground_endpoints import playground_member_endpoints
from node.client import Client, ClientTls, Door
from playground.playground import Playground

CALL_TIMEOUT = 2.0
SYNC_INTERVAL = 1.0
"""Seconds between two looks at the member list by the command bar's client."""
READY_TIMEOUT = 5.0
"""Seconds a command waits for the Console to be running before giving up."""


class CommandSession:
    """One Console of the cluster at `endpoints` (and the playground, if any)."""

    def __init__(
        self,
        endpoints: list[str],
        playground: Playground | None,
        on_background: Callable[[BackgroundOutput], None],
        tls: ClientTls | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        door: Door = "native",
    ) -> None:
        self.playground = playground
        self._door: Door = door
        self._tls = tls
        self._user, self._password = user, password
        self.on_background = on_background
        self._endpoints = list(endpoints)
        self._console: Console | None = None
        self._running: anyio.Event | None = None

    @property
    def endpoints(self) -> list[str]:
        """The members' endpoints, as the client last synced them."""
        return self._endpoints if self._console is None else self._console.client.endpoints

    def _running_event(self) -> anyio.Event:
        if self._running is None:
            self._running = anyio.Event()
        return self._running

    async def run(self) -> None:
        """Keep the Console entered, on a client following the members, until cancelled."""
        member_endpoints = (
            None if self.playground is None else playground_member_endpoints(self.playground)
        )
        client = Client(
            self._endpoints,
            timeout=CALL_TIMEOUT,
            auto_sync_interval=SYNC_INTERVAL,
            member_endpoints=member_endpoints,
            tls=self._tls,
            user=self._user,
            password=self._password,
            door=self._door,
        )
        async with client, Console.open(client, self.playground) as console:
            console.on_background = self.on_background
            self._console = console
            self._running_event().set()
            try:
                await anyio.sleep_forever()
            finally:
                self._endpoints, self._console = client.endpoints, None

    async def execute(self, command: Command) -> Result:
        """Run one parsed command; a cluster that cannot be reached is one error line."""
        with anyio.move_on_after(READY_TIMEOUT):
            await self._running_event().wait()
        console = self._console
        if console is None:
            line = (
                f"Error: cannot reach the cluster: no member answers at {', '.join(self.endpoints)}"
            )
            return Result(False, [line])
        return await console.execute(command)
