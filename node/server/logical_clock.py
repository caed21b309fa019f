"""The raft ticker as a clock that can be stopped: real time, or ticks fired one by one.

In real time it ticks every heartbeat interval (etcd's raftNode ticker). Held (step mode),
it does not tick by itself: `fire(n)` ticks exactly n times, so a presenter decides when a
heartbeat or an election timeout happens. Raft cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Callable

import trio


class LogicalClock:
    """Calls `tick` every `interval` seconds unless held; `fire` ticks on demand."""

    def __init__(self, interval: float, tick: Callable[[], None]) -> None:
        self._interval = interval
        self._tick = tick
        self._running = trio.Event()
        self._running.set()

    @property
    def held(self) -> bool:
        """Whether the clock is stopped."""
        return not self._running.is_set()

    def hold(self) -> None:
        """Stop ticking by itself (holding again changes nothing)."""
        if not self.held:
            self._running = trio.Event()

    def release(self) -> None:
        """Tick in real time again, the next tick one interval from now."""
        self._running.set()

    def fire(self, count: int) -> None:
        """Tick `count` times now; ValueError unless the clock is held and count positive."""
        if not self.held:
            raise ValueError("the clock runs in real time: hold it before firing ticks")
        if count < 1:
            raise ValueError(f"the number of ticks must be positive, got {count}")
        for _ in range(count):
            self._tick()

    async def run(self) -> None:
        """Tick until cancelled, waiting while held."""
        while True:
            await self._running.wait()
            await trio.sleep(self._interval)
            if not self.held:
                self._tick()
