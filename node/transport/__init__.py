"""Member-to-member transport: raft messages, snapshots and peer requests over TCP (trio)."""

from node.transport.config import TransportConfig
from node.transport.hold import HeldMessage, UnknownHeldMessage
from node.transport.request import OnRequest, RequestFailed, send_request
from node.transport.snapshot import SnapshotPayload
from node.transport.stats import PeerStats
from node.transport.transport import OnMessages, OnSnapshot, Transport

__all__ = [
    "HeldMessage",
    "OnMessages",
    "OnRequest",
    "OnSnapshot",
    "PeerStats",
    "RequestFailed",
    "SnapshotPayload",
    "Transport",
    "TransportConfig",
    "UnknownHeldMessage",
    "send_request",
]
