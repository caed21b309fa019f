"""The crash-point fault in a short chaos run: members armed with write-path crash points die
there, are restarted, and the history stays linearizable with no acknowledged write lost."""

from __future__ import annotations

import io
from pathlib import Path

import anyio

from checker.validate.linearizability import Verdict
from console.chaos.nemesis import Fault, Timing, parse_crash_points
from console.chaos.run import ChaosConfig, run_chaos

WRITE_PATH = "raftBeforeSave,raftAfterSave,beforeCommit,afterCommit,commitBeforePreCommitHook"
"""Points every put passes on every member, so the workload alone drives a member there."""


def test_members_that_die_at_crash_points_are_restarted_and_the_run_is_linearizable(
    tmp_path: Path,
) -> None:
    config = ChaosConfig(
        directory=tmp_path / "playground",
        seed=7,
        seconds=15,
        members=3,
        faults=[Fault.CRASH_POINT],
        crash_points=parse_crash_points(WRITE_PATH),
        timing=Timing(hold=(2.0, 3.0), quiet=(1.0, 2.0)),
    )
    result = anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")
    report = result.report()
    verdict = result.verdict
    assert verdict.linearizability.verdict is Verdict.LINEARIZABLE, report
    assert not verdict.durability, report
    assert not result.nemesis_violations, report
    assert verdict.operations > 0, report
    crashed = [record for record in result.faults if "it died there" in record.detail]
    assert crashed, report
    assert all(record.ended is not None for record in crashed), report


SNAPSHOT_PATH = "raftBeforeSaveSnap,raftAfterSaveSnap,raftBeforeLogCompaction,raftAfterWALRelease"
"""Points a member passes only when it takes a snapshot: at --snapshot-count 1000 the workload
alone reaches none within a hold, the nemesis drives the member there."""


def test_members_armed_on_the_way_to_a_snapshot_are_driven_there_and_die(tmp_path: Path) -> None:
    config = ChaosConfig(
        directory=tmp_path / "playground",
        seed=11,
        seconds=15,
        members=3,
        faults=[Fault.CRASH_POINT],
        crash_points=parse_crash_points(SNAPSHOT_PATH),
        snapshot_count=1000,
        timing=Timing(hold=(2.0, 3.0), quiet=(1.0, 2.0)),
    )
    result = anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")
    report = result.report()
    assert result.verdict.linearizability.verdict is Verdict.LINEARIZABLE, report
    assert not result.verdict.durability, report
    assert not result.nemesis_violations, report
    armed = [record for record in result.faults if record.kind == "crash-point"]
    assert armed, report
    assert all("it died there" in record.detail for record in armed), report
