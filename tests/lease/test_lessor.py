"""The lessor's grant, revoke, renew, expiry, leadership changes and time-to-live answers."""

from __future__ import annotations

import math
import struct
from contextlib import contextmanager

import cbor2
import pytest

from node.lease import MAX_LEASE_TTL, Lessor, NotPrimary, TimeToLive, minimum_lease_ttl
from node.messages import errors
from tests.lease.conftest import MIN_TTL, FakeClock, RecordingDeleter

# -- grant ----------------------------------------------------------------------------------


def test_granted_leases_are_found_by_id_and_listed_in_id_order(follower: Lessor) -> None:
    for lease_id, ttl in ((30, 10), (10, 20), (20, 5)):
        follower.grant(lease_id, ttl)

    assert follower.lookup(10).ttl == 20
    assert follower.lookup(99) is None
    assert [lease.id for lease in follower.leases()] == [10, 20, 30]
    assert follower.exists(20) and not follower.exists(99)


def test_a_ttl_below_the_minimum_is_raised_to_the_minimum(follower: Lessor) -> None:
    assert follower.grant(1, 1).ttl == MIN_TTL
    assert follower.grant(2, MIN_TTL + 1).ttl == MIN_TTL + 1


def test_a_ttl_above_nine_billion_seconds_is_refused(follower: Lessor) -> None:
    follower.grant(1, MAX_LEASE_TTL)
    with pytest.raises(errors.LeaseTTLTooLarge, match="etcdserver: too large lease TTL"):
        follower.grant(2, MAX_LEASE_TTL + 1)
    assert not follower.exists(2)


def test_granting_an_existing_id_fails_and_keeps_the_first_lease(follower: Lessor) -> None:
    follower.grant(7, 10)
    with pytest.raises(errors.LeaseExists, match="etcdserver: lease already exists"):
        follower.grant(7, 99)
    assert follower.lookup(7).ttl == 10


def test_lease_id_zero_means_no_lease_and_cannot_be_granted(follower: Lessor) -> None:
    with pytest.raises(errors.LeaseNotFound):
        follower.grant(0, 10)


def test_a_grant_is_persisted_as_id_ttl_and_remaining_ttl(follower: Lessor, backend) -> None:
    follower.grant(0x1234, 42)

    row = backend.get(b"lease", struct.pack(">q", 0x1234))
    assert cbor2.loads(row) == [0x1234, 42, 0]


def test_a_lease_granted_on_a_follower_never_expires_there(
    follower: Lessor, clock: FakeClock
) -> None:
    lease = follower.grant(1, 5)
    clock.advance(1_000_000)

    assert lease.remaining() == math.inf
    assert follower.expired_leases() == []


# -- revoke ---------------------------------------------------------------------------------


def test_revoke_deletes_every_attached_key_in_one_transaction_in_key_order(
    follower: Lessor, deleter: RecordingDeleter, backend
) -> None:
    follower.grant(1, 10)
    for key in (b"job/c", b"job/a", b"job/e", b"job/b", b"job/d"):
        follower.attach(1, key)

    follower.revoke(1)

    assert deleter.transactions == [[b"job/a", b"job/b", b"job/c", b"job/d", b"job/e"]]
    assert not follower.exists(1)
    assert backend.get(b"lease", struct.pack(">q", 1)) is None


def test_revoking_an_unknown_lease_fails(follower: Lessor) -> None:
    with pytest.raises(errors.LeaseNotFound, match="etcdserver: requested lease not found"):
        follower.revoke(5)


def test_revoking_a_lease_without_keys_touches_no_key(
    follower: Lessor, deleter: RecordingDeleter
) -> None:
    follower.grant(1, 10)
    follower.revoke(1)

    assert deleter.transactions == []
    assert follower.leases() == []


def test_a_revoke_whose_key_deletion_fails_leaves_the_lease_in_place(
    backend, clock: FakeClock
) -> None:
    @contextmanager
    def failing_deleter():
        raise OSError("disk full")
        yield

    lessor = Lessor(backend, min_ttl=MIN_TTL, clock=clock, range_deleter=failing_deleter)
    lessor.grant(1, 10)
    lessor.attach(1, b"k")

    with pytest.raises(OSError):
        lessor.revoke(1)

    assert lessor.lookup(1).keys == {b"k"}
    assert backend.get(b"lease", struct.pack(">q", 1)) is not None


def test_a_revoked_key_set_is_what_was_attached_minus_what_was_detached(
    follower: Lessor, deleter: RecordingDeleter
) -> None:
    follower.grant(1, 10)
    follower.attach(1, b"a")
    follower.attach(1, b"b")
    follower.detach(1, b"a")

    follower.revoke(1)

    assert deleter.transactions == [[b"b"]]


def test_attaching_to_or_detaching_from_an_unknown_lease_fails(follower: Lessor) -> None:
    with pytest.raises(errors.LeaseNotFound):
        follower.attach(3, b"k")
    with pytest.raises(errors.LeaseNotFound):
        follower.detach(3, b"k")


# -- renew ----------------------------------------------------------------------------------


def test_renew_on_the_primary_restarts_the_full_ttl(primary: Lessor, clock: FakeClock) -> None:
    lease = primary.grant(1, 10)
    clock.advance(8)

    assert primary.renew(1) == 10
    assert lease.remaining() == 10
    clock.advance(9.5)
    assert primary.expired_leases() == []


def test_renew_on_a_follower_raises_not_primary(follower: Lessor) -> None:
    follower.grant(1, 10)
    with pytest.raises(NotPrimary, match="not a primary lessor"):
        follower.renew(1)


def test_renewing_an_unknown_lease_fails(primary: Lessor) -> None:
    with pytest.raises(errors.LeaseNotFound):
        primary.renew(1)


def test_renewing_an_expired_lease_awaiting_its_revoke_fails(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 5)
    clock.advance(5)

    with pytest.raises(errors.LeaseNotFound):
        primary.renew(1)


# -- expiry ---------------------------------------------------------------------------------


def test_nothing_expires_before_its_ttl(primary: Lessor, clock: FakeClock) -> None:
    primary.grant(1, 5)
    clock.advance(4.75)

    assert primary.expired_leases() == []


def test_expired_leases_come_earliest_first(primary: Lessor, clock: FakeClock) -> None:
    primary.grant(1, 9)
    primary.grant(2, 3)
    primary.grant(3, 6)
    clock.advance(6)

    expired = primary.expired_leases()
    assert [lease.id for lease in expired] == [2, 3]
    for lease in expired:
        primary.revoke(lease.id)
    clock.advance(3)
    assert [lease.id for lease in primary.expired_leases()] == [1]


def test_an_unrevoked_expired_lease_is_reported_again_after_the_retry_interval(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 5)
    clock.advance(5)
    assert [lease.id for lease in primary.expired_leases()] == [1]

    assert primary.expired_leases() == []
    clock.advance(2.75)
    assert primary.expired_leases() == []
    clock.advance(0.25)
    assert [lease.id for lease in primary.expired_leases()] == [1]


def test_a_revoked_lease_is_not_reported_again(primary: Lessor, clock: FakeClock) -> None:
    primary.grant(1, 5)
    clock.advance(5)
    for lease in primary.expired_leases():
        primary.revoke(lease.id)

    clock.advance(10)
    assert primary.expired_leases() == []


def test_expired_leases_are_handed_out_in_batches_of_the_limit(
    primary: Lessor, clock: FakeClock
) -> None:
    for lease_id in range(1, 6):
        primary.grant(lease_id, 5)
    clock.advance(5)

    assert [lease.id for lease in primary.expired_leases(limit=2)] == [1, 2]
    assert [lease.id for lease in primary.expired_leases(limit=2)] == [3, 4]
    assert [lease.id for lease in primary.expired_leases(limit=2)] == [5]


def test_by_default_a_call_hands_out_half_the_revoke_rate(make_lessor, clock: FakeClock) -> None:
    lessor = make_lessor(revoke_rate=6)
    lessor.promote(0.0)
    for lease_id in range(1, 6):
        lessor.grant(lease_id, 5)
    clock.advance(5)

    assert len(lessor.expired_leases()) == 3


# -- promote and demote ---------------------------------------------------------------------


def test_promote_gives_a_nearly_expired_lease_its_full_ttl_plus_the_extension(
    primary: Lessor, clock: FakeClock
) -> None:
    lease = primary.grant(1, 10)
    clock.advance(9)
    assert lease.remaining() == 1

    primary.demote()
    primary.promote(1.5)

    assert lease.remaining() == 11.5
    clock.advance(11.25)
    assert primary.expired_leases() == []
    clock.advance(0.25)
    assert [lease.id for lease in primary.expired_leases()] == [1]


def test_promote_starts_the_clock_for_leases_granted_while_follower(
    follower: Lessor, clock: FakeClock
) -> None:
    lease = follower.grant(1, 10)
    clock.advance(100)

    follower.promote(2.0)

    assert follower.is_primary
    assert lease.remaining() == 12


def test_demote_stops_every_expiry(primary: Lessor, clock: FakeClock) -> None:
    lease = primary.grant(1, 5)
    primary.demote()
    clock.advance(60)

    assert not primary.is_primary
    assert lease.remaining() == math.inf
    assert primary.expired_leases() == []


def test_promote_spreads_leases_that_would_all_expire_in_the_same_second(
    make_lessor, clock: FakeClock
) -> None:
    # revoke rate 4: at most 3 expiries per second; the 4th, 5th, 6th are pushed back by
    # 4/3, 5/3 and 6/3 seconds.
    lessor = make_lessor(revoke_rate=4)
    leases = [lessor.grant(lease_id, 10) for lease_id in range(1, 7)]

    lessor.promote(1.0)

    remaining = [lease.remaining() for lease in leases]
    assert remaining[:3] == [11, 11, 11]
    assert remaining[3:] == pytest.approx([11 + 4 / 3, 11 + 5 / 3, 13])


def test_promote_leaves_expiries_alone_below_the_revoke_rate(make_lessor, clock: FakeClock) -> None:
    lessor = make_lessor(revoke_rate=4)
    leases = [lessor.grant(lease_id, 10) for lease_id in range(1, 4)]

    lessor.promote(1.0)

    assert [lease.remaining() for lease in leases] == [11, 11, 11]


def test_promote_does_not_delay_leases_already_spread_over_time(
    make_lessor, clock: FakeClock
) -> None:
    lessor = make_lessor(revoke_rate=4)
    leases = [lessor.grant(lease_id, 10 + 2 * lease_id) for lease_id in range(1, 7)]

    lessor.promote(0.0)

    assert [lease.remaining() for lease in leases] == [12, 14, 16, 18, 20, 22]


# -- time to live ---------------------------------------------------------------------------


def test_time_to_live_reports_granted_and_whole_remaining_seconds(
    primary: Lessor, clock: FakeClock
) -> None:
    primary.grant(1, 10)
    primary.attach(1, b"b")
    primary.attach(1, b"a")
    clock.advance(3.5)

    assert primary.time_to_live(1) == TimeToLive(granted_ttl=10, ttl=6, keys=[])
    assert primary.time_to_live(1, keys=True) == TimeToLive(10, 6, [b"a", b"b"])


def test_time_to_live_of_a_missing_lease_is_minus_one(primary: Lessor) -> None:
    assert primary.time_to_live(42, keys=True) == TimeToLive(granted_ttl=0, ttl=-1, keys=[])


def test_time_to_live_on_a_follower_raises_not_primary(follower: Lessor) -> None:
    follower.grant(1, 10)
    with pytest.raises(NotPrimary):
        follower.time_to_live(1)


# -- minimum TTL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("election_ms", "heartbeat_ms", "expected"),
    [
        (1000, 100, 2),  # etcd's defaults: 15 ticks of 100 ms = 1.5 s
        (5000, 500, 8),  # 15 ticks of 500 ms = 7.5 s
        (1000, 300, 2),  # 3 whole ticks -> 4 ticks of 300 ms = 1.2 s
        (100, 100, 1),  # 1 tick -> 1 tick of 100 ms
        (3000, 100, 5),  # 45 ticks of 100 ms = 4.5 s
    ],
)
def test_minimum_lease_ttl_is_one_and_a_half_election_timeouts_rounded_up(
    election_ms: int, heartbeat_ms: int, expected: int
) -> None:
    assert minimum_lease_ttl(election_ms, heartbeat_ms) == expected
