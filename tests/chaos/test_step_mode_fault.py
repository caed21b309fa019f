"""The step-mode fault changes no raft rule: a short chaos run whose only fault holds the
cluster, steps it with messages delivered in a shuffled order and some dropped, then releases
it, ends linearizable, with intact watches and no lost write."""

from __future__ import annotations

import io
from pathlib import Path

import anyio

from checker.validate.linearizability import Verdict
from console.chaos.nemesis import Fault, Timing
from console.chaos.run import ChaosConfig, run_chaos


def test_a_run_stepped_through_step_mode_stays_linearizable_and_loses_nothing(tmp_path: Path):
    config = ChaosConfig(
        directory=tmp_path / "playground",
        seed=5,
        seconds=12.0,
        members=3,
        faults=[Fault.STEP_MODE],
        timing=Timing(hold=(2.0, 3.0), quiet=(1.0, 2.0)),
    )
    result = anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")
    report = result.report()
    verdict = result.verdict

    assert verdict.linearizability.verdict is Verdict.LINEARIZABLE, report
    assert not verdict.watch.violations, report
    assert not verdict.leases, report
    assert not verdict.durability, report
    assert not result.nemesis_violations, report
    stepped = [r for r in result.faults if r.kind == Fault.STEP_MODE.value and not r.skipped]
    details = "\n".join(r.detail for r in stepped)
    assert stepped and "stopped stepping" not in details, f"{report}\n{details}"
    assert verdict.operations > 0, report
