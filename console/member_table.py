"""`members`: one row per member with its raft state beside its store's revision.

A learner reading a demo should see, side by side, who leads in which term, how far each
member's log is committed and applied (raft indexes), and the key-value store's revision,
which counts only writes and so differs from the raft index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from console.command_output import Rendered, draw_table
from node.client import Response

_HEADER = (
    "MEMBER",
    "ROLE",
    "TERM",
    "LEADER",
    "VOTE",
    "LAST INDEX",
    "COMMIT INDEX",
    "APPLIED INDEX",
    "REVISION",
)

MemberState = tuple[Response, Response]
"""A member's Status reply and its Admin.RaftStatus reply."""


def render_member_states(
    answers: Sequence[tuple[str, MemberState | str]], names: Mapping[int, str]
) -> Rendered:
    """Each member's raft state as a row; `answers` pairs a member's name (or endpoint) with
    its Status and RaftStatus replies or why it gave none; `names` names member IDs."""

    def name(member_id: int) -> str:
        return names.get(member_id, f"{member_id:x}") if member_id else "none"

    rows = []
    value = []
    for who, answer in answers:
        if isinstance(answer, str):
            rows.append((who, "no answer", *["-"] * (len(_HEADER) - 2)))
            value.append({"member": who, "error": answer})
            continue
        status, raft = answer
        role = "learner" if status.isLearner else raft.role
        row = {
            "member": who,
            "role": role,
            "term": raft.term,
            "leader": name(raft.leader),
            "vote": name(raft.vote),
            "last_index": raft.last_index,
            "commit_index": raft.commit,
            "applied_index": raft.applied,
            "revision": raft.header.revision,
        }
        rows.append(tuple(str(cell) for cell in row.values()))
        value.append(row)
    lines = [", ".join(row) for row in rows]
    return Rendered(lines, value, draw_table(_HEADER, rows), prefers_table=True)
