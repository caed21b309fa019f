"""Leases: a key attached to a lease is never readable once the lease is gone.

The revision a lease's keys were deleted at comes from two places: the watch history (the
delete event of a key whose value carried the lease, whether the lease was revoked or
expired) and acknowledged revokes (the keys are gone at the revoke's header revision).
A read whose header revision is at or past that point must not return the leased value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from console.chaos.history import EventType, KeyValue, Operation, OpKind
from console.chaos.violation import Violation
from console.chaos.watch_check import MergedEvents


def check_leased_keys(operations: Iterable[Operation], merged: MergedEvents) -> list[Violation]:
    """Reads that returned a leased key at or after the revision its lease took it away."""
    operations = list(operations)
    gone: dict[str, list[tuple[int, KeyValue]]] = defaultdict(list)
    for key, events in merged.by_key.items():
        for event in events:
            if event.type is not EventType.DELETE:
                continue
            _, previous = merged.previous(key, event.revision)
            if previous is not None and previous.lease_id:
                gone[key].append((event.revision, previous))
    revoked: dict[int, int] = {}
    for op in operations:
        if op.request.kind is OpKind.LEASE_REVOKE and op.response is not None:
            lease_id = op.request.lease_id
            revoked[lease_id] = min(
                revoked.get(lease_id, op.response.revision), op.response.revision
            )
    violations = []
    for op in operations:
        response = op.response
        if op.request.kind is not OpKind.GET or response is None or response.kv is None:
            continue
        kv, header = response.kv, response.revision
        for deleted_at, previous in gone[kv.key]:
            if header >= deleted_at and kv.mod_revision < deleted_at:
                violations.append(
                    Violation(
                        "lease",
                        f"operation #{op.op_id}",
                        header,
                        f"read {kv.key}={kv.describe()} at revision {header}, but the key "
                        f"(lease {previous.lease_id:x}) was deleted at revision {deleted_at}",
                    )
                )
                break
        else:
            revoked_at = revoked.get(kv.lease_id) if kv.lease_id else None
            if revoked_at is not None and header >= revoked_at:
                violations.append(
                    Violation(
                        "lease",
                        f"operation #{op.op_id}",
                        header,
                        f"read {kv.key}={kv.describe()} at revision {header}, but lease "
                        f"{kv.lease_id:x} was revoked at revision {revoked_at}",
                    )
                )
    return violations
