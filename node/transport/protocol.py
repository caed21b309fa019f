"""The peer connection handshake: who is dialing whom, in which cluster, for which traffic.

The dialer's first frame is a `Hello`; the listener answers with a `Verdict` and closes the
connection when it refuses. The texts are etcd rafthttp's, so logs read as etcd's do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

PROTOCOL = "etcd-console-peer/1"

INCOMPATIBLE_VERSION = "incompatible version"
CLUSTER_ID_MISMATCH = "cluster ID mismatch"
SENDER_NOT_FOUND = "error sender not found"
TO_FIELD_MISMATCH = "to field mismatch"


class HandshakeError(Exception):
    """A handshake frame that is not a well-formed Hello or Verdict."""


class StreamKind(IntEnum):
    """What a connection carries: the long-lived message stream, one snapshot, or requests
    each answered in turn (node.transport.request)."""

    MESSAGES = 0
    SNAPSHOT = 1
    REQUEST = 2


def _int(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise HandshakeError(f"handshake {name} must be a non-negative integer, got {value!r:.40}")
    return value


@dataclass(slots=True)
class Hello:
    """The dialer's first frame: its cluster, its own id, the id it means to reach, the kind."""

    cluster_id: int
    from_id: int
    to_id: int
    kind: StreamKind = StreamKind.MESSAGES

    def to_wire(self) -> list:
        return [PROTOCOL, self.cluster_id, self.from_id, self.to_id, int(self.kind)]

    @classmethod
    def from_wire(cls, obj: Any) -> Hello:
        if not isinstance(obj, list) or len(obj) != 5:
            raise HandshakeError(f"handshake is not a hello: {obj!r:.80}")
        protocol, cluster_id, from_id, to_id, kind = obj
        if protocol != PROTOCOL:
            raise HandshakeError(INCOMPATIBLE_VERSION)
        try:
            stream_kind = StreamKind(_int(kind, "kind"))
        except ValueError as exc:
            raise HandshakeError(f"unknown stream kind {kind!r}") from exc
        return cls(
            _int(cluster_id, "cluster id"),
            _int(from_id, "from id"),
            _int(to_id, "to id"),
            stream_kind,
        )


@dataclass(slots=True)
class Verdict:
    """The listener's answer to a Hello, and a snapshot receiver's answer to a snapshot."""

    accepted: bool
    reason: str = ""

    def to_wire(self) -> list:
        return [self.accepted, self.reason]

    @classmethod
    def from_wire(cls, obj: Any) -> Verdict:
        if (
            not isinstance(obj, list)
            or len(obj) != 2
            or not isinstance(obj[0], bool)
            or not isinstance(obj[1], str)
        ):
            raise HandshakeError(f"answer is not a verdict: {obj!r:.80}")
        return cls(obj[0], obj[1])


def refusal(
    hello: Hello, *, cluster_id: int, member_id: int, is_peer: Callable[[int], bool]
) -> str | None:
    """Why a listener refuses `hello` (etcd's text), or None when it may proceed."""
    if hello.cluster_id != cluster_id:
        return CLUSTER_ID_MISMATCH
    if not is_peer(hello.from_id):
        return SENDER_NOT_FOUND
    if hello.to_id != member_id:
        return TO_FIELD_MISMATCH
    return None
