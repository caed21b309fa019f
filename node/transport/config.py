"""Tuning knobs of the peer transport, with etcd's rafthttp values as defaults where it has them."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(slots=True, frozen=True)
class TransportConfig:
    """Limits and timeouts of the peer transport; tests shrink them, members keep the defaults."""

    queue_size: int = 4096
    """Messages waiting per peer before `send` drops (etcd's streamBufSize)."""
    max_frame_size: int = 32 * MiB
    """Largest frame accepted or sent; a longer length prefix closes the connection."""
    dial_timeout: float = 1.0
    """Connecting plus the handshake answer (etcd's DialTimeout)."""
    write_timeout: float = 5.0
    """Writing one frame; a peer that stops reading longer is dropped (etcd's ConnWriteTimeout)."""
    read_timeout: float = 5.0
    """Waiting for a handshake, a snapshot frame or a snapshot's acknowledgement."""
    backoff_initial: float = 0.05
    """First reconnect delay; it doubles after every failure."""
    backoff_max: float = 1.0
    """Longest reconnect delay."""
    snapshot_chunk_size: int = MiB
    """Bytes per snapshot chunk frame."""
    max_snapshot_size: int = 4 * 1024 * MiB
    """Largest snapshot payload a receiver reassembles."""
