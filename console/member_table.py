"""`members`: one row per member with its raft state beside its store's revision.

A learner reading a demo should see, side by side, who leads in which term, how far each
member's log is committed and applied (raft indexes), and the key-value store's revision,
which counts only writes and so differs from the raft index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from console.command_output import Rendered, draw_table
from node.client import Response

_HEADER = ("MEMBER", "ROLE", "TERM", "LEADER", "COMMIT INDEX", "APPLIED INDEX", "REVISION")


def render_member_states(
    answers: Sequence[tuple[str, Response | str]], names: Mapping[int, str]
) -> Rendered:
    """Each member's Status as a row; `answers` pairs a member's name (or endpoint) with its
    Status reply or why it gave none; `names` names member IDs (the leader column)."""
    rows = []
    value = []
    for who, status in answers:
        if isinstance(status, str):
            rows.append((who, "no answer", "-", "-", "-", "-", "-"))
            value.append({"member": who, "error": status})
            continue
        member_id = status.header.member_id
        if status.leader == member_id:
            role = "leader"
        else:
            role = "learner" if status.isLearner else "follower"
        leader = names.get(status.leader, f"{status.leader:x}") if status.leader else "none"
        revision = status.header.revision
        term, commit, applied = status.raftTerm, status.raftIndex, status.raftAppliedIndex
        rows.append((who, role, str(term), leader, str(commit), str(applied), str(revision)))
        value.append(
            {
                "member": who,
                "role": role,
                "term": status.raftTerm,
                "leader": leader,
                "commit_index": status.raftIndex,
                "applied_index": status.raftAppliedIndex,
                "revision": revision,
            }
        )
    lines = [", ".join(row) for row in rows]
    return Rendered(lines, value, draw_table(_HEADER, rows), prefers_table=True)
