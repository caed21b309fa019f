"""Handcrafted watch streams: each of etcd's watch guarantees, broken and kept."""

from collections.abc import Sequence

from checker.model.history import Operation
from checker.validate.watch_check import check_watches
from tests.checker.builders import Ops, Watcher, delete_event, kv, put_event

# The store's history: rev 2 creates a, 3 creates b, 4 updates a (with lease 7), 5 deletes
# b, 6 creates b again (with lease 7), 7 revokes lease 7: one revision deleting a and b.
A1 = put_event("a", "1", 2)
B1 = put_event("b", "1", 3)
A2 = put_event("a", "2", 4, create=2, version=2, prev=kv("a", "1", 2), lease=7)
B_DEL = delete_event("b", 5, prev=kv("b", "1", 3))
B2 = put_event("b", "2", 6, lease=7)
A_DEL = delete_event("a", 7, prev=kv("a", "2", 4, create=2, version=2, lease=7))
B_DEL2 = delete_event("b", 7, prev=kv("b", "2", 6, lease=7))


def operations_behind_the_history() -> Ops:
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("b", "1", 20, 30, rev=3)
    ops.put("a", "2", 40, 50, rev=4, lease=7)
    ops.delete("b", 60, 70, rev=5)
    ops.put("b", "2", 80, 90, rev=6, lease=7)
    ops.revoke(7, 100, 110, rev=7)
    return ops


def checks_failed(*watchers: Watcher, operations: Sequence[Operation] = ()) -> list[str]:
    report = check_watches(
        [r for w in watchers for r in w.requests],
        [r for w in watchers for r in w.responses],
        operations,
    )
    return sorted({v.check for v in report.violations})


def faithful(watcher_id: str) -> Watcher:
    return (
        Watcher(watcher_id)
        .events(A1, B1)
        .events(A2)
        .progress(4)
        .events(B_DEL, B2)
        .events(A_DEL, B_DEL2)
    )


def test_watchers_delivering_the_whole_history_pass():
    other = Watcher("m1").events(A1).events(B1, A2, B_DEL).events(B2, A_DEL, B_DEL2).progress(7)

    report = check_watches(
        faithful("m0").requests + other.requests, faithful("m0").responses + other.responses
    )

    assert report.summary == "watch OK"
    assert report.revisions == 6


def test_watcher_missing_a_revision_breaks_reliable():
    gap = Watcher("m1").events(A1, B1).events(B_DEL, B2).events(A_DEL, B_DEL2)

    report = check_watches(
        faithful("m0").requests + gap.requests, faithful("m0").responses + gap.responses
    )

    assert [v.check for v in report.violations] == ["reliable"]
    assert report.violations[0].revision == 4
    assert "watcher m1" in report.describe()


def test_gap_nobody_saw_is_caught_because_revisions_are_dense():
    gap = Watcher("m0").events(A1, B1).events(B_DEL, B2)

    assert checks_failed(gap) == ["reliable"]


def test_event_delivered_twice_breaks_unique():
    twice = Watcher("m0").events(A1, B1).events(A2).events(A2)

    assert "unique" in checks_failed(twice)


def test_events_out_of_revision_order_break_ordered():
    reordered = Watcher("m0").events(A1).events(A2).events(B1)

    assert "ordered" in checks_failed(reordered)


def test_revision_split_over_two_responses_breaks_atomic():
    split = Watcher("m0").events(A1, B1, A2, B_DEL, B2, A_DEL).events(B_DEL2)

    assert checks_failed(split) == ["atomic"]


def test_revision_delivered_without_one_of_its_events_breaks_atomic():
    partial = Watcher("m1").events(A1, B1).events(A2).events(B_DEL, B2).events(A_DEL)

    assert checks_failed(faithful("m0"), partial) == ["atomic"]


def test_wrong_prev_kv_is_caught():
    wrong = put_event("a", "2", 4, create=2, version=2, prev=kv("a", "0", 1))
    watcher = Watcher("m0").events(A1, B1).events(wrong)

    assert checks_failed(watcher) == ["prev_kv"]


def test_prev_kv_left_out_because_its_revision_was_compacted_is_allowed():
    # etcd reads prev_kv when it sends the event: a compaction may have removed it by then.
    without_prev = put_event("a", "2", 4, create=2, version=2, lease=7)
    watcher = Watcher("m0").events(A1, B1).events(without_prev)
    ops = Ops()
    ops.compact(3, at=10, done=20)

    # (the writes themselves are not in this history, so only prev_kv is looked at)
    assert "prev_kv" not in checks_failed(watcher, operations=ops.operations)


def test_prev_kv_left_out_with_no_compaction_is_caught():
    without_prev = put_event("a", "2", 4, create=2, version=2, lease=7)
    watcher = Watcher("m0").events(A1, B1).events(without_prev)

    assert checks_failed(watcher) == ["prev_kv"]


def test_prev_kv_sent_although_not_asked_for_is_caught():
    watcher = Watcher("m0", prev_kv=False).events(A1, B1).events(A2)

    assert checks_failed(watcher) == ["prev_kv"]


def test_update_flagged_as_create_breaks_is_create():
    as_create = put_event("a", "2", 4, prev=kv("a", "1", 2))
    watcher = Watcher("m0").events(A1, B1).events(as_create)

    assert checks_failed(watcher) == ["is_create"]


def test_recreation_after_delete_not_flagged_as_create_breaks_is_create():
    not_create = put_event("b", "2", 6, create=3, version=2)
    watcher = Watcher("m0").events(A1, B1).events(A2).events(B_DEL, not_create)

    assert checks_failed(watcher) == ["is_create"]


def test_progress_notification_ahead_of_events_breaks_bookmarkable():
    ahead = Watcher("m0").events(A1, B1).progress(4).events(A2)

    assert checks_failed(ahead) == ["bookmarkable"]


def test_event_outside_the_watched_key_breaks_filter():
    only_a = Watcher("m0", key="a", range_end="").events(A1).events(B1)

    assert "filter" in checks_failed(only_a)


def test_watcher_resuming_from_last_revision_plus_one_passes():
    resumed = Watcher("m0").events(A1, B1).events(A2).resume(5).events(B_DEL, B2)

    assert checks_failed(resumed) == []


def test_watcher_resuming_past_its_last_revision_breaks_resumable_and_reliable():
    skipped = Watcher("m0").events(A1, B1).resume(5).events(B_DEL, B2)

    assert checks_failed(skipped, faithful("m1")) == ["reliable", "resumable"]


def test_watcher_resuming_before_its_last_revision_gets_duplicates():
    again = Watcher("m0").events(A1, B1).events(A2).resume(4).events(A2).events(B_DEL, B2)

    assert checks_failed(again) == ["resumable", "unique"]


def test_compaction_response_excuses_the_compacted_revisions():
    compacted = Watcher("m0").events(A1).compacted(5).resume(5).events(B_DEL, B2)

    assert checks_failed(compacted, faithful("m1")) == []


def test_watchers_disagreeing_on_a_revision_break_agreement():
    other_value = put_event("a", "X", 4, create=2, version=2, prev=kv("a", "1", 2))
    liar = Watcher("m1").events(A1, B1).events(other_value)

    assert checks_failed(faithful("m0"), liar) == ["agreement"]


def test_acknowledged_write_with_another_value_in_the_watch_breaks_durability():
    ops = operations_behind_the_history()
    ops.put("a", "2-acknowledged", 35, 55, rev=4)

    assert checks_failed(faithful("m0"), operations=ops.operations) == ["durability"]


def test_acknowledged_write_missing_from_every_stream_breaks_durability():
    ops = operations_behind_the_history()
    ops.put("c", "1", 120, 130, rev=8)
    watcher = faithful("m0").progress(8)

    assert checks_failed(watcher, operations=ops.operations) == ["durability", "reliable"]


def test_operations_matching_the_watch_pass():
    ops = operations_behind_the_history()

    assert checks_failed(faithful("m0"), operations=ops.operations) == []


def test_event_no_operation_wrote_is_a_phantom():
    ops = operations_behind_the_history()
    invented = put_event("c", "ghost", 8)
    watcher = faithful("m0").events(invented)

    assert checks_failed(watcher, operations=ops.operations) == ["phantom"]


def test_delete_without_a_delete_call_or_a_lease_is_a_phantom():
    ops = operations_behind_the_history()
    ops.put("c", "1", 120, 130, rev=8)
    watcher = (
        faithful("m0")
        .events(put_event("c", "1", 8))
        .events(delete_event("c", 9, prev=kv("c", "1", 8)))
    )

    assert checks_failed(watcher, operations=ops.operations) == ["phantom"]
