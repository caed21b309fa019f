"""The console's `trace` command: what the members did inside during the previous command.

A TraceWindow follows every member's trace events (from the first `trace` on) and keeps those
since the latest commands began; `trace` prints them by time in text, one event a line: raft
messages in describe.py's form (the `text` members publish), Readys section by section, WAL
saves with their fsync, applies, proposals and replies, ReadIndex rounds. Heartbeats without a
ReadIndex context, and Readys that only carry them, are left out unless asked for (--all).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from node.client import ClientTls, as_dict, connect_client
from node.messages import errors
from node.messages.member_events import ALL_TRACE, TRACE_KINDS

SETTLE_SECONDS = 0.3
"""How long `trace` waits for the events of slower streams before printing."""
EVENTS_KEPT = 100_000
COMMANDS_KEPT = 20
"""How many commands back `trace --commands=N` reaches."""
RECONNECT_DELAY = 1.0
_FAILURES = (errors.EtcdError, OSError, TimeoutError, anyio.BrokenResourceError)
_HEARTBEATS = ("MsgHeartbeat", "MsgHeartbeatResp")
_MEMBER_FIELDS = ("to", "from", "candidate")
ENTRY_CARRIERS = ("MsgApp", "MsgProp")
"""The messages whose entries are log entries (a MsgReadIndex carries its context as one)."""


@dataclass(slots=True)
class TracedEvent:
    """One trace event of one member."""

    member: str
    t: float
    kind: str
    fields: dict[str, Any]


@dataclass
class TraceWindow:
    """Every member's trace events since the last command began."""

    events: deque[TracedEvent] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=COMMANDS_KEPT))
    """When each of the latest commands began."""
    started: bool = False
    """Whether members are being followed (from the first `trace` on)."""
    following: set[str] = field(default_factory=set)

    def begin_command(self) -> None:
        """A command starts: the window now shows from here."""
        self.starts.append(time.time())
        while self.events and self.events[0].t < self.starts[0]:
            self.events.popleft()

    async def follow(
        self, name: str, endpoint: str, subscribed: anyio.Event, tls: ClientTls | None = None
    ) -> None:
        """Keep `name`'s trace events (dialing with `tls`; reconnecting after a loss) until
        cancelled."""
        while True:
            try:
                async with (
                    connect_client([endpoint], timeout=2.0, tls=tls) as client,
                    client.events([ALL_TRACE]) as stream,
                ):
                    self.following.add(name)
                    subscribed.set()
                    async for reply in stream:
                        fields = as_dict(reply.fields)
                        member = fields.pop("member", name)
                        self.events.append(TracedEvent(member, reply.time, reply.kind, fields))
            except* _FAILURES:
                pass
            self.following.discard(name)
            subscribed.set()  # a member that is down must not hold the first `trace` up
            await anyio.sleep(RECONNECT_DELAY)

    def lines(
        self,
        kinds: Iterable[str] = (),
        members: Iterable[str] = (),
        everything: bool = False,
        commands: int = 1,
    ) -> list[str]:
        """The events since the last `commands` commands began as text, oldest first, times in
        ms after the first shown."""
        wanted_kinds, wanted_members = set(kinds), set(members)
        since = self.starts[-min(max(commands, 1), len(self.starts))] if self.starts else 0.0
        events = sorted((e for e in self.events if e.t >= since), key=lambda e: e.t)
        hidden_readys: set[tuple[str, int]] = set()
        shown: list[TracedEvent] = []
        for event in events:
            if not everything and _is_idle(event, hidden_readys):
                continue
            if wanted_kinds and event.kind not in wanted_kinds:
                continue
            if wanted_members and event.member not in wanted_members:
                continue
            shown.append(event)
        if not shown:
            return ["(no trace events)"]
        names = {e.fields["member_id"]: e.member for e in events if e.fields.get("member_id")}
        origin = shown[0].t
        return [
            f"{(e.t - origin) * 1000:8.2f}ms {e.member:<4} {describe_event(e, names)}"
            for e in shown
        ]


def _is_idle(event: TracedEvent, hidden_readys: set[tuple[str, int]]) -> bool:
    """Heartbeats without a ReadIndex context, and the Readys (and advances) carrying only them."""
    f = event.fields
    if event.kind in ("msg_send", "msg_recv"):
        return f.get("type") in _HEARTBEATS and not f.get("context")
    if event.kind == "ready":
        idle = not (
            f.get("entries") or f.get("committed_entries") or f.get("hard_state")
            or f.get("snapshot") or f.get("read_states") or f.get("soft_state")
        )  # fmt: skip
        if idle:
            hidden_readys.add((event.member, f.get("seq", 0)))
        return idle
    if event.kind == "advance":
        return (event.member, f.get("seq", 0)) in hidden_readys
    return False


def _range(first: Any, last: Any) -> str:
    return f"{first}" if first == last else f"{first}..{last}"


def describe_event(event: TracedEvent, names: dict[str, str] | None = None) -> str:
    """One trace event in a line of text; member ids in `names` are written as names."""
    f, kind = event.fields, event.kind
    if kind in ("msg_send", "msg_recv"):
        text = str(f.get("text", f.get("type"))).replace("\n", " ")
        source, arrow, rest = text.partition("->")
        if arrow and names:
            target, space, tail = rest.partition(" ")
            text = f"{names.get(source, source)}->{names.get(target, target)}{space}{tail}"
        verb = "send" if kind == "msg_send" else "recv"
        return f"{verb} {text}" + _entries(f)
    if kind == "ready":
        parts = [f"Ready #{f.get('seq', 0)}"]
        if f.get("soft_state"):
            soft = f["soft_state"]
            parts.append(f"SoftState Lead:{soft.get('lead')} State:{soft.get('raft_state')}")
        if f.get("hard_state"):
            hard = f["hard_state"]
            term, vote, commit = hard.get("term"), hard.get("vote"), hard.get("commit")
            parts.append(f"HardState Term:{term} Vote:{vote} Commit:{commit}")
        if f.get("entries"):
            parts.append(f"Entries {_range(f['entries_first'], f['entries_last'])}")
        if f.get("committed_entries"):
            parts.append(f"CommittedEntries {_range(f['committed_first'], f['committed_last'])}")
        if f.get("messages"):
            parts.append(f"Messages {f['messages']}")
        if f.get("snapshot"):
            parts.append(f"Snapshot {f['snapshot']}")
        if f.get("read_states"):
            states = ", ".join(str(state.get("index")) for state in f["read_states"])
            parts.append(f"ReadStates {states}")
        if f.get("must_sync"):
            parts.append("MustSync")
        return " | ".join(parts)
    if kind == "advance":
        return f"Advance #{f.get('seq', 0)} stable {f.get('stable')} applied {f.get('applied')}"
    if kind == "wal_save":
        what = (
            f"wal save entries {_range(f.get('first_index'), f.get('last_index'))}"
            if f.get("entries")
            else "wal save"
        )
        if f.get("hard_state"):
            what += " + hard state"
        sync = f"fsync {f.get('duration_ms', 0):.2f}ms" if f.get("sync") else "no fsync"
        return f"{what}, {f.get('bytes', 0)} bytes, {sync}"
    if kind == "apply":
        revisions = (
            f" revisions {_range(f['first_revision'], f['last_revision'])}"
            if f.get("first_revision")
            else ""
        )
        requests = ", ".join(_request(r) for r in f.get("requests") or [])
        return (
            f"apply {_range(f.get('first_index'), f.get('last_index'))}{revisions} "
            f"(LMDB txn {f.get('commit_ms', 0):.2f}ms, "
            f"consistent index {f.get('consistent_index')})"
            + (f": {requests}" if requests else "")
        )
    if kind == "propose":
        at = f" at index {f['index']}" if f.get("index") else " (forwarded to the leader)"
        return f"propose {_request(f)} request {f.get('request_id')}{at}"
    if kind == "reply":
        outcome = "ok" if f.get("ok") else f"error {f.get('error')}"
        revision = f" revision {f['revision']}" if f.get("revision") else ""
        return f"reply request {f.get('request_id')} {outcome}{revision}"
    if kind == "read_index":
        index = f" index {f['index']}" if "index" in f else ""
        return f"read index {f.get('phase')}{index} ctx {f.get('request_ctx')}"
    named = names or {}
    rest = " ".join(
        f"{name}={named.get(value, value) if name in _MEMBER_FIELDS else value}"
        for name, value in f.items()
        if name != "member_id"
    )
    return f"{kind.replace('_', ' ')} {rest}"


def _entries(f: dict[str, Any]) -> str:
    if not f.get("entries") or f.get("type") not in ENTRY_CARRIERS:
        return ""
    first = f.get("index", 0) + 1
    return f" Entries:[{_range(first, first + f['entries'] - 1)}] ({f.get('bytes', 0)} bytes)"


def _request(f: dict[str, Any]) -> str:
    words = [str(f.get("request", "?"))]
    if f.get("key"):
        words.append(str(f["key"]))
    if f.get("keys"):
        words.append(",".join(f["keys"]))
    return " ".join(words)


def known_kinds(names: Iterable[str]) -> list[str]:
    """The trace kinds `names` lists; ValueError naming a wrong one."""
    wrong = sorted(set(names) - TRACE_KINDS)
    if wrong:
        known = ", ".join(sorted(TRACE_KINDS))
        raise ValueError(f"not a trace event kind: {', '.join(wrong)} (kinds: {known})")
    return list(names)
