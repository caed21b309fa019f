"""A chaos run's violations placed on the clock, and its recording opened at one."""

from __future__ import annotations

import io
import time
from pathlib import Path

import anyio

from checker.validate.linearizability import Verdict, check_linearizability
from checker.validate.verdict import RunVerdict
from checker.validate.violation import Violation
from checker.validate.watch_check import WatchReport
from console.chaos.run import ChaosConfig, ChaosRun
from console.chaos.violation_marks import violation_marks
from console.recording import VIOLATION, VIOLATIONS_LANE, read_recording
from console.timeline import TraceEvent
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
    # the window is the stale read alone: the mark is where it began
    assert (window.check, window.t_ns) == ("linearizability", stale.invoked_ns)
    assert window.text == "key 'a': this operation cannot be linearized"
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


def test_a_chaos_runs_check_writes_its_violations_into_the_recording_on_its_clock(
    tmp_path: Path,
):
    record = tmp_path / "chaos.etcdrec"
    run = ChaosRun(ChaosConfig(tmp_path / "run", seed=1, record=record), io.StringIO())
    assert run.recording is not None
    run.recording.write(TraceEvent("n1", time.time(), "raft_state", {"raft_state": "leader"}))
    run.recording.close()
    now = time.monotonic_ns()
    ops = Ops()
    ops.put("a", "1", now - 4_000_000_000, now - 3_000_000_000, rev=2)
    ops.put("a", "2", now - 2_000_000_000, now - 1_000_000_000, rev=3)
    ops.get("a", now - 500_000_000, now, rev=3, found=kv("a", "1", 2))
    run.recorder.history.operations.extend(ops.operations)

    result = anyio.run(run.check)

    assert result.verdict.linearizability.verdict is Verdict.NOT_LINEARIZABLE
    recording = read_recording(record)
    [mark] = [event for event in recording.events if event.kind == VIOLATION]
    assert mark.member == VIOLATIONS_LANE
    assert mark.fields["text"] == "key 'a': this operation cannot be linearized"
    # the stale read was invoked half a second ago: the mark is there on the wall clock
    assert abs(mark.t - (time.time() - 0.5)) < 0.25
    # what was recorded during the run is all there, the mark in its place by time
    assert [event.kind for event in recording.events] == [VIOLATION, "raft_state"]
