"""Linearizable reads through batched ReadIndex (etcd's linearizableReadLoop).

Reads that arrive while a ReadIndex round is in flight wait for the next round; one round
(one `read_index` call, one heartbeat exchange on the leader) releases every read that was
waiting when it started, once the applied index reaches the read state's index. A leader
change during a round fails its reads with LeaderChanged, as etcd.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import trio

from node.messages import errors
from node.raft import ReadState
from node.server.trace import Tracer
from node.server.wait import IndexWaiter

_CTX = struct.Struct(">Q")


class _ReadRound:
    """The reads served by one ReadIndex round."""

    __slots__ = ("_done", "error")

    def __init__(self) -> None:
        self._done = trio.Event()
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        """Release the round's reads, failing them with `error` if given."""
        self.error = error
        self._done.set()

    async def wait(self) -> None:
        """Wait for the round; raise its error."""
        await self._done.wait()
        if self.error is not None:
            raise self.error


class ReadIndexLoop:
    """Owns the rounds; `linearizable_barrier` is what a read awaits."""

    def __init__(
        self,
        request_read_index: Callable[[bytes], None],
        leader_changed: Callable[[], trio.Event],
        applied: IndexWaiter,
        next_id: Callable[[], int],
        timeout: Callable[[], float],
        tracer: Tracer,
    ) -> None:
        self._request_read_index = request_read_index
        self._leader_changed = leader_changed
        self._applied = applied
        self._next_id = next_id
        self._timeout = timeout
        self._tracer = tracer
        self._round = _ReadRound()
        self._wanted = trio.Event()
        self._states: dict[bytes, ReadState] = {}
        self._state_arrived = trio.Event()
        self.rounds = 0
        """ReadIndex rounds run so far (observability, tests)."""

    async def linearizable_barrier(self) -> None:
        """Return once this member has applied everything committed before the call."""
        current = self._round
        self._wanted.set()
        await current.wait()

    def on_read_states(self, states: list[ReadState]) -> None:
        """The raft loop hands over each Ready's read states."""
        for state in states:
            self._states[state.request_ctx] = state
        self._state_arrived.set()

    def fail_waiting(self, error: BaseException) -> None:
        """Fail the reads of the current round (the member is stopping)."""
        self._round.finish(error)

    async def run(self) -> None:
        """Serve rounds until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            served, self._round = self._round, _ReadRound()
            try:
                await self._serve(served)
            except errors.EtcdError as exc:
                served.finish(exc)
            else:
                served.finish()

    async def _serve(self, served: _ReadRound) -> None:
        self.rounds += 1
        ctx = _CTX.pack(self._next_id())
        leader_changed = self._leader_changed()
        self._states.clear()
        self._request_read_index(ctx)
        self._tracer.read_index("request", ctx)
        with trio.move_on_after(self._timeout()) as scope:
            while ctx not in self._states:
                if leader_changed.is_set():
                    raise errors.LeaderChanged()
                self._state_arrived = trio.Event()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_set_on, leader_changed, self._state_arrived)
                    await self._state_arrived.wait()
                    nursery.cancel_scope.cancel()
        if scope.cancelled_caught:
            raise errors.Timeout()
        state = self._states.pop(ctx)
        self._tracer.read_index("confirmed", ctx, state.index)
        await self._applied.wait_for(state.index)
        self._tracer.read_index("done", ctx, state.index)


async def _set_on(source: trio.Event, target: trio.Event) -> None:
    await source.wait()
    target.set()
