"""The command language behind the dashboard's command bar: the REPL's own Console, on a
client of its own, held open while the dashboard runs (background jobs live in it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from console.commands import BackgroundOutput, Command, Console, Result
from console.tui.followed_endpoints import HeldClient
from node.client import Client
from node.errors import EtcdError
from playground.playground import Playground


class CommandSession:
    """One Console of the cluster at `endpoints` (and the playground, if any)."""

    def __init__(
        self,
        endpoints: list[str],
        playground: Playground | None,
        on_background: Callable[[BackgroundOutput], None],
    ) -> None:
        self.playground = playground
        self.on_background = on_background
        self._console = HeldClient(endpoints, self._console_on, (EtcdError, OSError))

    @contextlib.asynccontextmanager
    async def _console_on(self, client: Client) -> AsyncIterator[Console]:
        async with Console.open(client, self.playground) as console:
            console.on_background = self.on_background
            yield console

    @property
    def endpoints(self) -> list[str]:
        """The members' endpoints, as last followed."""
        return self._console.endpoints.current

    def follow_endpoints(self, endpoints: list[str]) -> None:
        """The cluster's members are now at `endpoints` (reconnect if none is left)."""
        self._console.endpoints.follow(endpoints)

    async def run(self) -> None:
        """Connect and keep the Console entered until cancelled."""
        await self._console.run()

    async def execute(self, command: Command) -> Result:
        """Run one parsed command; a cluster that cannot be reached is one error line."""
        console = await self._console.held()
        if console is None:
            line = (
                f"Error: cannot reach the cluster: no member answers at {', '.join(self.endpoints)}"
            )
            return Result(False, [line])
        return await console.execute(command)
