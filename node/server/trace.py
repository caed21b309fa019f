"""Trace events: every raft message, Ready, WAL save, snapshot, proposal, apply batch, read
round and lease action of one member, published on its event bus (see README.md's table).

Each method first asks the bus whether anyone wants its kind and returns at once when nobody
does, so the calls in the raft loop, apply and reads cost a method call and a set lookup
while no subscriber asked for traces (benchmarks/trace_cost.py measures it). Fields use
etcd's names (raftpb's, in snake_case); ids are hex strings as etcd prints them (64-bit ids
do not survive JSON's doubles), indexes and terms numbers. The chain that follows one
request: `propose`/`reply` carry its request_id, `apply` maps each index to its request_id,
and `ready` (append), `wal_save` (fsync), `ready` committed range (commit) and `apply`
carry index ranges on every member.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from node.messages import member_events as K
from node.messages.kv import CompactionRequest, DeleteRangeRequest, PutRequest, TxnRequest
from node.messages.lease import (
    LeaseCheckpointRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
)
from node.raft import (
    ConfChange,
    Entry,
    EntryType,
    HardState,
    MalformedRecord,
    Message,
    MessageType,
    Ready,
    SnapshotMetadata,
)
from node.raft.describe import (
    describe_conf_change,
    describe_message,
    describe_message_type,
    describe_state,
)
from node.server.cluster import ConfChangeContext
from node.server.events import EventBus
from node.server.raft_request import RaftBody, RaftRequest

if TYPE_CHECKING:
    from node.server.member_state import MemberState

DISABLE_VARIABLE = "ETCD_CONSOLE_TRACE_OFF"
"""Set (to anything) in a member's environment, the tracer publishes nothing: for
benchmarks/trace_cost.py's baseline only."""

_VOTE_RESPONSES = (MessageType.MSG_VOTE_RESP, MessageType.MSG_PRE_VOTE_RESP)


def _hex(value: int) -> str:
    return f"{value:x}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def message_fields(m: Message) -> dict[str, Any]:
    """A raft message's fields, named as raftpb's Message (entries as their count and data
    bytes), and `text`: describe.py's form of it without the entries (a line per entry would
    cost more than the rest of the event)."""
    fields: dict[str, Any] = {
        "type": describe_message_type(m.type),
        "from": _hex(m.frm),
        "to": _hex(m.to),
        "term": m.term,
        "log_term": m.log_term,
        "index": m.index,
        "entries": len(m.entries),
        "bytes": sum(len(e.data) for e in m.entries),
        "commit": m.commit,
        "reject": m.reject,
        "reject_hint": m.reject_hint,
    }
    if m.context:
        fields["context"] = m.context.hex()
    if m.snapshot is not None and not m.snapshot.is_empty():
        fields["snapshot_index"] = m.snapshot.metadata.index
        fields["snapshot_term"] = m.snapshot.metadata.term
    head = m
    if m.entries:
        head = Message(
            m.type, m.to, m.frm, m.term, m.log_term, m.index, [], m.commit, m.reject,
            m.reject_hint, m.snapshot, m.context,
        )  # fmt: skip
    fields["text"] = describe_message(head)
    return fields


def request_fields(body: RaftBody) -> dict[str, Any]:
    """What a proposal carries: its kind (InternalRaftRequest's field name) and its key or id."""
    fields: dict[str, Any] = {}
    if isinstance(body, PutRequest):
        fields["key"] = _text(body.key)
        fields["lease"] = _hex(body.lease)
    elif isinstance(body, DeleteRangeRequest):
        fields["key"] = _text(body.key)
        if body.range_end:
            fields["range_end"] = _text(body.range_end)
    elif isinstance(body, TxnRequest):
        keys = [c.key for c in body.compare]
        for op in (*body.success, *body.failure):
            request = op.request()
            if request is not None and hasattr(request, "key"):
                keys.append(request.key)
        fields["keys"] = sorted({_text(k) for k in keys})
    elif isinstance(body, CompactionRequest):
        fields["revision"] = body.revision
    elif isinstance(body, LeaseGrantRequest):
        fields["id"] = _hex(body.id)
        fields["ttl"] = body.ttl
    elif isinstance(body, LeaseRevokeRequest):
        fields["id"] = _hex(body.id)
    return fields


def _entry_request(entry: Entry) -> tuple[int, str, dict[str, Any], RaftBody | None] | None:
    """(request id, kind, fields, body) of an entry that carries a request; None otherwise."""
    if not entry.data:
        return None
    try:
        if entry.type == EntryType.CONF_CHANGE:
            cc = ConfChange.decode(entry.data)
            if not cc.context:
                return None
            context = ConfChangeContext.decode(cc.context)
            change = {"conf_change": describe_conf_change(cc)}
            return context.request_id, "conf_change", change, None
        request = RaftRequest.decode(entry.data)
    except MalformedRecord:
        return None
    return request.id, request.kind.name.lower(), request_fields(request.body), request.body


class Tracer:
    """Publishes one member's trace events; one method per kind, each a no-op unless wanted."""

    __slots__ = ("_bus", "_enabled", "_member", "_member_id", "_ready_seq", "_term")

    def __init__(self, bus: EventBus, member_id: int, name: str) -> None:
        self._bus = bus
        self._enabled = DISABLE_VARIABLE not in os.environ
        self._member = name
        self._member_id = _hex(member_id)
        self._ready_seq = 0
        self._term = 0

    def _wants(self, kind: str) -> bool:
        return self._enabled and kind in self._bus.wanted

    def _emit(self, kind: str, fields: dict[str, Any]) -> None:
        self._bus.emit(kind, {"member": self._member, "member_id": self._member_id, **fields})

    # -- raft messages -------------------------------------------------------------------------

    def sent(self, messages: list[Message]) -> None:
        """Messages handed to the transport (or, MsgSnap, to the snapshot sender)."""
        if not (self._bus.tracing and self._enabled):
            return
        wanted = self._bus.wanted
        for m in messages:
            if K.MSG_SEND in wanted:
                self._emit(K.MSG_SEND, message_fields(m))
            if K.VOTE in wanted and m.type in _VOTE_RESPONSES:
                self._emit(
                    K.VOTE,
                    {
                        "candidate": _hex(m.to),
                        "term": m.term,
                        "pre": m.type == MessageType.MSG_PRE_VOTE_RESP,
                        "granted": not m.reject,
                    },
                )

    def received(self, messages: Iterable[Message]) -> None:
        """Messages from peers, as they are stepped into raft."""
        if not (self._bus.tracing and self._enabled) or K.MSG_RECV not in self._bus.wanted:
            return
        for m in messages:
            self._emit(K.MSG_RECV, message_fields(m))

    # -- the Ready cycle -----------------------------------------------------------------------

    def ready(self, rd: Ready, term: int) -> None:
        """A Ready taken from raft (and the role or term change it reports)."""
        if not (self._bus.tracing and self._enabled):
            self._term = term
            return
        self._ready_seq += 1
        wanted = self._bus.wanted
        hs = rd.hard_state
        if K.RAFT_STATE in wanted and (rd.soft_state is not None or term != self._term):
            fields: dict[str, Any] = {"term": term}
            if rd.soft_state is not None:
                fields["raft_state"] = describe_state(rd.soft_state.raft_state)
                fields["lead"] = _hex(rd.soft_state.lead)
            if hs is not None and hs.vote:
                fields["vote"] = _hex(hs.vote)
            self._emit(K.RAFT_STATE, fields)
        self._term = term
        if K.READY not in wanted:
            return
        fields = {
            "seq": self._ready_seq,
            "must_sync": rd.must_sync,
            "entries": len(rd.entries),
            "entries_first": rd.entries[0].index if rd.entries else 0,
            "entries_last": rd.entries[-1].index if rd.entries else 0,
            "committed_entries": len(rd.committed_entries),
            "committed_first": rd.committed_entries[0].index if rd.committed_entries else 0,
            "committed_last": rd.committed_entries[-1].index if rd.committed_entries else 0,
            "messages": len(rd.messages),
            "snapshot": rd.snapshot.metadata.index if rd.snapshot is not None else 0,
            "read_states": [
                {"index": rs.index, "request_ctx": rs.request_ctx.hex()} for rs in rd.read_states
            ],
        }
        if rd.soft_state is not None:
            fields["soft_state"] = {
                "lead": _hex(rd.soft_state.lead),
                "raft_state": describe_state(rd.soft_state.raft_state),
            }
        if hs is not None:
            fields["hard_state"] = _hard_state(hs)
        self._emit(K.READY, fields)

    def advanced(self, rd: Ready) -> None:
        """The Ready was handled and raft told so (`advance`)."""
        if not self._wants(K.ADVANCE):
            return
        self._emit(
            K.ADVANCE,
            {
                "seq": self._ready_seq,
                "stable": rd.entries[-1].index if rd.entries else 0,
                "applied": rd.committed_entries[-1].index if rd.committed_entries else 0,
            },
        )

    def wal_saved(self, rd: Ready, seconds: float) -> None:
        """One WAL write of the Ready's hard state and entries, fsynced when it must be."""
        if not self._wants(K.WAL_SAVE) or (rd.hard_state is None and not rd.entries):
            return
        fields: dict[str, Any] = {
            "entries": len(rd.entries),
            "bytes": sum(len(e.data) for e in rd.entries),
            "first_index": rd.entries[0].index if rd.entries else 0,
            "last_index": rd.entries[-1].index if rd.entries else 0,
            "sync": rd.must_sync,
            "duration_ms": seconds * 1000,
        }
        if rd.hard_state is not None:
            fields["hard_state"] = _hard_state(rd.hard_state)
        self._emit(K.WAL_SAVE, fields)

    # -- snapshots and compaction --------------------------------------------------------------

    def snapshot_saved(self, meta: SnapshotMetadata, source: str) -> None:
        """A raft snapshot file (and its WAL marker) saved: `local` (taken) or `leader`."""
        if self._wants(K.SNAP_SAVE):
            self._emit(K.SNAP_SAVE, {"index": meta.index, "term": meta.term, "source": source})

    def snapshot_sending(self, to: int, index: int) -> None:
        """The leader starts streaming its backend to `to` for a MsgSnap."""
        if self._wants(K.SNAP_SEND):
            self._emit(K.SNAP_SEND, {"to": _hex(to), "index": index, "phase": "start"})

    def snapshot_sent(self, to: int, ok: bool) -> None:
        """The transport reports the backend snapshot to `to` delivered (or failed)."""
        if self._wants(K.SNAP_SEND):
            self._emit(K.SNAP_SEND, {"to": _hex(to), "phase": "done", "ok": ok})

    def snapshot_received(self, message: Message, size: int) -> None:
        """A MsgSnap with the leader's backend (`size` bytes) arrived and is kept on disk."""
        self.received([message])
        if self._wants(K.SNAP_RECV):
            index = message.snapshot.metadata.index if message.snapshot else 0
            self._emit(K.SNAP_RECV, {"from": _hex(message.frm), "index": index, "bytes": size})

    def snapshot_installed(self, index: int, revision: int) -> None:
        """The apply task replaced the backend with a received snapshot's."""
        if self._wants(K.SNAP_INSTALL):
            self._emit(K.SNAP_INSTALL, {"index": index, "revision": revision})

    def log_compacted(self, index: int) -> None:
        """The in-memory raft log now starts after `index`."""
        if self._wants(K.LOG_COMPACT):
            self._emit(K.LOG_COMPACT, {"index": index})

    # -- requests ------------------------------------------------------------------------------

    def proposed(self, data: bytes, index: int) -> None:
        """A request handed to raft; `index` is its log index on the leader, 0 elsewhere (the
        proposal travels to the leader as MsgProp)."""
        if not self._wants(K.PROPOSE):
            return
        found = _entry_request(Entry(index=index, data=data))
        if found is not None:
            self._propose(found[0], found[1], found[2], index, len(data))

    def proposed_conf_change(self, cc: ConfChange, index: int) -> None:
        """A membership change handed to raft."""
        if not self._wants(K.PROPOSE):
            return
        found = _entry_request(Entry(index=index, type=EntryType.CONF_CHANGE, data=cc.encode()))
        if found is not None:
            self._propose(found[0], found[1], found[2], index, 0)

    def _propose(
        self, request_id: int, kind: str, fields: dict[str, Any], index: int, size: int
    ) -> None:
        self._emit(
            K.PROPOSE,
            {"request_id": _hex(request_id), "request": kind, **fields, "index": index,
             "bytes": size},
        )  # fmt: skip

    def answered(self, request_id: int, result: Any, error: BaseException | None) -> None:
        """The proposing member answers the request (its outcome, or why it failed)."""
        if not self._wants(K.REPLY):
            return
        fields: dict[str, Any] = {"request_id": _hex(request_id), "ok": error is None}
        if error is not None:
            fields["error"] = str(error)
        revision = getattr(result, "revision", None)
        if revision is None and getattr(result, "header", None) is not None:
            revision = result.header.revision
        if isinstance(revision, int):
            fields["revision"] = revision
        self._emit(K.REPLY, fields)

    def applied(
        self, entries: list[Entry], revision_before: int, state: MemberState, seconds: float
    ) -> None:
        """One apply batch, committed to the backend in one LMDB transaction of `seconds`."""
        if not (self._bus.tracing and self._enabled) or not entries:
            return
        wanted = self._bus.wanted
        if K.APPLY not in wanted and K.LEASE not in wanted:
            return
        requests = []
        for entry in entries:
            found = _entry_request(entry)
            if found is None:
                continue
            request_id, kind, fields, body = found
            requests.append(
                {"index": entry.index, "request_id": _hex(request_id), "request": kind, **fields}
            )
            if K.LEASE in wanted:
                self._lease_applied(body)
        if K.APPLY not in wanted:
            return
        revision = state.kv.current_revision
        self._emit(
            K.APPLY,
            {
                "first_index": entries[0].index,
                "last_index": entries[-1].index,
                "entries": len(entries),
                "first_revision": revision_before + 1 if revision > revision_before else 0,
                "last_revision": revision if revision > revision_before else 0,
                "revision": revision,
                "commit_ms": seconds * 1000,
                "consistent_index": state.consistent_index,
                "requests": requests,
            },
        )

    def _lease_applied(self, body: RaftBody | None) -> None:
        if isinstance(body, LeaseGrantRequest):
            self._emit(K.LEASE, {"action": "grant", "id": _hex(body.id), "ttl": body.ttl})
        elif isinstance(body, LeaseRevokeRequest):
            self._emit(K.LEASE, {"action": "revoke", "id": _hex(body.id)})
        elif isinstance(body, LeaseCheckpointRequest):
            for checkpoint in body.checkpoints:
                self._emit(
                    K.LEASE,
                    {"action": "checkpoint", "id": _hex(checkpoint.id),
                     "ttl": checkpoint.remaining_ttl},
                )  # fmt: skip

    def lease(self, action: str, lease_id: int, ttl: int | None = None) -> None:
        """A lessor action outside apply: `renew` (keep-alive on the leader), `expire` (the
        leader found it expired and will revoke it)."""
        if self._wants(K.LEASE):
            fields: dict[str, Any] = {"action": action, "id": _hex(lease_id)}
            if ttl is not None:
                fields["ttl"] = ttl
            self._emit(K.LEASE, fields)

    def read_index(self, phase: str, ctx: bytes, index: int = 0) -> None:
        """A ReadIndex round: `request` (asked raft), `confirmed` (its read state arrived with
        the read index), `done` (applied reached the index: the waiting reads run)."""
        if self._wants(K.READ_INDEX):
            fields: dict[str, Any] = {"phase": phase, "request_ctx": ctx.hex()}
            if index:
                fields["index"] = index
            self._emit(K.READ_INDEX, fields)


def _hard_state(hs: HardState) -> dict[str, Any]:
    return {"term": hs.term, "vote": _hex(hs.vote), "commit": hs.commit}
