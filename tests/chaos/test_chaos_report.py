"""What `etcd-console chaos` prints and returns: the verdict lines, the exit status, and a
history file that `--check` judges the same way again."""

from __future__ import annotations

from pathlib import Path

from checker.model.history import History
from checker.validate.verdict import check_history
from checker.validate.violation import Violation
from console.chaos.nemesis import Fault, FaultRecord
from console.chaos.run import (
    EXIT_PASSED,
    EXIT_VIOLATION,
    ChaosConfig,
    ChaosResult,
    check_file,
    write_history,
)
from tests.checker.builders import Ops, kv

FAULTS = [
    FaultRecord("kill-leader", 1.0, "killed n1 (leader)", 4.0),
    FaultRecord("snapshot-bitflip", 6.0, "skipped: member n2 has no snapshot file yet", 6.0, True),
]


def a_clean_history() -> History:
    ops = Ops()
    ops.put("k", "v1", at=0, done=10, rev=2)
    ops.get("k", at=20, done=30, rev=2, found=kv("k", "v1", 2))
    return History(operations=ops.operations)


def a_stale_read() -> History:
    ops = Ops()
    ops.put("k", "v1", at=0, done=10, rev=2)
    ops.put("k", "v2", at=20, done=30, rev=3)
    ops.get("k", at=40, done=50, rev=3, found=kv("k", "v1", 2))
    return History(operations=ops.operations)


def test_a_clean_run_reports_every_check_passed_and_exits_zero() -> None:
    result = ChaosResult(check_history(a_clean_history()), FAULTS)
    lines = result.report().splitlines()
    assert lines[:5] == ["linearizable", "watch OK", "leases OK", "no lost write", "nemesis OK"]
    assert "1 faults (kill-leader 1; 1 skipped)" in lines[5]
    assert result.exit_status == EXIT_PASSED


def test_a_stale_read_is_not_linearizable_and_exits_one() -> None:
    result = ChaosResult(check_history(a_stale_read()))
    assert result.report().splitlines()[0] == "NOT LINEARIZABLE"
    assert result.exit_status == EXIT_VIOLATION


def test_what_the_nemesis_saw_go_wrong_fails_the_run() -> None:
    refused = Violation("torn WAL tail", "n2", 0, "did not repair a torn write")
    result = ChaosResult(check_history(a_clean_history()), FAULTS, [refused])
    assert "1 nemesis violations" in result.report()
    assert "[torn WAL tail] n2: did not repair a torn write" in result.report()
    assert result.exit_status == EXIT_VIOLATION


def test_many_violations_of_one_kind_are_cut_short_in_a_run_report() -> None:
    many = [Violation("corrupt WAL", f"n{i}", 0, "started anyway") for i in range(30)]
    result = ChaosResult(check_history(a_clean_history()), [], many)
    assert result.report().count("[corrupt WAL]") == 21  # 20 shown, then the count
    assert "... and 10 more [corrupt WAL] violations" in result.report()
    assert result.report(limit=None).count("[corrupt WAL]") == 30


def test_a_saved_history_is_judged_again_with_its_faults(tmp_path: Path) -> None:
    config = ChaosConfig(directory=tmp_path, seed=5, faults=[Fault.KILL_LEADER])
    write_history(config, a_stale_read(), FAULTS)
    again = check_file(config.history_path)
    assert again.exit_status == EXIT_VIOLATION
    assert again.verdict.operations == 3
    assert again.faults == FAULTS
