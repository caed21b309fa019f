"""Leased keys after their lease is gone, and acknowledged writes after healing."""

from checker.model.history import OpKind, Request, StoreSnapshot
from checker.validate.durability import check_durability
from checker.validate.lease_check import check_kept_alive_leases, check_leased_keys
from checker.validate.watch_check import merge_watch_events
from tests.checker.builders import Ops, Watcher, delete_event, kv, put_event

LEASED = kv("a", "1", 2, lease=7)


def lease_violations(ops: Ops, watcher: Watcher | None = None) -> list[str]:
    watcher = watcher or Watcher("m0")
    merged = merge_watch_events(watcher.requests, watcher.responses)
    return [v.describe() for v in check_leased_keys(ops.operations, merged)]


def expired_at_3() -> Watcher:
    return Watcher("m0").events(put_event("a", "1", 2, lease=7)).events(delete_event("a", 3))


def test_leased_key_readable_after_its_lease_expired_is_a_violation():
    ops = Ops()
    ops.get("a", 40, 50, rev=4, found=LEASED)

    assert lease_violations(ops, expired_at_3()) == [
        "[lease] operation #1 @rev 4: read a='1' (mod 2, create 2, ver 1, lease 7) at "
        "revision 4, but the key (lease 7) was deleted at revision 3"
    ]


def test_leased_key_read_before_its_lease_expired_is_fine():
    ops = Ops()
    ops.get("a", 0, 10, rev=2, found=LEASED)

    assert lease_violations(ops, expired_at_3()) == []


def test_leased_key_readable_after_an_acknowledged_revoke_is_a_violation():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2, lease=7)
    ops.revoke(7, 20, 30, rev=3)
    ops.get("a", 40, 50, rev=3, found=LEASED)

    assert len(lease_violations(ops)) == 1


def test_key_put_again_without_the_lease_after_its_expiry_is_fine():
    ops = Ops()
    ops.get("a", 40, 50, rev=4, found=kv("a", "2", 4))
    watcher = expired_at_3().events(put_event("a", "2", 4))

    assert lease_violations(ops, watcher) == []


S = 1_000_000_000
NOT_FOUND = "etcdserver: requested lease not found"


def kept_alive_violations(ops: Ops) -> list[str]:
    return [v.describe() for v in check_kept_alive_leases(ops.operations)]


def keep_alive_refused(ops: Ops, lease: int, at: int, done: int) -> None:
    ops.failed(Request(OpKind.LEASE_KEEPALIVE, lease_id=lease), at, done, NOT_FOUND)


def test_lease_gone_while_a_keep_alive_still_held_it_expired_early():
    ops = Ops()
    ops.grant(7, 5, 0, 1 * S)
    ops.keep_alive(7, 5, 2 * S, 2 * S + 1)
    keep_alive_refused(ops, 7, 3 * S, 4 * S)

    assert kept_alive_violations(ops) == [
        "[lease] lease 7: expired 3.000s early: operation #2 (lease keep-alive 7, ttl 5) "
        "kept it alive, yet operation #3 (lease keep-alive 7) found it gone with no revoke sent"
    ]


def test_put_refused_for_a_lease_its_grant_still_held_is_a_violation():
    ops = Ops()
    ops.grant(7, 10, 0, 1 * S)
    ops.failed(Request(OpKind.PUT_WITH_LEASE, "a", "1", lease_id=7), 2 * S, 3 * S, NOT_FOUND)

    assert len(kept_alive_violations(ops)) == 1


def test_lease_gone_after_its_last_keep_alive_ran_out_is_fine():
    ops = Ops()
    ops.grant(7, 2, 0, 1 * S)
    ops.keep_alive(7, 2, 1 * S, 1 * S + 1)
    keep_alive_refused(ops, 7, 4 * S, 4 * S + 1)

    assert kept_alive_violations(ops) == []


def test_lease_gone_after_a_revoke_was_sent_is_fine_even_if_the_revoke_timed_out():
    ops = Ops()
    ops.grant(7, 60, 0, 1 * S)
    ops.revoke(7, 2 * S, None)
    keep_alive_refused(ops, 7, 3 * S, 4 * S)

    assert kept_alive_violations(ops) == []


def test_keep_alive_that_timed_out_promises_nothing():
    ops = Ops()
    ops.grant(7, 2, 0, 1 * S)
    ops.keep_alive(7, 60, 2 * S, None)
    keep_alive_refused(ops, 7, 5 * S, 6 * S)

    assert kept_alive_violations(ops) == []


def final(revision: int, *kvs) -> StoreSnapshot:
    return StoreSnapshot(revision, kvs)


def lost_writes(ops: Ops, snapshot: StoreSnapshot) -> list[int]:
    return [v.revision for v in check_durability(ops.operations, snapshot)]


def test_acknowledged_write_missing_after_healing_is_lost():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, 30, rev=3)

    assert lost_writes(ops, final(3, kv("a", "1", 2))) == [3]


def test_write_superseded_by_a_later_one_is_not_lost():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "3", 20, None)

    assert lost_writes(ops, final(3, kv("a", "3", 3, create=2, version=2))) == []


def test_key_gone_without_any_possible_delete_lost_its_write():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)

    assert lost_writes(ops, final(2)) == [2]


def test_key_gone_after_an_indeterminate_delete_or_a_lease_is_not_lost():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.delete("a", 20, None)
    ops.put("b", "1", 0, 10, rev=3, lease=7)

    assert lost_writes(ops, final(4)) == []


def test_store_behind_an_acknowledged_revision_lost_it():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("b", "1", 0, 10, rev=3)

    assert lost_writes(ops, final(2, kv("a", "1", 2))) == [3]


def test_other_value_at_the_acknowledged_revision_is_lost():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)

    assert lost_writes(ops, final(2, kv("a", "X", 2))) == [2]
