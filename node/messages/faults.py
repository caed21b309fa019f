"""Ours: the fault injection requests the console sends a member (not part of etcd's API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from node.messages.header import ResponseHeader


class FaultKind(IntEnum):
    """Ours: the faults inject_fault knows."""

    ISOLATE = 0
    LINK = 1
    FSYNC_DELAY = 2
    PAUSE_APPLY = 3
    RESUME_APPLY = 4
    HEAL = 5
    FAILPOINT = 6


FAILPOINTS: tuple[str, ...] = (
    "raftBeforeLeaderSend",
    "raftBeforeSaveSnap",
    "raftAfterSaveSnap",
    "raftBeforeSave",
    "raftAfterSave",
    "raftBeforeApplySnap",
    "raftAfterApplySnap",
    "raftBeforeFollowerSend",
    "raftBeforeLogCompaction",
    "raftAfterLogCompaction",
    "raftAfterWALRelease",
    "sendSnapshotMidStream",
    "receiveSnapshotMidStream",
    "beforeCommit",
    "afterCommit",
    "commitBeforePreCommitHook",
    "commitAfterPreCommitHook",
    "compactBeforeCommitScheduledCompact",
    "compactAfterCommitScheduledCompact",
    "compactBeforeCommitBatch",
    "compactAfterCommitBatch",
    "compactBeforeSetFinishedCompact",
    "compactAfterSetFinishedCompact",
    "defragBeforeCopy",
    "defragBeforeRename",
    "beforeApplyOneConfChange",
)
"""The member's crash points (etcd's gofail names where the point is etcd's; where each sits
and what a crash there tests: node/server/README.md, "Crash points")."""


@dataclass(slots=True)
class FaultRequest:
    """One fault to inject (see README.md): peers by member id, delays in milliseconds."""

    kind: FaultKind = FaultKind.HEAL
    peer_ids: list[int] = field(default_factory=list)
    drop_ratio: float = 0.0
    delay_ms: int = 0
    failpoint: str = ""
    """FAILPOINT: the point's name (FAILPOINTS)."""
    terms: str = ""
    """FAILPOINT: gofail terms: `panic`, `sleep(MS)`, `return[(VALUE)]`, `off`, with an
    optional count prefix (`1*panic`: once)."""


@dataclass(slots=True)
class FaultResponse:
    """Ours: the faults in force after an inject_fault call."""

    header: ResponseHeader | None = None
    faults: dict = field(default_factory=dict)
