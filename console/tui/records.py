"""The records the dashboard's panels show, whatever the cluster behind them speaks.

A data source (ours through node.client, or a real etcd over gRPC) turns its replies into
these, so no panel knows which wire they came from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class KeyRecord:
    """One key as a range at some revision returned it."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(slots=True)
class KeyPage:
    """One page of a keys-only range: the keys in order, and whether more follow."""

    keys: list[bytes]
    more: bool


@dataclass(slots=True)
class WatchEvent:
    """One event a watch delivered: PUT or DELETE of a key at a revision."""

    type: str
    key: bytes
    value: bytes
    revision: int


@dataclass(slots=True)
class WatchSpec:
    """What a watch follows: one key, the range [key, range_end), or every key under a prefix,
    from a revision (0: from now)."""

    key: bytes
    prefix: bool = False
    start_revision: int = 0
    range_end: bytes = b""

    def describe(self) -> str:
        """The watch as the command that would open it."""
        words = ["watch", self.key.decode(errors="replace")]
        if self.range_end:
            words.append(self.range_end.decode(errors="replace"))
        if self.prefix:
            words.append("--prefix")
        if self.start_revision:
            words.append(f"--rev={self.start_revision}")
        return " ".join(words)


@dataclass(slots=True)
class LogLine:
    """One log line of a member, as its event stream carried it."""

    time: float
    level: str
    logger: str
    message: str


@dataclass(slots=True)
class PeerProgress:
    """What a leader knows of one follower: how far its log matches, and the link's state."""

    match: int
    next: int
    state: str
    active: bool
