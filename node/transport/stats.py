"""Per-peer traffic counters, the numbers the console's peer view shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PeerStats:
    """Traffic with one peer in both directions since the peer was added."""

    address: str
    active: bool = False
    """An outgoing message stream is connected and accepted."""
    messages_sent: int = 0
    messages_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    dropped: int = 0
    """Outgoing messages lost to a full queue, an unreachable peer or an oversized message."""
    fault_dropped_out: int = 0
    """Outgoing messages thrown away by injected faults."""
    fault_dropped_in: int = 0
    """Incoming messages thrown away by injected isolation."""
    snapshots_sent: int = 0
    snapshots_received: int = 0
    snapshots_failed: int = 0
    """Snapshots that failed in either direction."""
    last_error: str = ""
