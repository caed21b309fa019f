"""What `status` shows of a member, and which member the others agree leads."""

from __future__ import annotations

from dataclasses import dataclass

from playground.member_process import MemberState


@dataclass(slots=True)
class MemberStatus:
    """What `status` shows of one member: its process, and its raft state when it answers."""

    name: str
    id: int
    pid: int
    state: MemberState
    endpoint: str
    role: str = ""
    """leader, follower or learner; empty when the member did not answer."""
    leader: int = 0
    term: int = 0
    raft_index: int = 0
    applied_index: int = 0
    error: str = ""
    """Why a member that is up did not answer, if it did not."""


def agreed_leader(statuses: list[MemberStatus], everyone: bool) -> str | None:
    """The member that says it leads, if a majority of the voters (or everyone) follow it."""
    voters = [status for status in statuses if status.role != "learner"]
    for status in statuses:
        if status.role != "leader":
            continue
        followers = [s for s in statuses if s.leader == status.id and s.term == status.term]
        if everyone and len(followers) == len(statuses):
            return status.name
        voting = [s for s in followers if s.role != "learner"]
        if not everyone and 2 * len(voting) > len(voters):
            return status.name
    return None


def describe_statuses(statuses: list[MemberStatus]) -> str:
    """One clause per member of what it last said of the leader, for a no-leader error."""
    parts = []
    for status in statuses:
        if status.state != "up":
            parts.append(f"{status.name} is {status.state}")
        elif not status.role:
            parts.append(f"{status.name} did not answer ({status.error})")
        else:
            parts.append(
                f"{status.name} ({status.id:x}) is {status.role} at term {status.term}, "
                f"leader {status.leader:x}"
            )
    return "; ".join(parts)
