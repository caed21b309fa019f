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


@dataclass(slots=True)
class FaultRequest:
    """One fault to inject (see README.md): peers by member id, delays in milliseconds."""

    kind: FaultKind = FaultKind.HEAL
    peer_ids: list[int] = field(default_factory=list)
    drop_ratio: float = 0.0
    delay_ms: int = 0


@dataclass(slots=True)
class FaultResponse:
    """Ours: the faults in force after an inject_fault call."""

    header: ResponseHeader | None = None
    faults: dict = field(default_factory=dict)
