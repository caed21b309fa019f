"""Unique lease ids, made the way etcd's idutil.Generator makes its request and lease ids.

An id is | member id: 2 bytes | milliseconds since the epoch: 5 bytes | counter: 1 byte |.
The counter may carry into the timestamp on purpose: that widens the window to 2^56 ids, and a
restart more than a millisecond later starts past every id handed out before (the server
issues far fewer than 256 ids a millisecond). LeaseGrant keeps the low 63 bits so a lease id is
a positive int64, and skips 0 (etcd's NoLease).
"""

from __future__ import annotations

import time
from collections.abc import Callable

_TIMESTAMP_BITS = 40
_COUNTER_BITS = 8
_SUFFIX_BITS = _TIMESTAMP_BITS + _COUNTER_BITS
_SUFFIX_MASK = (1 << _SUFFIX_BITS) - 1
_POSITIVE_INT64_MASK = (1 << 63) - 1


class LeaseIdGenerator:
    """Hands out unique, positive, non-zero int64 lease ids for one member."""

    __slots__ = ("_prefix", "_suffix")

    def __init__(self, member_id: int, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._prefix = (member_id & 0xFFFF) << _SUFFIX_BITS
        millis = int(wall_clock() * 1000)
        self._suffix = (millis & ((1 << _TIMESTAMP_BITS) - 1)) << _COUNTER_BITS

    def next_id(self) -> int:
        """The next id: never 0, always below 2^63."""
        while True:
            self._suffix += 1
            lease_id = (self._prefix | (self._suffix & _SUFFIX_MASK)) & _POSITIVE_INT64_MASK
            if lease_id:
                return lease_id
