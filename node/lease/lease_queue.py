"""Lease ids ordered by a time (an expiry or a checkpoint), at most one entry per lease.

It plays the part of etcd's heap-based LeaseQueue / LeaseExpiredNotifier: scheduling,
rescheduling and removing a lease cost O(log n) and the earliest entry is read without a scan,
so checking for expired leases never walks every lease. A sorted list keyed by (time, id)
gives that with a stable order for equal times.
"""

from __future__ import annotations

from sortedcontainers import SortedList


class LeaseQueue:
    """Lease ids by time, earliest first; scheduling a lease again replaces its time."""

    __slots__ = ("_order", "_times")

    def __init__(self) -> None:
        self._order: SortedList = SortedList()
        self._times: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._times)

    def schedule(self, lease_id: int, at: float) -> None:
        """Put the lease at time `at`, replacing its earlier entry if any."""
        self.remove(lease_id)
        self._times[lease_id] = at
        self._order.add((at, lease_id))

    def remove(self, lease_id: int) -> None:
        at = self._times.pop(lease_id, None)
        if at is not None:
            self._order.remove((at, lease_id))

    def first(self) -> tuple[float, int] | None:
        """The earliest (time, lease id), or None when empty."""
        return self._order[0] if self._order else None

    def clear(self) -> None:
        self._order.clear()
        self._times.clear()
