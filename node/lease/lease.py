"""A lease record and its row in the backend's `lease` bucket.

A row is keyed by the lease id's 8 bytes (big-endian two's complement, as etcd's int64ToBytes)
and holds cbor2 [id, ttl, remaining_ttl]; the attached keys are not stored: the key space
re-attaches them from its own records when it opens.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cbor2

FOREVER = math.inf
"""The expiry of a lease on a non-primary lessor: it never expires locally."""

_ID = struct.Struct(">q")


def lease_key(lease_id: int) -> bytes:
    """The `lease` bucket key of a lease id."""
    return _ID.pack(lease_id)


@dataclass(slots=True)
class Lease:
    """A granted lease: its TTL, the last checkpointed remaining TTL, its expiry and its keys.

    ttl is the granted TTL in seconds; remaining_ttl is 0 when never checkpointed (then a
    refresh starts from the full TTL); expiry is on the lessor's clock, FOREVER when not primary.
    """

    id: int
    ttl: int
    remaining_ttl: int = 0
    expiry: float = FOREVER
    keys: set[bytes] = field(default_factory=set)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def refresh_ttl(self) -> int:
        """Seconds a refresh grants: the checkpointed remaining TTL if set, else the full TTL."""
        return self.remaining_ttl if self.remaining_ttl > 0 else self.ttl

    def remaining(self) -> float:
        """Seconds until expiry (negative once past it, infinite when it never expires)."""
        return self.expiry - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def encode(self) -> bytes:
        """The bucket value: cbor2 [id, ttl, remaining_ttl]."""
        return cbor2.dumps([self.id, self.ttl, self.remaining_ttl])

    @classmethod
    def decode(cls, raw: bytes, clock: Callable[[], float]) -> Lease:
        lease_id, ttl, remaining_ttl = cbor2.loads(raw)
        return cls(lease_id, ttl, remaining_ttl, clock=clock)
