"""A chaos run's violations placed on the clock, and its recording opened at one."""

from __future__ import annotations

from checker.validate.linearizability import Verdict, check_linearizability
from checker.validate.verdict import RunVerdict
from checker.validate.violation import Violation
from checker.validate.watch_check import WatchReport
from console.chaos.violation_marks import violation_marks
from tests.checker.builders import Ops, kv


def test_a_stale_read_is_marked_by_its_window_and_a_lost_write_where_its_revision_was_seen():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    ops.put("a", "2", 20, 30, rev=3)
    ops.get("b", 25, 35, rev=3)
    stale = ops.get("a", 40, 50, rev=3, found=kv("a", "1", 2))
    ops.put("c", "3", 60, 70, rev=4)
    linearizability = check_linearizability(ops.operations)
    assert linearizability.verdict is Verdict.NOT_LINEARIZABLE
    lost = Violation("durability", "put c='3'", 4, "acknowledged, missing from the final state")
    verdict = RunVerdict(linearizability, WatchReport(), durability=[lost])

    marks = violation_marks(verdict, ops.operations)

    window, lost_write = marks
    assert window.check == "linearizability"
    assert window.t_ns <= stale.invoked_ns
    assert (
        window.text == "key 'a': these 2 operations cannot be linearized"
        or window.text.startswith("key 'a': ")
    )
    # revision 4 was first seen by the reply of the put that made it
    assert (lost_write.t_ns, lost_write.revision) == (70, 4)
    assert lost_write.text == lost.describe()


def test_a_revision_is_placed_at_the_first_reply_that_reached_it_whichever_op_it_was():
    ops = Ops()
    ops.put("a", "1", 0, 100, rev=5)  # slow reply
    ops.get("b", 10, 20, rev=6)  # a read already past revision 5
    watch = Violation("watch", "watcher m1", 5, "revision 5 never delivered")
    verdict = RunVerdict(check_linearizability(ops.operations), WatchReport([watch]))

    [mark] = violation_marks(verdict, ops.operations)

    assert (mark.t_ns, mark.check) == (20, "watch")


def test_a_violation_no_reply_reached_and_a_clean_verdict_mark_nothing():
    ops = Ops()
    ops.put("a", "1", 0, 10, rev=2)
    beyond = Violation("durability", "put z", 9, "missing")
    clean = RunVerdict(check_linearizability(ops.operations), WatchReport())
    assert violation_marks(clean, ops.operations) == []
    clean.durability.append(beyond)
    assert violation_marks(clean, ops.operations) == []
