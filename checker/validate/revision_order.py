"""Global revision checks: what the per-key search cannot see across keys.

etcd gives every write transaction the next revision of one store-wide counter and reports
the counter in every response header. Over all keys, therefore:

- two acknowledged writes never share a revision;
- real time agrees with revisions: if operation A completed before B was invoked, B's
  revision is at least A's, and strictly greater when B is a write (a read's header is the
  revision of the store it read, a write's is the revision it created).

Together with the per-key search these place every acknowledged operation on one line
ordered by revision and consistent with real time; what remains unchecked is only how
writes of unknown revision (indeterminate ones) interleave across keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from checker.model.history import RAFT_ORDERED, Operation
from checker.validate.violation import Violation


def check_revision_order(operations: Iterable[Operation]) -> list[Violation]:
    """Violations of unique write revisions and of real-time revision order."""
    acknowledged = [
        op for op in operations if op.response is not None and op.request.kind in RAFT_ORDERED
    ]
    return _duplicate_write_revisions(acknowledged) + _real_time_order(acknowledged)


def _duplicate_write_revisions(operations: list[Operation]) -> list[Violation]:
    writers: dict[int, list[Operation]] = defaultdict(list)
    for op in operations:
        revision = op.write_revision
        if revision is not None:
            writers[revision].append(op)
    return [
        Violation(
            "unique write revision",
            f"operations {', '.join(f'#{op.op_id}' for op in ops)}",
            revision,
            "acknowledged writes share one revision: "
            + "; ".join(op.request.describe() for op in ops),
        )
        for revision, ops in sorted(writers.items())
        if len(ops) > 1
    ]


def _real_time_order(operations: list[Operation]) -> list[Violation]:
    by_invocation = sorted(operations, key=lambda op: op.invoked_ns)
    by_completion = sorted(operations, key=lambda op: op.end_ns)
    violations: list[Violation] = []
    latest: Operation | None = None
    done = 0
    for op in by_invocation:
        while done < len(by_completion) and by_completion[done].end_ns < op.invoked_ns:
            finished = by_completion[done]
            if latest is None or _revision(finished) > _revision(latest):
                latest = finished
            done += 1
        if latest is None:
            continue
        is_write = op.write_revision is not None
        if _revision(op) < _revision(latest) or (is_write and _revision(op) == _revision(latest)):
            relation = "a greater" if is_write else "at least its"
            violations.append(
                Violation(
                    "real-time revision order",
                    f"operation #{op.op_id}",
                    _revision(op),
                    f"{op.request.describe()} (revision {_revision(op)}) was invoked after "
                    f"#{latest.op_id} {latest.request.describe()} (revision "
                    f"{_revision(latest)}) completed, so it needs {relation} revision",
                )
            )
    return violations


def _revision(op: Operation) -> int:
    assert op.response is not None
    return op.response.revision
