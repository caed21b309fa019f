"""The kinds of events a member's event stream (Admin.Events) carries, and a subscriber's choice.

State events (the default, what the dashboard reads) summarise the member now and then; trace
events report every step of the raft loop, the WAL, apply, reads and leases as it happens,
and are sent only to a subscriber that names them (node/server/README.md lists every field).
"""

from __future__ import annotations

from collections.abc import Iterable

STATE_KINDS = frozenset({"role", "commit", "peers", "latency", "snapshot", "membership", "log"})
"""What a subscriber gets when it names no kinds."""

MSG_SEND = "msg_send"
MSG_RECV = "msg_recv"
READY = "ready"
ADVANCE = "advance"
WAL_SAVE = "wal_save"
SNAP_SAVE = "snap_save"
SNAP_SEND = "snap_send"
SNAP_RECV = "snap_recv"
SNAP_INSTALL = "snap_install"
LOG_COMPACT = "log_compact"
PROPOSE = "propose"
REPLY = "reply"
APPLY = "apply"
READ_INDEX = "read_index"
LEASE = "lease"
RAFT_STATE = "raft_state"
VOTE = "vote"

TRACE_KINDS = frozenset(
    {
        MSG_SEND, MSG_RECV, READY, ADVANCE, WAL_SAVE, SNAP_SAVE, SNAP_SEND, SNAP_RECV,
        SNAP_INSTALL, LOG_COMPACT, PROPOSE, REPLY, APPLY, READ_INDEX, LEASE, RAFT_STATE, VOTE,
    }
)  # fmt: skip
"""Every trace event kind; the name `trace` stands for all of them in a subscriber's choice."""

ALL_TRACE = "trace"


class UnknownEventKind(ValueError):
    """A subscriber named a kind no member publishes."""


def chosen_kinds(names: Iterable[str] | None) -> frozenset[str]:
    """The kinds a subscriber naming `names` gets: STATE_KINDS for none, `trace` for every
    trace kind; an unknown name raises UnknownEventKind naming it and the known ones."""
    if names is None:
        return STATE_KINDS
    chosen: set[str] = set()
    for name in names:
        if name == ALL_TRACE:
            chosen |= TRACE_KINDS
        elif name in STATE_KINDS or name in TRACE_KINDS:
            chosen.add(name)
        else:
            known = ", ".join(sorted(STATE_KINDS | TRACE_KINDS | {ALL_TRACE}))
            raise UnknownEventKind(f"unknown event kind {name!r} (known: {known})")
    if not chosen:
        return STATE_KINDS
    return frozenset(chosen)
