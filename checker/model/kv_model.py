"""The sequential model of one etcd key, for the per-key linearizability search.

A key is a register with etcd's metadata (value, version, create and mod revision, lease),
plus a lower bound on the store's global revision at this point of the key's history.
Every write takes a revision strictly above every revision observed before it in the
linearization, and every response header revision is at least the last one. That is
exactly what the global revision order implies for the operations of one key, so a
history that etcd could produce always passes, key by key.

An indeterminate write takes an unknown revision: the model keeps the key's mod_revision
unknown, bounded below by the revision floor of the moment and above by the first header
revision observed afterwards, and fixes it when a later read or compare reveals it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from checker.model.history import KeyValue, Operation, OpKind, Request, Response


class KeyState(NamedTuple):
    """One key at one point of a linearization; hashable for the search's cache.

    `value` is None when the key does not exist. `mod_revision` (and `create_revision`) is
    None when set by a write of unknown revision; `mod_low`..`mod_high` then bound it.
    `revision_floor` is a lower bound on the store revision at this point.
    """

    value: str | None
    version: int
    create_revision: int | None
    mod_revision: int | None
    lease_id: int
    revision_floor: int
    mod_low: int = 0
    mod_high: int | None = None

    @property
    def exists(self) -> bool:
        """True when the key holds a value."""
        return self.value is not None

    def describe(self) -> str:
        """The state for a report."""
        if self.value is None:
            return f"absent (store revision >= {self.revision_floor})"
        mod = (
            str(self.mod_revision)
            if self.mod_revision is not None
            else f"unknown in [{self.mod_low}, {self.mod_high or '...'}]"
        )
        lease = f", lease {self.lease_id:x}" if self.lease_id else ""
        return (
            f"{self.value!r} (mod {mod}, ver {self.version}{lease}; "
            f"store revision >= {self.revision_floor})"
        )


def absent(revision_floor: int = 0) -> KeyState:
    """A key that does not exist, in a store at revision >= `revision_floor`."""
    return KeyState(None, 0, 0, 0, 0, revision_floor)


def from_snapshot(kv: KeyValue | None, revision: int) -> KeyState:
    """The state of a key read in a full snapshot at `revision`."""
    if kv is None:
        return absent(revision)
    return KeyState(
        kv.value, kv.version, kv.create_revision, kv.mod_revision, kv.lease_id, revision
    )


Transition = Callable[[KeyState], list[KeyState]]
"""What one operation does to a key: the states it may lead to (none: it cannot happen)."""


def transition(op: Operation) -> Transition:
    """The transition of `op`, specialised once so the search only calls it.

    A lease revoke stands for the deletion of this key when it is attached to that lease;
    an indeterminate revoke also stands for the lease expiring on its own. Operations that
    do not touch a key's value (lease grants, keep-alives, compactions) leave it unchanged.
    """
    request, response = op.request, op.response
    kind = request.kind
    value, lease_id = request.value, request.lease_id
    if kind in (OpKind.PUT, OpKind.PUT_WITH_LEASE):
        lease = lease_id if kind is OpKind.PUT_WITH_LEASE else 0
        if response is None:
            return lambda state: [_write_unknown(state, value, lease)]
        revision = response.revision
        return lambda state: _some(_write(state, value, lease, revision))
    if kind is OpKind.GET:
        if response is None:
            return lambda state: []
        kv, header = response.kv, response.revision
        return lambda state: _some(_read(state, kv, header))
    if kind is OpKind.CAS:
        return lambda state: _cas(state, request, response)
    if kind is OpKind.DELETE:
        if response is None:
            return lambda state: [] if state.value is None else _some(_delete(state, None))
        header = response.revision
        if response.deleted > 0:
            return lambda state: [] if state.value is None else _some(_delete(state, header))
        return lambda state: [] if state.value is not None else _some(_observe(state, header))
    if kind is OpKind.LEASE_REVOKE:
        if response is None:
            return lambda state: (
                _some(_delete(state, None))
                if state.lease_id == lease_id and state.value is not None
                else []
            )
        header = response.revision

        def revoke(state: KeyState) -> list[KeyState]:
            if state.lease_id == lease_id and state.value is not None:
                return _some(_revoke(state, header))
            return _some(_observe(state, header))

        return revoke
    return lambda state: [state]


def _some(state: KeyState | None) -> list[KeyState]:
    return [] if state is None else [state]


def _observe(state: KeyState, header: int) -> KeyState | None:
    """A response header revision seen at this point: the store is at `header` now."""
    if header < state.revision_floor:
        return None
    high = state.mod_high
    if state.mod_revision is None:
        high = header if high is None else min(high, header)
    return state._replace(revision_floor=header, mod_high=high)


def _write(state: KeyState, value: str, lease: int, revision: int) -> KeyState | None:
    if revision <= state.revision_floor:
        return None
    if state.exists:
        return KeyState(value, state.version + 1, state.create_revision, revision, lease, revision)
    return KeyState(value, 1, revision, revision, lease, revision)


def _write_unknown(state: KeyState, value: str, lease: int) -> KeyState:
    floor = state.revision_floor + 1
    if state.exists:
        return KeyState(value, state.version + 1, state.create_revision, None, lease, floor, floor)
    return KeyState(value, 1, None, None, lease, floor, floor)


def _delete(state: KeyState, revision: int | None) -> KeyState | None:
    """The key deleted at `revision` (None: at an unknown revision)."""
    if revision is None:
        return absent(state.revision_floor + 1)
    if revision <= state.revision_floor:
        return None
    return absent(revision)


def _revoke(state: KeyState, header: int) -> KeyState | None:
    """The key deleted by a lease revoke answered at `header`: deleted at or before it."""
    if header <= state.revision_floor:
        return None
    return absent(header)


def _fix_mod_revision(state: KeyState, mod_revision: int) -> KeyState | None:
    """The key's mod_revision revealed as `mod_revision`."""
    if state.mod_revision is not None:
        return state if state.mod_revision == mod_revision else None
    if mod_revision < state.mod_low or (
        state.mod_high is not None and mod_revision > state.mod_high
    ):
        return None
    create = state.create_revision
    if create is None and state.version == 1:
        create = mod_revision
    return state._replace(
        mod_revision=mod_revision, create_revision=create, mod_low=0, mod_high=None
    )


def _read(state: KeyState, kv: KeyValue | None, header: int) -> KeyState | None:
    seen = _observe(state, header)
    if seen is None:
        return None
    if kv is None:
        return seen if not seen.exists else None
    if (seen.value, seen.version, seen.lease_id) != (kv.value, kv.version, kv.lease_id):
        return None
    if kv.mod_revision > header:
        return None
    seen = _fix_mod_revision(seen, kv.mod_revision)
    if seen is None:
        return None
    if seen.create_revision is None:
        if kv.create_revision > kv.mod_revision:
            return None
        return seen._replace(create_revision=kv.create_revision)
    return seen if seen.create_revision == kv.create_revision else None


def _compare(state: KeyState, request: Request) -> bool | None:
    """Whether a cas compare holds here; None when the unknown mod_revision decides."""
    if request.compare_value is not None:
        return state.exists and state.value == request.compare_value
    target = request.compare_mod_revision
    if state.mod_revision is not None:
        return state.mod_revision == target
    if target < state.mod_low or (state.mod_high is not None and target > state.mod_high):
        return False
    return None


def _cas(state: KeyState, request: Request, response: Response | None) -> list[KeyState]:
    holds = _compare(state, request)
    if holds is None:
        # Only a mod_revision compare can be undecided; taking the success branch fixes it.
        fixed = _fix_mod_revision(state, request.compare_mod_revision)
        if response is None:
            return _some(None if fixed is None else _write_unknown(fixed, request.value, 0))
        if response.succeeded:
            return _some(
                None if fixed is None else _write(fixed, request.value, 0, response.revision)
            )
        return _some(_observe(state, response.revision))
    if response is None:
        return [_write_unknown(state, request.value, 0)] if holds else []
    if response.succeeded != holds:
        return []
    if holds:
        return _some(_write(state, request.value, 0, response.revision))
    return _some(_observe(state, response.revision))
