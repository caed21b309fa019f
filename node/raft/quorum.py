"""Majority arithmetic over a set of voters: the committed index and election outcomes.

As etcd's quorum/majority.go (without joint configurations: membership changes one server
at a time, so a single majority is always enough).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import IntEnum

__all__ = ["VoteResult", "committed_index", "vote_result"]


class VoteResult(IntEnum):
    """The outcome of counting votes among voters."""
    PENDING = 1
    LOST = 2
    WON = 3


def committed_index(matched: Sequence[int]) -> int:
    """The largest index that a majority of the voters' `matched` indexes reach (0 if none)."""
    n = len(matched)
    if n == 0:
        return 0
    if n == 1:
        return matched[0]
    return sorted(matched)[n - (n // 2 + 1)]


def vote_result(voters: Collection[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer grant, else PENDING.

    By convention an empty set of voters wins, as in etcd.
    """
    if not voters:
        return VoteResult.WON
    granted = missing = 0
    for v in voters:
        vote = votes.get(v)
        if vote is None:
            missing += 1
        elif vote:
            granted += 1
    quorum = len(voters) // 2 + 1
    if granted >= quorum:
        return VoteResult.WON
    if granted + missing >= quorum:
        return VoteResult.PENDING
    return VoteResult.LOST
