"""`etcd-console trace`: the playground members' trace events merged by time, as JSON lines.

Each member's Admin.Events stream (trace kinds only) is read by a task of its own; events wait
in a heap for REORDER_WINDOW seconds so that the streams, which arrive independently, come out
in the order of their wall-clock time (the members share the machine's clock). One JSON object
per line: `member`, `member_id`, `t` (wall clock, seconds), `monotonic`, `kind`, then the
event's fields with etcd's names (node/server/README.md lists them). A member that cannot be
reached is retried every second, and said so once on stderr.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio

from node.client import ClientTls, as_dict, connect_client
from node.messages import errors
from node.messages.member_events import ALL_TRACE, TRACE_KINDS, chosen_kinds

REORDER_WINDOW = 0.3
"""Seconds an event waits for older events of slower streams before it is written."""
RECONNECT_DELAY = 1.0
CONNECT_TIMEOUT = 2.0
_FAILURES = (errors.EtcdError, OSError, TimeoutError, anyio.BrokenResourceError)


class TraceKindError(ValueError):
    """--types named something that is not a trace event kind."""


def trace_kinds(types: str | None) -> list[str]:
    """The kinds `--types a,b` names (every trace kind by default); TraceKindError otherwise."""
    names = [name.strip() for name in (types or ALL_TRACE).split(",") if name.strip()]
    wrong = [name for name in names if name != ALL_TRACE and name not in TRACE_KINDS]
    if wrong:
        known = ", ".join(sorted(TRACE_KINDS))
        raise TraceKindError(
            f"not a trace event kind: {', '.join(wrong)} (trace kinds: {known}; trace: all)"
        )
    return sorted(chosen_kinds(names or [ALL_TRACE]))


@dataclass
class MemberTally:
    """What one member's stream delivered, and what its queue dropped."""

    events: int = 0
    dropped: int = 0


@dataclass
class TraceMerger:
    """Orders events of several streams by time and writes them as JSON lines."""

    out: TextIO
    heap: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    tallies: dict[str, MemberTally] = field(default_factory=dict)
    _order: itertools.count = field(default_factory=itertools.count)

    def add(self, member: str, reply: Any) -> None:
        """One Admin.Events reply of `member`."""
        fields = as_dict(reply.fields)
        line = {
            "member": fields.pop("member", member),
            "member_id": fields.pop("member_id", ""),
            "t": reply.time,
            "monotonic": reply.monotonic,
            "kind": reply.kind,
            **fields,
        }
        heapq.heappush(self.heap, (reply.time, next(self._order), line))
        tally = self.tallies.setdefault(member, MemberTally())
        tally.events += 1
        tally.dropped = reply.dropped

    def flush(self, before: float = math.inf) -> None:
        """Write every event older than `before` (wall clock), oldest first."""
        heap = self.heap
        written = False
        while heap and heap[0][0] < before:
            _, _, line = heapq.heappop(heap)
            self.out.write(json.dumps(line, default=str) + "\n")
            written = True
        if written:
            self.out.flush()


async def stream_trace(
    members: dict[str, str],
    kinds: Iterable[str],
    out: TextIO,
    *,
    seconds: float | None = None,
    tls: ClientTls | None = None,
) -> dict[str, MemberTally]:
    """Write the merged trace of `members` (name -> native endpoint, dialed with `tls`) to `out`
    until `seconds` pass, or SIGINT / SIGTERM arrives (so: from the main thread); returns each
    member's tally."""
    merger = TraceMerger(out)
    kinds = list(kinds)
    with anyio.CancelScope() as scope:
        if seconds is not None:
            scope.deadline = anyio.current_time() + seconds
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, scope)
            for name, endpoint in members.items():
                tasks.start_soon(_follow, name, endpoint, kinds, merger, tls)
            while True:
                await anyio.sleep(REORDER_WINDOW / 3)
                merger.flush(_wall_clock() - REORDER_WINDOW)
    merger.flush()
    return merger.tallies


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _follow(
    name: str, endpoint: str, kinds: list[str], merger: TraceMerger, tls: ClientTls | None
) -> None:
    said_lost = False
    while True:
        reason = "its event stream ended"
        try:
            async with (
                connect_client([endpoint], timeout=CONNECT_TIMEOUT, tls=tls) as client,
                client.events(kinds) as events,
            ):
                async for reply in events:
                    merger.add(name, reply)
                    said_lost = False
        except* _FAILURES as lost:
            reason = "; ".join(_reason(error) for error in lost.exceptions)
        if not said_lost:
            print(f"trace: member {name} ({endpoint}): {reason}; retrying", file=sys.stderr)
            said_lost = True
        await anyio.sleep(RECONNECT_DELAY)


def _reason(error: BaseException) -> str:
    if isinstance(error, errors.EtcdError):
        return error.message
    return str(error) or type(error).__name__


def _wall_clock() -> float:
    return time.time()
