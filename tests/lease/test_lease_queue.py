"""The lease queue: earliest time first, one entry per lease."""

from __future__ import annotations

from node.lease.lease_queue import LeaseQueue


def test_the_earliest_lease_comes_first_and_equal_times_go_by_id() -> None:
    queue = LeaseQueue()
    queue.schedule(3, 20.0)
    queue.schedule(2, 10.0)
    queue.schedule(1, 10.0)

    assert queue.first() == (10.0, 1)
    assert len(queue) == 3


def test_scheduling_a_lease_again_replaces_its_time() -> None:
    queue = LeaseQueue()
    queue.schedule(1, 10.0)
    queue.schedule(2, 15.0)
    queue.schedule(1, 30.0)

    assert queue.first() == (15.0, 2)
    assert len(queue) == 2


def test_removed_and_cleared_leases_are_gone() -> None:
    queue = LeaseQueue()
    queue.schedule(1, 10.0)
    queue.schedule(2, 15.0)
    queue.remove(1)
    queue.remove(99)
    assert queue.first() == (15.0, 2)

    queue.clear()
    assert queue.first() is None
    assert len(queue) == 0
