"""Lease checkpoints: the primary's schedule, their application everywhere, and renew resets."""

from __future__ import annotations

import struct

import cbor2
import pytest

from node.lease import LeaseCheckpoint, Lessor
from tests.lease.conftest import FakeClock

INTERVAL = 60.0


@pytest.fixture
def primary(make_lessor) -> Lessor:
    lessor = make_lessor(checkpoint_interval=INTERVAL)
    lessor.promote(0.0)
    return lessor


def test_a_long_lease_is_due_for_a_checkpoint_each_interval(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 300)
    clock.advance(INTERVAL - 0.5)
    assert primary.due_checkpoints() == []

    clock.advance(0.5)
    assert primary.due_checkpoints() == [LeaseCheckpoint(1, 240)]
    assert primary.due_checkpoints() == []


def test_the_next_checkpoint_is_scheduled_when_one_applies(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 300)
    clock.advance(INTERVAL)
    for lease_id, remaining_ttl in primary.due_checkpoints():
        primary.apply_checkpoint(lease_id, remaining_ttl)

    clock.advance(INTERVAL)
    assert primary.due_checkpoints() == [LeaseCheckpoint(1, 180)]


def test_the_remaining_ttl_is_rounded_up_to_whole_seconds(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 300)
    clock.advance(INTERVAL + 0.5)

    assert primary.due_checkpoints() == [LeaseCheckpoint(1, 240)]


def test_a_lease_no_longer_than_the_interval_is_never_checkpointed(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 60)
    clock.advance(INTERVAL)

    assert primary.due_checkpoints() == []


def test_a_lease_renewed_just_before_its_checkpoint_is_not_checkpointed(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 300)
    clock.advance(INTERVAL - 0.5)
    primary.renew(1)
    clock.advance(0.5)

    assert primary.due_checkpoints() == []


def test_due_checkpoints_come_in_batches_of_the_limit(primary: Lessor, clock: FakeClock) -> None:
    for lease_id in (1, 2, 3):
        primary.grant(lease_id, 300)
    clock.advance(INTERVAL)

    assert [c.lease_id for c in primary.due_checkpoints(limit=2)] == [1, 2]
    assert [c.lease_id for c in primary.due_checkpoints(limit=2)] == [3]


def test_an_applied_checkpoint_is_persisted(follower: Lessor, backend) -> None:
    follower.grant(1, 300)
    follower.apply_checkpoint(1, 120)

    assert follower.lookup(1).remaining_ttl == 120
    assert cbor2.loads(backend.get(b"lease", struct.pack(">q", 1))) == [1, 300, 120]


def test_a_checkpoint_for_a_revoked_lease_is_ignored(follower: Lessor) -> None:
    follower.apply_checkpoint(9, 120)

    assert follower.lookup(9) is None


def test_a_new_leader_resumes_from_the_checkpointed_remaining_ttl(
    follower: Lessor, clock: FakeClock
) -> None:
    lease = follower.grant(1, 300)
    follower.apply_checkpoint(1, 100)

    follower.promote(1.5)

    assert lease.remaining() == 101.5


def test_checkpoints_are_off_when_disabled(make_lessor, clock: FakeClock) -> None:
    lessor = make_lessor(checkpoint_interval=INTERVAL, checkpoint_enabled=False)
    lessor.promote(0.0)
    lessor.grant(1, 300)
    clock.advance(INTERVAL)
    assert lessor.due_checkpoints() == []

    lessor.apply_checkpoint(1, 100)
    lessor.renew(1)
    assert lessor.due_checkpoints() == []


def test_a_follower_has_no_checkpoints_to_propose(follower: Lessor, clock: FakeClock) -> None:
    follower.grant(1, 300)
    clock.advance(INTERVAL)

    assert follower.due_checkpoints() == []


def test_demote_drops_the_checkpoint_schedule(primary: Lessor, clock: FakeClock) -> None:
    primary.grant(1, 300)
    primary.demote()
    clock.advance(INTERVAL)

    assert primary.due_checkpoints() == []


def test_renewing_a_checkpointed_lease_asks_once_to_reset_its_remaining_ttl(
    primary: Lessor, clock: FakeClock
) -> None:
    lease = primary.grant(1, 300)
    primary.apply_checkpoint(1, 100)

    assert primary.renew(1) == 300
    assert primary.renew(1) == 300
    assert lease.remaining() == 300
    assert primary.due_checkpoints() == [LeaseCheckpoint(1, 0)]
    assert primary.due_checkpoints() == []


def test_renewing_a_lease_never_checkpointed_asks_for_no_reset(primary: Lessor) -> None:
    primary.grant(1, 300)
    primary.renew(1)

    assert primary.due_checkpoints() == []


def test_after_the_reset_applies_a_leader_change_grants_the_full_ttl(
    primary: Lessor, clock: FakeClock
) -> None:
    lease = primary.grant(1, 300)
    primary.apply_checkpoint(1, 100)
    primary.renew(1)
    for lease_id, remaining_ttl in primary.due_checkpoints():
        primary.apply_checkpoint(lease_id, remaining_ttl)

    primary.demote()
    primary.promote(1.0)

    assert lease.remaining() == 301
