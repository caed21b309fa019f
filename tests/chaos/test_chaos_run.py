"""A short chaos run against a real 3-member playground: under kills, a partition, a pause,
dropped messages and a torn WAL tail, the history must be linearizable, the watches intact,
no lease broken and no acknowledged write lost.

Longer runs: CHAOS_SECONDS (default 30) and CHAOS_SEEDS (comma-separated, default 2, whose
schedule starts with a leader kill and a partition); CHAOS_FAULTS picks the faults (`all`
for every kind). Runs longer than the default should give every fault time to come round:
about 8 s per fault kind.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import anyio
import pytest

from checker.model.history import EventType
from checker.validate.linearizability import Verdict
from console.chaos.nemesis import Fault, Timing, parse_faults
from console.chaos.run import ChaosConfig, ChaosResult, check_file, load_history, run_chaos

SECONDS = float(os.environ.get("CHAOS_SECONDS", "30"))
SEEDS = [int(seed) for seed in os.environ.get("CHAOS_SEEDS", "2").split(",") if seed.strip()]
FAULTS = parse_faults(
    os.environ.get("CHAOS_FAULTS", "kill-leader,partition-majority,pause,link-drop,torn-wal-tail")
)
KILLS = {Fault.KILL_LEADER, Fault.KILL_FOLLOWER, Fault.KILL_RANDOM, Fault.KILL_MAJORITY}
PARTITIONS = {Fault.PARTITION_MAJORITY, Fault.PARTITION_LEADER, Fault.PARTITION_BRIDGE}


def chaos_run(directory: Path, seed: int) -> ChaosResult:
    config = ChaosConfig(
        directory=directory,
        seed=seed,
        seconds=SECONDS,
        members=3,
        faults=FAULTS,
        timing=Timing(hold=(2.0, 3.0), quiet=(1.0, 2.0)),
        snapshot_count=1000 if Fault.SNAPSHOT_BITFLIP in FAULTS else None,
    )
    return anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_chaos_run_finds_the_cluster_linearizable_with_intact_watches_and_no_lost_write(
    tmp_path: Path, seed: int
) -> None:
    result = chaos_run(tmp_path / "playground", seed)
    report = result.report()
    verdict = result.verdict
    assert verdict.linearizability.verdict is Verdict.LINEARIZABLE, report
    assert not verdict.watch.violations, report
    assert not verdict.leases, report
    assert not verdict.durability, report
    assert not result.nemesis_violations, report
    assert verdict.operations > 0 and verdict.watch.revisions > 0, report
    injected = {Fault(record.kind) for record in result.faults if not record.skipped}
    assert injected & KILLS and injected & PARTITIONS, report
    again = check_file(tmp_path / "playground" / "history.jsonl")
    assert again.verdict.passed
    assert again.verdict.operations == verdict.operations
    assert [record.kind for record in again.faults] == [record.kind for record in result.faults]
    history = load_history(tmp_path / "playground" / "history.jsonl")
    filtered = {r.watcher_id: r.filters for r in history.watch_requests if r.filters}
    delivered = {r.watcher_id for r in history.watch_responses if r.events}
    no_put = [w for w, filters in filtered.items() if filters == (EventType.PUT,)]
    no_delete = [w for w, filters in filtered.items() if filters == (EventType.DELETE,)]
    assert any(w in delivered for w in no_put), (no_put, delivered)
    assert any(w in delivered for w in no_delete), (no_delete, delivered)
