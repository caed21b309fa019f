"""Requests waiting for their raft entry to be applied, woken by id (etcd's pkg/wait).

The proposer registers its request id before proposing and awaits the outcome; the apply
task triggers the id with a result or an exception. Triggering an id nobody waits for (an
entry proposed by another member, or a request that gave up) does nothing.
"""

from __future__ import annotations

import heapq
from typing import Any

import trio


class Pending:
    """The outcome of one request: set once, awaited once."""

    __slots__ = ("_done", "_error", "_result")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def set_result(self, result: Any) -> None:
        """Complete with a result (once)."""
        if not self._done.is_set():
            self._result = result
            self._done.set()

    def set_error(self, error: BaseException) -> None:
        """Complete with an error (once)."""
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> Any:
        """The result, or raise the error it was triggered with."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


class WaitRegistry:
    """Pending requests by id."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[int, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, request_id: int) -> Pending:
        """Start waiting for `request_id`."""
        if request_id in self._pending:
            raise ValueError(f"request id {request_id:x} is already waiting")
        pending = self._pending[request_id] = Pending()
        return pending

    def forget(self, request_id: int) -> None:
        """The waiter gave up (timeout, cancellation): drop it."""
        self._pending.pop(request_id, None)

    def trigger(
        self, request_id: int, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Complete `request_id`'s waiter with a result or an error."""
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return
        if error is not None:
            pending.set_error(error)
        else:
            pending.set_result(result)

    def fail_all(self, error: BaseException) -> None:
        """Wake every waiter with `error` (the member is stopping)."""
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.set_error(error)


class IndexWaiter:
    """Waiting until an index (the applied index) reaches a value (etcd's wait.WaitTime)."""

    __slots__ = ("_index", "_waiters")

    def __init__(self, index: int = 0) -> None:
        self._index = index
        self._waiters: list[tuple[int, int, trio.Event]] = []

    @property
    def index(self) -> int:
        """The index reached so far."""
        return self._index

    def advance(self, index: int) -> None:
        """The index reached `index`: wake everyone waiting for it or less."""
        self._index = max(self._index, index)
        waiters = self._waiters
        while waiters and waiters[0][0] <= self._index:
            heapq.heappop(waiters)[2].set()

    async def wait_for(self, index: int) -> None:
        """Return once the index is at least `index`."""
        if index <= self._index:
            return
        event = trio.Event()
        heapq.heappush(self._waiters, (index, id(event), event))
        await event.wait()
