"""A call to members that its caller cancelled ends cancelled, whatever the call met on the
way out: a step-mode fault whose hold ended mid-call once reported the connection it was
tearing down as a failure ("stopped stepping: member n3: transport is closing")."""

from __future__ import annotations

import anyio
from anyio.abc import SocketAttribute

from node.client import Client, ConnectionLost
from playground.member_call import call_members


async def _cancelled_while_failing() -> bool:
    """Whether a call that fails just after its caller's scope was cancelled ends cancelled."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as server:
            server.start_soon(listener.serve, _hold_open)
            with anyio.CancelScope() as caller:

                async def call(client: Client) -> None:
                    caller.cancel()
                    raise ConnectionLost()

                await call_members([f"127.0.0.1:{port}"], call, "member n1", 2.0)
            server.cancel_scope.cancel()
    return caller.cancelled_caught


async def _hold_open(stream: anyio.abc.SocketStream) -> None:
    async with stream:
        await anyio.sleep_forever()


async def test_a_call_its_caller_cancelled_ends_cancelled() -> None:
    assert await _cancelled_while_failing()
