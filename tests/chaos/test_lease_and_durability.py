"""Leased keys after their lease is gone, and acknowledged writes after healing."""

from console.chaos.durability import check_durability
from console.chaos.history import StoreSnapshot
from console.chaos.lease_check import check_leased_keys
from console.chaos.watch_check import merge_watch_events
from tests.chaos.builders import Ops, Watcher, delete_event, kv, put_event

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
