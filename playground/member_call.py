"""One call to playground members through `node.client`; however it fails, one PlaygroundError.

A failure whose reply was lost (a timeout, a dropped connection) is an OutcomeUnknown: the
change asked for may have been made anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.lowlevel

from node.client import Client, ClientTls, ConnectionLost, DeadlineExceeded
from node.messages.errors import (
    EtcdError,
    Timeout,
    TimeoutDueToConnectionLost,
    TimeoutDueToLeaderFail,
)
from playground.errors import OutcomeUnknown, PlaygroundError

CALL_TIMEOUT = 2.0
"""Seconds one status or fault call to a member may take."""
RECONFIG_TIMEOUT = 10.0
"""Seconds a MemberAdd or MemberRemove may take (etcd's request timeout is 5 s + 2 elections)."""

Result = TypeVar("Result")

_CALL_FAILURES = (TimeoutError, EtcdError, OSError)
"""How a call to members fails; anything else is a bug or a cancellation, and goes on up."""
_LOST_REPLIES = (
    DeadlineExceeded,
    ConnectionLost,
    Timeout,
    TimeoutDueToLeaderFail,
    TimeoutDueToConnectionLost,
)
"""etcd's errors for a request that may have been applied although it failed."""


async def call_members(
    endpoints: list[str],
    call: Callable[[Client], Awaitable[Result]],
    whom: str,
    reply_within: float,
    tls: ClientTls | None = None,
) -> Result:
    """Run `call` with a client of `endpoints` (dialing with `tls`), which must answer within
    `reply_within` seconds (the client's request timeout too); `whom` names them in the error."""
    try:
        with anyio.fail_after(reply_within):
            async with await Client.connect(endpoints, timeout=reply_within, tls=tls) as client:
                return await call(client)
    except BaseExceptionGroup as group:
        # The client's task group wraps what the call raised.
        failure = _call_failure_in(group)
        if failure is None:
            raise
        await _unless_cancelled()
        raise _playground_error(failure, whom, reply_within) from None
    except _CALL_FAILURES as failure:
        await _unless_cancelled()
        raise _playground_error(failure, whom, reply_within) from None


async def _unless_cancelled() -> None:
    """Raise the cancellation when the caller cancelled the call: what the call met while its
    connection was torn down (a lost connection, say) is not its outcome."""
    await anyio.lowlevel.checkpoint_if_cancelled()


def _call_failure_in(group: BaseExceptionGroup) -> EtcdError | OSError | None:
    """The first failure in `group` if it holds call failures only, else None."""
    failures, others = group.split(_CALL_FAILURES)
    if failures is None or others is not None:
        return None
    failure: BaseException = failures
    while isinstance(failure, BaseExceptionGroup):
        failure = failure.exceptions[0]
    assert isinstance(failure, EtcdError | OSError)
    return failure


def _playground_error(failure: EtcdError | OSError, whom: str, timeout: float) -> PlaygroundError:
    """The one line that says how a call to `whom` failed."""
    if isinstance(failure, TimeoutError):
        return OutcomeUnknown(f"{whom} did not answer within {timeout:g} s")
    if isinstance(failure, _LOST_REPLIES):
        return OutcomeUnknown(f"{whom}: {failure}")
    if isinstance(failure, EtcdError):
        return PlaygroundError(f"{whom}: {failure}")
    return PlaygroundError(f"{whom}: {failure.strerror or failure}")
