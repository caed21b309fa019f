"""A call to members that its caller cancelled ends cancelled, whatever the call met on the
way out: a step-mode fault whose hold ended mid-call once reported the connection it was
tearing down as a failure ("stopped stepping: member n3: transport is closing"). Both ways the
console calls members are checked: the playground's, and the chaos nemesis's fault calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio.abc import SocketAttribute

from console.chaos import nemesis
from node.client import Client, ConnectionLost
from playground.member_call import call_members

Call = Callable[[Client], Awaitable[None]]
RUNNERS: dict[str, Callable[[str, Call], Awaitable[object]]] = {
    "playground": lambda endpoint, call: call_members([endpoint], call, "member n1", 2.0),
    "nemesis": lambda endpoint, call: nemesis._with_client([endpoint], call, None),
}


async def _hold_open(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        await anyio.sleep_forever()


@pytest.mark.parametrize("runner", sorted(RUNNERS))
async def test_a_call_its_caller_cancelled_ends_cancelled(runner: str) -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as server:
            server.start_soon(listener.serve, _hold_open)
            with anyio.CancelScope() as caller:

                async def call(client: Client) -> None:
                    caller.cancel()
                    raise ConnectionLost()

                await RUNNERS[runner](f"127.0.0.1:{port}", call)
            server.cancel_scope.cancel()
    assert caller.cancelled_caught
