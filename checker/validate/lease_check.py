"""Leases: a key attached to a lease is never readable once the lease is gone, and a lease
kept alive does not expire.

The revision a lease's keys were deleted at comes from two places: the watch history (the
delete event of a key whose value carried the lease, whether the lease was revoked or
expired) and acknowledged revokes (the keys are gone at the revoke's header revision).
A read whose header revision is at or past that point must not return the leased value.

A granted or kept-alive lease lives at least its TTL from the moment the call was sent (the
server set its deadline later than that). A call that the server refused with "lease not
found" proves the lease gone by the time it answered; if nobody had asked to revoke it by
then, it expired, and it must not have expired before that promise ran out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from checker.model.history import EventType, KeyValue, Operation, OpKind
from checker.validate.violation import Violation
from checker.validate.watch_check import MergedEvents


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


LEASE_NOT_FOUND = "lease not found"
"""What etcd says ("etcdserver: requested lease not found") of a lease that is gone."""
CLOCK_SLACK_NS = 100_000_000
"""Leeway for the member's and the console's reading of the same monotonic clock."""
_NS = 1_000_000_000


@dataclass(slots=True)
class _LeaseLife:
    """What the history tells of one lease: until when it was promised to live (and by
    which operation), when a revoke was first sent, and the first proof it was gone."""

    promised_ns: int = 0
    promised_by: Operation | None = None
    revoke_sent_ns: float = float("inf")
    gone_by: Operation | None = None


def check_kept_alive_leases(operations: Iterable[Operation]) -> list[Violation]:
    """Leases that expired before the TTL a grant or keep-alive promised them had run out."""
    lives: dict[int, _LeaseLife] = defaultdict(_LeaseLife)
    for op in operations:
        request, response = op.request, op.response
        if request.kind is OpKind.LEASE_REVOKE:
            life = lives[request.lease_id]
            life.revoke_sent_ns = min(life.revoke_sent_ns, op.invoked_ns)
        elif request.kind in (OpKind.LEASE_GRANT, OpKind.LEASE_KEEPALIVE) and response:
            if response.ttl > 0:
                life = lives[response.lease_id]
                promise = op.invoked_ns + response.ttl * _NS
                if promise > life.promised_ns:
                    life.promised_ns, life.promised_by = promise, op
        elif (
            request.lease_id
            and response is None
            and op.completed_ns is not None
            and LEASE_NOT_FOUND in op.error
        ):
            life = lives[request.lease_id]
            if life.gone_by is None or op.completed_ns < (life.gone_by.completed_ns or 0):
                life.gone_by = op
    violations = []
    for lease_id, life in sorted(lives.items()):
        gone, promised = life.gone_by, life.promised_by
        if gone is None or promised is None or gone.completed_ns is None:
            continue
        assert promised.response is not None  # a promise comes from a grant's or keep-alive's reply
        if gone.completed_ns >= life.revoke_sent_ns:
            continue  # a revoke was under way: the lease may have been revoked, not expired
        early = life.promised_ns - gone.completed_ns
        if early > CLOCK_SLACK_NS:
            violations.append(
                Violation(
                    "lease",
                    f"lease {lease_id:x}",
                    0,
                    f"expired {early / _NS:.3f}s early: operation #{promised.op_id} "
                    f"({promised.request.describe()}, ttl {promised.response.ttl}) kept it "
                    f"alive, yet operation #{gone.op_id} ({gone.request.describe()}) found it "
                    "gone with no revoke sent",
                )
            )
    return violations
