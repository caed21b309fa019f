"""The recorder: every client operation and every watch response of a run, as history records.

Clients hand it each call with its request; it takes the invocation and completion times,
and a call that raises or outlives its timeout becomes an indeterminate operation (kept,
with the error that ended it). Watchers report each stream they open and each response.
Counters feed the live progress display.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
import grpc

from checker.model.history import (
    History,
    Operation,
    Request,
    Response,
    ResponseKind,
    StoreSnapshot,
    WatchEvent,
    WatchRequest,
    WatchResponse,
)


def now_ns() -> int:
    """The recorder's clock: monotonic nanoseconds, the history's time base."""
    return time.monotonic_ns()


@dataclass(slots=True)
class Counts:
    """Running totals for the progress display."""

    operations: int = 0
    indeterminate: int = 0
    watch_events: int = 0
    watch_reconnects: int = 0


class Recorder:
    """Collects a run's History; all methods are called from one event loop."""

    def __init__(self) -> None:
        self.history = History()
        self.counts = Counts()
        self._next_op_id = 1
        self._watch_indexes: dict[str, int] = {}

    async def call(
        self,
        client_id: int,
        request: Request,
        call: Callable[[], Awaitable[Response]],
        time_limit: float,
    ) -> Operation:
        """Run `call` for `request`, record it and return the record: indeterminate (no
        response) when the call raised or took longer than `time_limit` seconds. A call
        cancelled midway is recorded as indeterminate too."""
        invoked = now_ns()
        response: Response | None = None
        error = ""
        try:
            with anyio.fail_after(time_limit):
                response = await call()
        except TimeoutError:
            error = f"timed out after {time_limit:g} s"
        except anyio.get_cancelled_exc_class():
            self._add(client_id, request, invoked, None, "cancelled")
            raise
        except Exception as failure:  # any failure leaves the outcome unknown
            error = describe_error(failure)
        return self._add(client_id, request, invoked, response, error)

    def _add(
        self, client_id: int, request: Request, invoked: int, response: Response | None, error: str
    ) -> Operation:
        operation = Operation(
            op_id=self._next_op_id,
            client_id=client_id,
            request=request,
            invoked_ns=invoked,
            completed_ns=now_ns(),
            response=response,
            error=error,
        )
        self._next_op_id += 1
        self.history.operations.append(operation)
        self.counts.operations += 1
        if response is None:
            self.counts.indeterminate += 1
        return operation

    def stream_opened(self, request: WatchRequest) -> None:
        """A watcher opened stream `request.stream` (0 first, one more at each resumption)."""
        self.history.watch_requests.append(request)
        if request.stream > 0:
            self.counts.watch_reconnects += 1

    def watch_response(
        self,
        watcher_id: str,
        stream: int,
        kind: ResponseKind,
        header_revision: int,
        events: Iterable[WatchEvent] = (),
        compact_revision: int = 0,
        cancel_reason: str = "",
    ) -> None:
        """A response a watcher received, in arrival order."""
        index = self._watch_indexes.get(watcher_id, 0)
        self._watch_indexes[watcher_id] = index + 1
        response = WatchResponse(
            watcher_id=watcher_id,
            stream=stream,
            index=index,
            kind=kind,
            header_revision=header_revision,
            events=tuple(events),
            compact_revision=compact_revision,
            cancel_reason=cancel_reason,
            received_ns=now_ns(),
        )
        self.history.watch_responses.append(response)
        self.counts.watch_events += len(response.events)

    def set_initial(self, snapshot: StoreSnapshot) -> None:
        """The store as read before the workload started."""
        self.history.initial = snapshot

    def set_final(self, snapshot: StoreSnapshot) -> None:
        """The store as read once the cluster was whole again."""
        self.history.final = snapshot


def describe_error(error: BaseException) -> str:
    """One line for an error that ended a call: gRPC's code and details, else the message
    (or the type when it has none)."""
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
