"""Handcrafted key-value histories: the linearizability checker's verdicts and windows."""

import time

import pytest

from checker.validate.linearizability import Verdict, check_linearizability
from checker.validate.watch_check import merge_watch_events
from checker.validate.wing_gong import SearchBudget
from tests.checker.builders import Ops, Watcher, kv, put_event


def verdict_of(ops: Ops) -> Verdict:
    return check_linearizability(ops.operations).verdict


def test_stale_read_after_completed_write_is_not_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, 30, rev=3)
    stale = ops.get("a", 40, 50, rev=3, found=kv("a", "1", 2))

    result = check_linearizability(ops.operations)

    assert result.verdict is Verdict.NOT_LINEARIZABLE
    window = result.keys[0].window
    assert window is not None
    assert stale in window.operations
    assert "get a -> '1'" in result.describe()


def test_two_cas_succeeding_from_the_same_old_value_is_not_linearizable():
    ops = Ops()
    ops.put("a", "old", 0, 10, rev=2)
    ops.cas("a", "x", 20, 40, rev=3, if_value="old", client=1)
    ops.cas("a", "y", 25, 45, rev=4, if_value="old", client=2)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_two_cas_on_the_same_mod_revision_both_succeeding_is_not_linearizable():
    ops = Ops()
    ops.put("a", "old", 0, 10, rev=2)
    ops.cas("a", "x", 20, 40, rev=3, if_mod=2, client=1)
    ops.cas("a", "y", 25, 45, rev=4, if_mod=2, client=2)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_cas_that_lost_the_race_fails_and_the_history_is_linearizable():
    ops = Ops()
    ops.put("a", "old", 0, 10, rev=2)
    ops.cas("a", "x", 20, 40, rev=3, if_value="old", client=1)
    ops.cas("a", "y", 25, 45, rev=3, succeeded=False, if_value="old", client=2)
    ops.get("a", 50, 60, rev=3, found=kv("a", "x", 3, create=2, version=2))

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_cas_reporting_failure_although_its_compare_held_is_not_linearizable():
    ops = Ops()
    ops.put("a", "old", 0, 10, rev=2)
    ops.cas("a", "x", 20, 30, rev=2, succeeded=False, if_value="old")

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


@pytest.mark.parametrize(
    ("x_rev", "y_rev", "read"),
    [
        (2, 3, (3, kv("a", "y", 3, create=2, version=2))),
        (3, 2, (3, kv("a", "x", 3, create=2, version=2))),
        (2, 3, (2, kv("a", "x", 2))),
        (3, 2, (2, kv("a", "y", 2))),
        (2, 3, (1, None)),
    ],
    ids=["x-then-y", "y-then-x", "read-between", "read-between-reversed", "read-before-both"],
)
def test_concurrent_overlapping_operations_linearize_in_any_valid_order(x_rev, y_rev, read):
    ops = Ops()
    ops.put("a", "x", 0, 50, rev=x_rev, client=1)
    ops.put("a", "y", 10, 60, rev=y_rev, client=2)
    header, found = read
    ops.get("a", 5, 70, rev=header, found=found, client=3)

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_read_of_a_later_write_then_an_earlier_one_is_not_linearizable():
    ops = Ops()
    ops.put("a", "x", 0, 50, rev=2, client=1)
    ops.put("a", "y", 10, 60, rev=3, client=2)
    ops.get("a", 20, 30, rev=3, found=kv("a", "y", 3, create=2, version=2), client=3)
    ops.get("a", 40, 45, rev=3, found=kv("a", "x", 2), client=3)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_indeterminate_write_that_took_effect_is_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, None, client=1)
    ops.get("a", 40, 50, rev=3, found=kv("a", "2", 3, create=2, version=2), client=2)
    ops.cas("a", "3", 60, 70, rev=4, if_mod=3, client=2)

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_indeterminate_write_that_never_took_effect_is_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, None, client=1)
    ops.get("a", 40, 50, rev=2, found=kv("a", "1", 2), client=2)
    ops.put("a", "3", 60, 70, rev=3, client=2)
    ops.get("a", 80, 90, rev=3, found=kv("a", "3", 3, create=2, version=2), client=2)

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_indeterminate_write_seen_before_it_was_invoked_is_not_linearizable():
    ops = Ops()
    ops.get("a", 0, 10, rev=2, found=kv("a", "2", 2))
    ops.put("a", "2", 20, None, client=1)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_indeterminate_write_revealed_at_an_impossible_revision_is_not_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=5)
    ops.put("a", "2", 20, None, client=1)
    ops.get("a", 40, 50, rev=6, found=kv("a", "2", 4, create=5, version=2), client=2)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_delete_reporting_a_deletion_of_an_absent_key_is_not_linearizable():
    ops = Ops()
    ops.delete("a", 0, 10, rev=2, deleted=1)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_writes_to_different_keys_sharing_a_revision_are_not_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("b", "1", 0, 10, rev=2, client=1)

    result = check_linearizability(ops.operations)

    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [v.check for v in result.revision_violations] == ["unique write revision"]


def test_read_whose_revision_is_behind_a_completed_write_on_another_key_is_not_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=5)
    ops.get("b", 20, 30, rev=4, client=1)

    result = check_linearizability(ops.operations)

    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [v.check for v in result.revision_violations] == ["real-time revision order"]


def test_leased_key_is_gone_after_its_lease_is_revoked():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2, lease=7)
    ops.revoke(7, 20, 30, rev=3)
    ops.get("a", 40, 50, rev=3)

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_leased_key_readable_after_its_revoke_completed_is_not_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2, lease=7)
    ops.revoke(7, 20, 30, rev=3)
    ops.get("a", 40, 50, rev=3, found=kv("a", "1", 2, lease=7))

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_leased_key_may_vanish_when_its_lease_expires():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2, lease=7)
    ops.get("a", 40, 50, rev=3)

    assert verdict_of(ops) is Verdict.LINEARIZABLE


def test_key_without_a_lease_never_vanishes_by_itself():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.get("a", 40, 50, rev=3)

    assert verdict_of(ops) is Verdict.NOT_LINEARIZABLE


def test_exhausted_budget_reports_unknown_not_a_pass():
    ops = Ops()
    for i in range(10):
        ops.put("a", str(i), 10 * i, 10 * i + 5, rev=i + 2)

    result = check_linearizability(ops.operations, budget=SearchBudget(max_states=5))

    assert result.verdict is Verdict.UNKNOWN
    assert "budget exhausted" in result.describe()


def test_passed_deadline_reports_unknown_not_a_pass():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)

    result = check_linearizability(
        ops.operations, budget=SearchBudget(deadline=time.monotonic() - 1)
    )

    assert result.verdict is Verdict.UNKNOWN


def test_failure_window_keeps_only_the_operations_that_cannot_be_linearized():
    ops = Ops()
    revision = 1
    for i in range(20):
        revision += 1
        ops.put("a", f"v{i}", 100 * i, 100 * i + 30, rev=revision, client=i % 3)
        found = kv("a", f"v{i}", revision, create=2, version=i + 1)
        ops.get("a", 100 * i + 40, 100 * i + 60, rev=revision, found=found, client=(i + 1) % 3)
    stale = ops.get("a", 2100, 2110, rev=revision, found=kv("a", "v18", revision - 1, 2, 19))

    result = check_linearizability(ops.operations)

    window = result.keys[0].window
    assert window is not None
    assert window.operations == [stale]
    assert [s.value for s in window.start_states] == ["v19"]


def timed_out_writes_then_a_read_of_a_value_never_written() -> tuple[Ops, Watcher]:
    """Twelve timed-out puts of which the watch shows the first two took effect, then a
    read of a value nobody wrote: wrong, but proving it blind means trying every subset."""
    ops = Ops()
    watcher = Watcher("m0")
    for i in range(12):
        ops.put("a", f"t{i}", i, None, client=i)
    watcher.events(put_event("a", "t0", 2)).events(
        put_event("a", "t1", 3, create=2, version=2, prev=kv("a", "t0", 2))
    )
    ops.get("a", 100, 110, rev=3, found=kv("a", "nobody", 3, create=2, version=2))
    watcher.progress(3)
    return ops, watcher


def test_resolving_timed_out_writes_from_the_watch_proves_what_the_budget_cannot():
    ops, watcher = timed_out_writes_then_a_read_of_a_value_never_written()
    budget = SearchBudget(max_states=2_000)
    merged = merge_watch_events(watcher.requests, watcher.responses)

    blind = check_linearizability(ops.operations, budget=budget)
    resolved = check_linearizability(ops.operations, budget=budget, watch=merged)

    assert blind.verdict is Verdict.UNKNOWN
    assert resolved.resolved
    assert resolved.verdict is Verdict.NOT_LINEARIZABLE
    assert "get a -> 'nobody'" in resolved.describe()


def test_timed_out_write_resolved_from_the_watch_is_linearizable():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, None, client=1)
    ops.get("a", 40, 50, rev=3, found=kv("a", "2", 3, create=2, version=2), client=2)
    watcher = (
        Watcher("m0")
        .events(put_event("a", "1", 2))
        .events(put_event("a", "2", 3, create=2, version=2, prev=kv("a", "1", 2)))
    )

    result = check_linearizability(
        ops.operations, watch=merge_watch_events(watcher.requests, watcher.responses)
    )

    assert result.resolved
    assert result.verdict is Verdict.LINEARIZABLE


def test_watch_that_did_not_cover_the_run_is_not_used_to_resolve():
    ops, _ = timed_out_writes_then_a_read_of_a_value_never_written()
    late = Watcher("m0", start=3).events(put_event("a", "t1", 3, create=2, version=2))

    result = check_linearizability(
        ops.operations,
        budget=SearchBudget(max_states=2_000),
        watch=merge_watch_events(late.requests, late.responses),
    )

    assert not result.resolved
    assert result.verdict is Verdict.UNKNOWN
