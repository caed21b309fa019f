"""The verdict line of a whole run, as `etcd-console chaos` prints it."""

from dataclasses import replace

from checker.validate.verdict import check_history
from tests.checker.simulation import Workload, simulate


def test_clean_run_reports_every_check_passed():
    history = simulate(seed=7, workload=Workload(operations=100))

    verdict = check_history(history)

    assert verdict.passed
    assert verdict.summary().startswith("linearizable, watch OK, leases OK, no lost write (100 ")


def test_run_that_lost_a_write_and_a_watch_event_reports_both():
    history = simulate(seed=7, workload=Workload(operations=100))
    lost = history.final.kvs[0]
    damaged_final = replace(history.final, kvs=history.final.kvs[1:])
    damaged_watch = [
        replace(r, events=()) if r.watcher_id == "m1" and r.index == 1 else r
        for r in history.watch_responses
    ]

    verdict = check_history(replace(history, final=damaged_final, watch_responses=damaged_watch))

    assert not verdict.passed
    assert "lost writes" in verdict.summary()
    assert "violation" in verdict.watch.summary
    assert f"put {lost.key}={lost.value!r}" in verdict.describe()
