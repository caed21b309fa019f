"""Member-to-member transport: raft messages and snapshots between members over TCP (trio)."""

from node.transport.config import TransportConfig
from node.transport.snapshot import SnapshotPayload
from node.transport.stats import PeerStats
from node.transport.transport import OnMessages, OnSnapshot, Transport

__all__ = [
    "OnMessages",
    "OnSnapshot",
    "PeerStats",
    "SnapshotPayload",
    "Transport",
    "TransportConfig",
]
