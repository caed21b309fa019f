"""Member-to-member transport: raft messages, snapshots and peer requests over TCP (trio)."""

from node.transport.config import TransportConfig
from node.transport.request import OnRequest, RequestFailed, send_request
from node.transport.snapshot import SnapshotPayload
from node.transport.stats import PeerStats
from node.transport.transport import OnMessages, OnSnapshot, Transport

__all__ = [
    "OnMessages",
    "OnRequest",
    "OnSnapshot",
    "PeerStats",
    "RequestFailed",
    "SnapshotPayload",
    "Transport",
    "TransportConfig",
    "send_request",
]
