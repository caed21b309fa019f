"""Durability: after healing, every acknowledged write is still there or was superseded.

Judged against a full read of the healed store: a key whose final version is older than
an acknowledged write to it lost that write; a key that is gone lost it unless some
operation in the history could have deleted it afterwards (an acknowledged delete with a
later revision, an indeterminate delete, or a lease it was attached to).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from checker.model.history import Operation, OpKind, StoreSnapshot
from checker.validate.violation import Violation


def check_durability(operations: Iterable[Operation], final: StoreSnapshot) -> list[Violation]:
    """Acknowledged writes the final store lost."""
    operations = list(operations)
    store = final.by_key()
    deleters: dict[str, list[Operation]] = defaultdict(list)
    for op in operations:
        if op.request.kind in (OpKind.DELETE, OpKind.PUT_WITH_LEASE):
            deleters[op.request.key].append(op)
    violations = []
    for op in operations:
        revision = op.write_revision
        if revision is None:
            continue
        key = op.request.key
        kv = store.get(key)
        subject = f"operation #{op.op_id}"
        what = f"acknowledged {op.request.describe()} (revision {revision})"
        if revision > final.revision:
            lost = f"the healed store is only at revision {final.revision}"
        elif kv is None:
            if op.request.kind is OpKind.DELETE or any(
                _may_delete_after(d, revision) for d in deleters[key]
            ):
                continue
            lost = "the key is absent and nothing could have deleted it since"
        elif kv.mod_revision < revision:
            lost = f"the key holds the older {kv.describe()}"
        elif kv.mod_revision == revision and (
            op.request.kind is OpKind.DELETE or kv.value != op.request.value
        ):
            lost = f"the key holds {kv.describe()} at that very revision"
        else:
            continue
        violations.append(Violation("durability", subject, revision, f"{what} lost: {lost}"))
    return violations


def _may_delete_after(op: Operation, revision: int) -> bool:
    """True when `op` could have removed a key written at `revision`: a delete after it,
    or a put attaching a lease that may since have been revoked or expired."""
    if op.response is None:
        return True
    if op.request.kind is OpKind.PUT_WITH_LEASE:
        return op.response.revision >= revision
    return op.response.deleted > 0 and op.response.revision > revision
