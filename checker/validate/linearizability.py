"""Linearizability of a chaos run's key-value history.

Two parts, each sound on its own (a violation it reports is a real one):

1. Per key (P-compositionality): the operations on one key, together with the lease
   revokes and expiries that may delete it, must linearize against `kv_model`: values,
   versions, create and mod revisions as etcd keeps them, and revisions that only grow
   along the key's linearization (writes strictly). Projecting etcd's total order onto
   one key gives such a linearization, so a failure here is a real violation. A pass
   proves, for that key, that every read returned the latest write with a revision at
   or below its header revision, that no write was lost or reordered, and that every
   cas saw the value it compared.
2. Globally (`revision_order`): acknowledged writes have distinct revisions and every
   acknowledged operation's revision agrees with real time across all keys.

Known revisions pin each acknowledged operation to one line across keys, so together the
parts prove linearizability of the acknowledged operations. What they leave out: how
writes of unknown revision (timed out, unresolved) interleave across keys, and the
atomicity of one revoke deleting several keys (the watch checker sees both).

Given the watch history, indeterminate operations are first resolved from it
(`watch_resolution`); that trusts the separately checked watch, and turns the exponential
proof of a failure among many timed-out calls into a quick one.

A search that runs out of its budget makes the verdict `unknown`, never a pass. On
failure the key's history is shrunk to a small window that still cannot be linearized.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from checker.model import kv_model
from checker.model.history import Operation, OpKind, Request, StoreSnapshot
from checker.model.kv_model import KeyState
from checker.validate.revision_order import check_revision_order
from checker.validate.violation import Violation
from checker.validate.watch_check import MergedEvents
from checker.validate.watch_resolution import Resolution, resolve_with_watch
from checker.validate.wing_gong import Call, Outcome, SearchBudget, SearchResult, search

_KEY_KINDS = frozenset({OpKind.PUT, OpKind.PUT_WITH_LEASE, OpKind.GET, OpKind.CAS, OpKind.DELETE})
_MAX_START_STATES = 64


class Verdict(StrEnum):
    """The linearizability verdict line."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "NOT LINEARIZABLE"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Window:
    """Operations on `key` that cannot be linearized from any of `start_states` (the
    states the earlier history can leave the key in)."""

    key: str
    start_states: list[KeyState]
    operations: list[Operation]

    def describe(self) -> str:
        """The window as readable lines, times in ms from its first operation."""
        origin = min(op.invoked_ns for op in self.operations)
        starts = "\n".join(f"    {s.describe()}" for s in self.start_states)
        ops = "\n".join(f"    {op.describe(origin)}" for op in self.operations)
        count = len(self.operations)
        these = "this operation" if count == 1 else f"these {count} operations"
        return (
            f"key {self.key!r}: {these} cannot be linearized\n"
            f"  starting from any of:\n{starts}\n  operations:\n{ops}"
        )


@dataclass(slots=True)
class KeyResult:
    """The search over one key's operations."""

    key: str
    outcome: Outcome
    operations: int
    explored: int
    window: Window | None = None


@dataclass(slots=True)
class LinearizabilityResult:
    """The verdict, per key results and global revision violations; `resolved` tells
    whether indeterminate operations were resolved from the watch history."""

    verdict: Verdict
    keys: list[KeyResult] = field(default_factory=list)
    revision_violations: list[Violation] = field(default_factory=list)
    resolved: bool = False

    def describe(self) -> str:
        """The verdict followed by every failing key's window and every violation."""
        lines = [self.verdict.value]
        for key in self.keys:
            if key.outcome is Outcome.EXHAUSTED:
                lines.append(
                    f"key {key.key!r}: budget exhausted after {key.explored} states "
                    f"({key.operations} operations)"
                )
            elif key.window is not None:
                lines.append(key.window.describe())
        lines.extend(v.describe() for v in self.revision_violations)
        return "\n".join(lines)


def check_linearizability(
    operations: Iterable[Operation],
    initial: StoreSnapshot | None = None,
    budget: SearchBudget | None = None,
    watch: MergedEvents | None = None,
    shrink_states: int = 500_000,
) -> LinearizabilityResult:
    """Check `operations` (every key, then global revision order) and return the verdict.

    `initial` is the store read before the run (default: an empty store). `budget` bounds
    each key's search. With `watch`, indeterminate operations are first resolved from the
    watch history (`watch_resolution`), which makes failures far cheaper to prove.
    `shrink_states` bounds the states spent shrinking each failure to a window.
    """
    operations = list(operations)
    budget = budget or SearchBudget()
    resolution = resolve_with_watch(operations, watch) if watch is not None else None
    initial_kvs = initial.by_key() if initial else {}
    initial_revision = initial.revision if initial else 0
    result = LinearizabilityResult(Verdict.LINEARIZABLE, resolved=resolution is not None)
    for key, ops in sorted(key_histories(operations, resolution).items()):
        start = kv_model.from_snapshot(initial_kvs.get(key), initial_revision)
        found = search(_calls(ops), start, budget)
        key_result = KeyResult(key, found.outcome, len(ops), found.explored)
        if found.outcome is Outcome.NOT_LINEARIZABLE:
            shrinker = _WindowShrinker(budget, shrink_states)
            key_result.window = shrinker.smallest_window(key, ops, start)
        result.keys.append(key_result)
    result.revision_violations = check_revision_order(operations)
    outcomes = {k.outcome for k in result.keys}
    if Outcome.NOT_LINEARIZABLE in outcomes or result.revision_violations:
        result.verdict = Verdict.NOT_LINEARIZABLE
    elif Outcome.EXHAUSTED in outcomes:
        result.verdict = Verdict.UNKNOWN
    return result


def key_histories(
    operations: Iterable[Operation], resolution: Resolution | None = None
) -> dict[str, list[Operation]]:
    """Each key's operations in invocation order: its own puts, cas, deletes and
    acknowledged gets, and the revokes of every lease it was put with.

    Without a `resolution`, each such lease also gets one synthetic indeterminate revoke
    standing for its expiry; with one, the resolved operations are used and every
    deletion no acknowledged delete explains is the one the watch showed.
    """
    operations = resolution.operations if resolution else list(operations)
    per_key: dict[str, list[Operation]] = defaultdict(list)
    leases: dict[str, dict[int, int]] = defaultdict(dict)
    for op in operations:
        request = op.request
        if request.kind not in _KEY_KINDS:
            continue
        if request.kind is OpKind.GET and op.response is None:
            continue
        per_key[request.key].append(op)
        if request.kind is OpKind.PUT_WITH_LEASE:
            first = leases[request.key].get(request.lease_id, op.invoked_ns)
            leases[request.key][request.lease_id] = min(first, op.invoked_ns)
    revokes: dict[int, list[Operation]] = defaultdict(list)
    for op in operations:
        if op.request.kind is OpKind.LEASE_REVOKE:
            revokes[op.request.lease_id].append(op)
    expiry_id = -1
    for key, attached in leases.items():
        for lease_id, first_put_ns in sorted(attached.items()):
            per_key[key].extend(revokes[lease_id])
            if resolution is not None:
                continue
            per_key[key].append(
                Operation(
                    op_id=expiry_id,
                    client_id=-1,
                    request=Request(OpKind.LEASE_REVOKE, lease_id=lease_id),
                    invoked_ns=first_put_ns,
                    completed_ns=None,
                    response=None,
                    error="lease expiry",
                )
            )
            expiry_id -= 1
    if resolution is not None:
        for op in resolution.deletions:
            per_key[op.request.key].append(op)
    for ops in per_key.values():
        ops.sort(key=lambda op: (op.invoked_ns, op.op_id))
    return dict(per_key)


def _calls(operations: Sequence[Operation], *, permissive: bool = False) -> list[Call[KeyState]]:
    """Search calls: an operation with a response must take effect (one resolved from the
    watch too, at an unknown time); `permissive` makes every open-ended one optional."""
    return [
        Call(
            op.invoked_ns,
            op.end_ns,
            kv_model.transition(op),
            required=op.response is not None and not (permissive and op.end_ns == math.inf),
        )
        for op in operations
    ]


def _may_apply(op: Operation, revision_floor: int) -> bool:
    """False for an operation of known revision that a store past `revision_floor` can no
    longer apply."""
    return op.response is None or op.response.revision > revision_floor


def _is_observation(op: Operation) -> bool:
    """An acknowledged operation that cannot have changed the key."""
    response = op.response
    if response is None:
        return False
    kind = op.request.kind
    return (
        kind is OpKind.GET
        or (kind is OpKind.CAS and not response.succeeded)
        or (kind is OpKind.DELETE and response.deleted == 0)
    )


class _WindowShrinker:
    """Shrinks a non-linearizable key history to a small window, within a total number of
    explored states shared by all the searches it runs. Its searches let operations of
    unknown completion take effect or not, so cutting a history never forces one twice."""

    def __init__(self, budget: SearchBudget, states: int) -> None:
        self.deadline = budget.deadline
        self.per_search = min(budget.max_states, states)
        self.states_left = states

    def smallest_window(self, key: str, ops: list[Operation], start: KeyState) -> Window:
        """First the shortest failing prefix; then everything before the latest real-time
        cut is replaced by the states it can leave the key in; then reads and other pure
        observations are dropped while it still fails (dropping one never makes a history
        fail, so what remains is a failure of the original), and the cut is taken again."""
        window = self._shortest_failing_prefix(ops, start)
        starts, window = self._after_latest_cut(window, {start})
        window = self._without_observations(window, starts)
        starts, window = self._after_latest_cut(window, starts)
        return Window(key, sorted(starts, key=repr), window)

    def _search(
        self, ops: list[Operation], start: KeyState, collect: bool = False
    ) -> SearchResult[KeyState]:
        budget = SearchBudget(min(self.per_search, self.states_left), self.deadline)
        found = search(_calls(ops, permissive=True), start, budget, collect)
        self.states_left -= found.explored
        return found

    def _fails(self, ops: list[Operation], starts: Iterable[KeyState]) -> bool:
        """True when the search proves `ops` unlinearizable from every start."""
        for start in starts:
            if self.states_left <= 0:
                return False
            if self._search(ops, start).outcome is not Outcome.NOT_LINEARIZABLE:
                return False
        return True

    def _shortest_failing_prefix(self, ops: list[Operation], start: KeyState) -> list[Operation]:
        low, high = 1, len(ops)
        while low < high and self.states_left > 0:
            middle = (low + high) // 2
            if self._fails(ops[:middle], [start]):
                high = middle
            else:
                low = middle + 1
        return ops[:high]

    def _without_observations(self, ops: list[Operation], starts: set[KeyState]) -> list[Operation]:
        candidates = [i for i, op in enumerate(ops) if _is_observation(op)]
        removed: set[int] = set()
        chunk = max(1, len(candidates) // 2)
        while self.states_left > 0:
            for begin in range(0, len(candidates), chunk):
                group = set(candidates[begin : begin + chunk]) - removed
                trial = [op for i, op in enumerate(ops) if i not in removed and i not in group]
                if group and self._fails(trial, starts):
                    removed |= group
            if chunk == 1:
                break
            chunk //= 2
        return [op for i, op in enumerate(ops) if i not in removed]

    def _after_latest_cut(
        self, ops: list[Operation], starts: set[KeyState]
    ) -> tuple[set[KeyState], list[Operation]]:
        """The smallest suffix after a real-time cut that fails from every state the ops
        before the cut can end in. Ops of unknown completion invoked before the cut stay
        on both sides: applying one twice only makes the window easier to linearize."""
        cuts: list[tuple[int, set[KeyState]]] = [(0, starts)]
        reachable = starts
        completed_before = -math.inf
        segment_start = 0
        for i, op in enumerate(ops):
            if i > 0 and completed_before < op.invoked_ns:
                pending = [o for o in ops[:segment_start] if o.end_ns == math.inf]
                reachable = self._final_states(pending + ops[segment_start:i], reachable)
                if not reachable or len(reachable) > _MAX_START_STATES:
                    break
                cuts.append((i, reachable))
                segment_start = i
            if op.end_ns != math.inf:
                completed_before = max(completed_before, op.end_ns)
        for i, reachable in reversed(cuts[1:]):
            floor = min(state.revision_floor for state in reachable)
            carried = [o for o in ops[:i] if o.end_ns == math.inf and _may_apply(o, floor)]
            suffix = carried + ops[i:]
            if self._fails(suffix, reachable):
                return reachable, suffix
        return starts, ops

    def _final_states(self, segment: list[Operation], starts: set[KeyState]) -> set[KeyState]:
        finals: set[KeyState] = set()
        for start in starts:
            if self.states_left <= 0:
                return set()
            found = self._search(segment, start, collect=True)
            if found.outcome is Outcome.EXHAUSTED:
                return set()
            finals |= found.final_states
        return finals
