"""Lease ids: unique, positive, non-zero int64s carrying the member id, as etcd's idutil."""

from __future__ import annotations

from node.lease import LeaseIdGenerator

NOW = 1_700_000_000.0


def take(generator: LeaseIdGenerator, count: int) -> list[int]:
    return [generator.next_id() for _ in range(count)]


def test_ids_are_unique_positive_int64s() -> None:
    ids = take(LeaseIdGenerator(0xBEEF, wall_clock=lambda: NOW), 5000)

    assert len(set(ids)) == len(ids)
    assert all(0 < lease_id < 2**63 for lease_id in ids)


def test_ids_carry_the_member_id_in_their_top_bits() -> None:
    lease_id = LeaseIdGenerator(0x1234, wall_clock=lambda: NOW).next_id()

    assert lease_id >> 48 == 0x1234


def test_members_never_hand_out_the_same_id() -> None:
    first = take(LeaseIdGenerator(1, wall_clock=lambda: NOW), 1000)
    second = take(LeaseIdGenerator(2, wall_clock=lambda: NOW), 1000)

    assert not set(first) & set(second)


def test_a_restart_a_millisecond_later_continues_past_every_earlier_id() -> None:
    before = take(LeaseIdGenerator(7, wall_clock=lambda: NOW), 200)
    after = take(LeaseIdGenerator(7, wall_clock=lambda: NOW + 0.001), 200)

    assert min(after) > max(before)


def test_the_id_zero_is_skipped_when_the_counter_wraps() -> None:
    # Member 0 at the last millisecond the 40-bit timestamp holds: the suffix wraps to 0.
    last_millisecond = ((1 << 40) - 1) / 1000
    ids = take(LeaseIdGenerator(0, wall_clock=lambda: last_millisecond), 300)

    assert 0 not in ids
    assert len(set(ids)) == 300
