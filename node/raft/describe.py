"""Text forms of raft's records, one line (or a few) each, as etcd-io/raft's util.go prints them.

Tests, the transcript files in tests/raft/testdata, traces and log inspectors all read raft
through these functions, so the forms are a stable API: change one only on purpose, and then
regenerate the transcripts (see node/raft/README.md). Every form follows etcd's Describe*
functions, with names from etcd's raftpb (MsgApp, EntryNormal, StateLeader), so a trace of this
project reads like one of etcd's. Node ids print in hex as etcd's do, 0 as `None`.

Differences from etcd, because the records differ: a message shows its non-empty context
(`Context:"..."`, which carries ReadIndex requests on heartbeats), a conf state has no joint
(outgoing) part, and entry data of a conf change is shown in etcd's short form (`v1 l4 r2`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from node.raft.rawnode import Ready
from node.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MalformedRecord,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)

__all__ = [
    "EntryFormatter",
    "describe_conf_change",
    "describe_conf_state",
    "describe_entries",
    "describe_entry",
    "describe_hard_state",
    "describe_message",
    "describe_message_type",
    "describe_node",
    "describe_read_state",
    "describe_ready",
    "describe_snapshot",
    "describe_soft_state",
    "describe_state",
    "quote",
]

EntryFormatter = Callable[[bytes], str]
"""Turns a normal entry's data into text; the default quotes it as Go's %q does."""

_MESSAGE_NAMES = {
    MessageType.MSG_HUP: "MsgHup",
    MessageType.MSG_BEAT: "MsgBeat",
    MessageType.MSG_PROP: "MsgProp",
    MessageType.MSG_APP: "MsgApp",
    MessageType.MSG_APP_RESP: "MsgAppResp",
    MessageType.MSG_VOTE: "MsgVote",
    MessageType.MSG_VOTE_RESP: "MsgVoteResp",
    MessageType.MSG_SNAP: "MsgSnap",
    MessageType.MSG_HEARTBEAT: "MsgHeartbeat",
    MessageType.MSG_HEARTBEAT_RESP: "MsgHeartbeatResp",
    MessageType.MSG_UNREACHABLE: "MsgUnreachable",
    MessageType.MSG_SNAP_STATUS: "MsgSnapStatus",
    MessageType.MSG_CHECK_QUORUM: "MsgCheckQuorum",
    MessageType.MSG_TRANSFER_LEADER: "MsgTransferLeader",
    MessageType.MSG_TIMEOUT_NOW: "MsgTimeoutNow",
    MessageType.MSG_READ_INDEX: "MsgReadIndex",
    MessageType.MSG_READ_INDEX_RESP: "MsgReadIndexResp",
    MessageType.MSG_PRE_VOTE: "MsgPreVote",
    MessageType.MSG_PRE_VOTE_RESP: "MsgPreVoteResp",
}

_STATE_NAMES = {
    StateType.FOLLOWER: "StateFollower",
    StateType.CANDIDATE: "StateCandidate",
    StateType.LEADER: "StateLeader",
    StateType.PRE_CANDIDATE: "StatePreCandidate",
}

_ENTRY_TYPE_NAMES = {EntryType.NORMAL: "EntryNormal", EntryType.CONF_CHANGE: "EntryConfChange"}

_CONF_CHANGE_LETTERS = {
    ConfChangeType.ADD_NODE: "v",
    ConfChangeType.REMOVE_NODE: "r",
    ConfChangeType.UPDATE_NODE: "u",
    ConfChangeType.ADD_LEARNER_NODE: "l",
}


def describe_node(node_id: int) -> str:
    """A node id as etcd prints one: hex, and `None` for 0 (no node, no leader)."""
    return "None" if node_id == 0 else f"{node_id:x}"


def describe_message_type(mtype: MessageType) -> str:
    """etcd's name of a message type: `MsgApp`, `MsgPreVoteResp`, ..."""
    return _MESSAGE_NAMES[MessageType(mtype)]


def describe_state(state: StateType) -> str:
    """etcd's name of a raft role: `StateFollower`, `StatePreCandidate`, `StateLeader`, ..."""
    return _STATE_NAMES[StateType(state)]


def quote(data: bytes) -> str:
    """Bytes in double quotes, close to Go's %q: printable ASCII as is, `\\n` `\\t` `\\r`, `\\"`,
    `\\\\`, every other byte as `\\xNN` (Go would keep valid UTF-8 letters)."""
    out = []
    for byte in data:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def describe_conf_change(cc: ConfChange) -> str:
    """A conf change in etcd's short form: `v3` adds voter 3, `l4` a learner, `r2` removes 2."""
    return f"{_CONF_CHANGE_LETTERS[cc.type]}{cc.node_id}"


def describe_entry(entry: Entry, format_data: EntryFormatter | None = None) -> str:
    """`term/index type data`, e.g. `2/6 EntryNormal "foo"` or `1/1 EntryConfChange v1`.

    Normal data goes through `format_data` (quoted by default); empty data shows as `""`.
    Undecodable conf change data shows the decoding error instead.
    """
    if entry.type == EntryType.CONF_CHANGE:
        try:
            formatted = describe_conf_change(ConfChange.decode(entry.data))
        except MalformedRecord as exc:
            formatted = str(exc)
    else:
        formatted = (format_data or quote)(entry.data)
    kind = _ENTRY_TYPE_NAMES[EntryType(entry.type)]
    return f"{entry.term}/{entry.index} {kind}" + (f" {formatted}" if formatted else "")


def describe_entries(entries: Iterable[Entry], format_data: EntryFormatter | None = None) -> str:
    """One described entry per line, each ending in a newline (empty for no entries)."""
    return "".join(describe_entry(e, format_data) + "\n" for e in entries)


def describe_hard_state(hs: HardState) -> str:
    """`Term:2 Vote:1 Commit:5`; the vote is left out when there is none."""
    vote = f" Vote:{describe_node(hs.vote)}" if hs.vote else ""
    return f"Term:{hs.term}{vote} Commit:{hs.commit}"


def describe_soft_state(ss: SoftState) -> str:
    """`Lead:1 State:StateLeader`: the known leader and this node's role."""
    return f"Lead:{describe_node(ss.lead)} State:{describe_state(ss.raft_state)}"


def describe_conf_state(cs: ConfState) -> str:
    """`Voters:[1 2 3] Learners:[4]` (etcd's form without the joint-consensus fields)."""
    voters = " ".join(describe_node(v) for v in cs.voters)
    learners = " ".join(describe_node(v) for v in cs.learners)
    return f"Voters:[{voters}] Learners:[{learners}]"


def describe_snapshot(snap: Snapshot) -> str:
    """`Index:5 Term:2 ConfState:Voters:[1 2 3] Learners:[]`: a snapshot's metadata."""
    meta = snap.metadata
    return f"Index:{meta.index} Term:{meta.term} ConfState:{describe_conf_state(meta.conf_state)}"


def describe_read_state(rs: ReadState) -> str:
    """`Index:5 RequestCtx:"read-1"`: a read that may be served once `Index` is applied."""
    return f"Index:{rs.index} RequestCtx:{quote(rs.request_ctx)}"


def describe_message(m: Message, format_data: EntryFormatter | None = None) -> str:
    """`1->2 MsgApp Term:2 Log:1/5 Commit:5 Entries:[2/6 EntryNormal "foo"]`, as etcd's.

    Always: sender->recipient, type, `Term`, `Log:log_term/index`. Then only when set:
    ` Rejected (Hint: n)`, ` Commit:n`, the entries (inline when one, else one per indented
    line), ` Context:"..."`, and the snapshot's metadata on an indented line of its own.
    """
    head = (
        f"{describe_node(m.frm)}->{describe_node(m.to)} {describe_message_type(m.type)} "
        f"Term:{m.term} Log:{m.log_term}/{m.index}"
    )
    parts = [head]
    if m.reject:
        parts.append(f" Rejected (Hint: {m.reject_hint})")
    if m.commit:
        parts.append(f" Commit:{m.commit}")
    if len(m.entries) == 1:
        parts.append(f" Entries:[{describe_entry(m.entries[0], format_data)}]")
    elif m.entries:
        lines = "".join(f"\n  {describe_entry(e, format_data)}" for e in m.entries)
        parts.append(f" Entries:[{lines}\n]")
    if m.context:
        parts.append(f" Context:{quote(m.context)}")
    if m.snapshot is not None and not m.snapshot.is_empty():
        parts.append(f"\n  Snapshot: {describe_snapshot(m.snapshot)}")
    return "".join(parts)


def describe_ready(rd: Ready, format_data: EntryFormatter | None = None) -> str:
    """A Ready as etcd's DescribeReady: a `Ready MustSync=...:` line, then one part per line.

    The parts, each only when present and in this order: the soft state, `HardState ...`,
    `ReadStates [...]`, `Entries:` with one entry per line, `Snapshot ...`,
    `CommittedEntries:` likewise, `Messages:` with one message per line. The text ends in a
    newline. A Ready with nothing in it is `<empty Ready>`.
    """
    lines: list[str] = []
    if rd.soft_state is not None:
        lines.append(describe_soft_state(rd.soft_state) + "\n")
    if rd.hard_state is not None and not rd.hard_state.is_empty():
        lines.append(f"HardState {describe_hard_state(rd.hard_state)}\n")
    if rd.read_states:
        states = " ".join(f"{{{describe_read_state(rs)}}}" for rs in rd.read_states)
        lines.append(f"ReadStates [{states}]\n")
    if rd.entries:
        lines.append("Entries:\n" + describe_entries(rd.entries, format_data))
    if rd.snapshot is not None and not rd.snapshot.is_empty():
        lines.append(f"Snapshot {describe_snapshot(rd.snapshot)}\n")
    if rd.committed_entries:
        lines.append("CommittedEntries:\n" + describe_entries(rd.committed_entries, format_data))
    if rd.messages:
        lines.append("Messages:\n")
        lines.extend(describe_message(m, format_data) + "\n" for m in rd.messages)
    if not lines:
        return "<empty Ready>"
    return f"Ready MustSync={'true' if rd.must_sync else 'false'}:\n" + "".join(lines)
