"""Where on the clock each violation of a chaos run happened, so that its recording can be
opened there (`etcd-console replay FILE --at-violation`).

The history's times are the recorder's monotonic nanoseconds; a recording's are wall-clock
seconds. A window that cannot be linearized is placed at its first operation's invocation; a
violation at revision R at the first moment a client saw the cluster at R or later (the reply
that carried it); the nemesis's own violations (revision 0) are marked as they happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.model.history import Operation
from checker.validate.verdict import RunVerdict
from checker.validate.violation import Violation


@dataclass(slots=True, frozen=True)
class ViolationMark:
    """One violation and when it happened on the history's clock (monotonic ns)."""

    t_ns: int
    check: str
    revision: int
    text: str

    def fields(self) -> dict[str, object]:
        """The violation's fields in a recording event."""
        return {"check": self.check, "revision": self.revision, "text": self.text}


def violation_marks(verdict: RunVerdict, operations: Sequence[Operation]) -> list[ViolationMark]:
    """Every violation in `verdict` that the history can place in time, oldest first."""
    marks: list[ViolationMark] = []
    for key in verdict.linearizability.keys:
        if key.window is not None and key.window.operations:
            first = min(op.invoked_ns for op in key.window.operations)
            headline = key.window.describe().split("\n", 1)[0]
            marks.append(ViolationMark(first, "linearizability", 0, headline))
    seen_at = _first_seen(operations)
    for violation in _revision_violations(verdict):
        t_ns = _when_seen(seen_at, violation.revision)
        if t_ns is not None:
            marks.append(
                ViolationMark(t_ns, violation.check, violation.revision, violation.describe())
            )
    marks.sort(key=lambda mark: mark.t_ns)
    return marks


def _revision_violations(verdict: RunVerdict) -> list[Violation]:
    return [
        violation
        for violation in (
            *verdict.linearizability.revision_violations,
            *verdict.watch.violations,
            *verdict.leases,
            *verdict.durability,
        )
        if violation.revision > 0
    ]


def _first_seen(operations: Sequence[Operation]) -> list[tuple[int, int]]:
    """(revision, completion ns) of each completed operation, by revision; each completion
    the earliest of its revision and every later one (a revision is seen by then at least)."""
    replies = sorted(
        (op.response.revision, op.completed_ns)
        for op in operations
        if op.response is not None and op.completed_ns is not None
    )
    earliest: list[tuple[int, int]] = []
    for revision, completed in reversed(replies):
        if earliest and earliest[-1][1] <= completed:
            completed = earliest[-1][1]
        earliest.append((revision, completed))
    earliest.reverse()
    return earliest


def _when_seen(seen_at: list[tuple[int, int]], revision: int) -> int | None:
    """The first completion of a reply at `revision` or later; None if no reply reached it."""
    for seen_revision, completed in seen_at:
        if seen_revision >= revision:
            return completed
    return None
