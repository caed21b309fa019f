"""Indeterminate operations resolved from the watch history, as etcd's robustness tests do.

A call that timed out may or may not have taken effect, and proving a history wrong means
trying every subset of such calls at every position: exponential. The watchers saw every
revision, so when a timed-out write's value is unique its fate is in the watch history:
it took effect at the revision where that value appears, or never. Deletions of leased
keys by a revoke or an expiry, and by timed-out deletes, also appear there.

This trusts the watch history, which is checked on its own: watchers must agree, deliver
every revision, and show every acknowledged write and no event that no operation explains.
Resolution is only attempted when a watcher over all keys covered the whole run.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from checker.model.history import RAFT_ORDERED, EventType, Operation, OpKind, Request, Response
from checker.validate.watch_check import MergedEvents

_VALUE_WRITES = frozenset({OpKind.PUT, OpKind.PUT_WITH_LEASE, OpKind.CAS})


@dataclass(slots=True)
class Resolution:
    """The operations with indeterminate ones resolved or dropped, plus the deletions the
    watch shows that no acknowledged delete explains (lease revokes and expiries, and
    timed-out deletes), one server operation each."""

    operations: list[Operation] = field(default_factory=list)
    deletions: list[Operation] = field(default_factory=list)


def resolve_with_watch(operations: Sequence[Operation], merged: MergedEvents) -> Resolution | None:
    """Resolve what the watch history tells; None when it did not cover the whole run.

    A resolved operation gets a response (its revision) and the interval in which the
    store passed that revision (see `_RevisionWindows`). Timed-out writes whose value
    never appears are dropped. Timed-out deletes and revokes are replaced by the
    deletions the watch shows.
    """
    last_seen = max((op.response.revision for op in operations if op.response), default=0)
    if not merged.complete or merged.covered_to < last_seen:
        return None
    writers = Counter(
        (op.request.key, op.request.value) for op in operations if op.request.kind in _VALUE_WRITES
    )
    written_at = {
        (event.key, event.kv.value): event.revision
        for events in merged.by_key.values()
        for event in events
        if event.type is EventType.PUT
    }
    windows = _RevisionWindows(operations)
    resolution = Resolution(deletions=[windows.narrow(d) for d in _deletions(operations, merged)])
    for op in operations:
        request = op.request
        if op.response is not None:
            resolution.operations.append(op)
        elif request.kind in _VALUE_WRITES and writers[(request.key, request.value)] == 1:
            revision = written_at.get((request.key, request.value))
            if revision is not None:
                resolved = replace(
                    op,
                    response=Response(revision, succeeded=True),
                    completed_ns=None,
                    error="took effect, revision from the watch",
                )
                resolution.operations.append(windows.narrow(resolved))
        elif request.kind not in (OpKind.DELETE, OpKind.LEASE_REVOKE):
            resolution.operations.append(op)
    return resolution


class _RevisionWindows:
    """When something the watch puts at revision r took effect: after every acknowledged
    operation reporting a revision below r was invoked (it later saw the store below r),
    and before the first one reporting r or more completed (it saw the store at or past
    r). Narrow intervals let the search drop a placement as soon as it is impossible."""

    def __init__(self, operations: Sequence[Operation]) -> None:
        seen = sorted(
            (op.response.revision, op.invoked_ns, op.end_ns, op.op_id)
            for op in operations
            if op.response is not None and op.request.kind in RAFT_ORDERED
        )
        self._revisions = [revision for revision, _, _, _ in seen]
        self._latest_start: list[tuple[int, int]] = []
        latest = (-1, 0)
        for _, invoked, _, op_id in seen:
            latest = max(latest, (invoked, op_id))
            self._latest_start.append(latest)
        self._earliest_end: list[tuple[float, int]] = []
        earliest = (math.inf, 0)
        for _, _, end, op_id in reversed(seen):
            earliest = min(earliest, (end, op_id))
            self._earliest_end.append(earliest)
        self._earliest_end.reverse()

    def narrow(self, op: Operation) -> Operation:
        """`op` (of known revision) with its interval narrowed to that window."""
        assert op.response is not None
        i = bisect_left(self._revisions, op.response.revision)
        invoked, notes = op.invoked_ns, [op.error]
        if i > 0 and self._latest_start[i - 1][0] > invoked:
            invoked, after = self._latest_start[i - 1]
            notes.append(f"after #{after} began")
        completed = op.completed_ns
        if i < len(self._revisions) and self._earliest_end[i][0] != math.inf:
            end, before = self._earliest_end[i]
            completed = int(end)
            notes.append(f"before #{before} ended")
        return replace(op, invoked_ns=invoked, completed_ns=completed, error=", ".join(notes))


def _deletions(operations: Sequence[Operation], merged: MergedEvents) -> list[Operation]:
    """A server delete for each watched deletion no acknowledged delete explains: by a
    lease (invoked when the key was first put with it) or by a timed-out delete (invoked
    when the first of those on the key was)."""
    acknowledged = {
        (op.request.key, op.write_revision)
        for op in operations
        if op.request.kind is OpKind.DELETE and op.write_revision is not None
    }
    first_invoked: dict[tuple[str, int], int] = {}
    for op in operations:
        request = op.request
        if request.kind is OpKind.PUT_WITH_LEASE:
            cause = (request.key, request.lease_id)
        elif request.kind is OpKind.DELETE and op.response is None:
            cause = (request.key, 0)
        else:
            continue
        first_invoked[cause] = min(first_invoked.get(cause, op.invoked_ns), op.invoked_ns)
    deletions: list[Operation] = []
    for key, events in merged.by_key.items():
        for event in events:
            if event.type is not EventType.DELETE or (key, event.revision) in acknowledged:
                continue
            _, previous = merged.previous(key, event.revision)
            lease_id = previous.lease_id if previous is not None else 0
            why = f"lease {lease_id:x} revoked or expired" if lease_id else "a timed-out delete"
            deletions.append(
                Operation(
                    op_id=-1 - len(deletions),
                    client_id=-1,
                    request=Request(OpKind.DELETE, key),
                    invoked_ns=first_invoked.get((key, lease_id), 0),
                    completed_ns=None,
                    response=Response(event.revision, deleted=1),
                    error=f"{why}, from the watch",
                )
            )
    return deletions
