"""A short chaos run on a playground with mutual TLS and auth on (`chaos --tls --auth`): every
client, watcher and fault call dials with the playground's client certificate, whose CN (root)
is the user, and the history must still be linearizable with intact watches and no lost write.

CHAOS_SECONDS (default 20) sets the run's length.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import anyio
import pytest

from checker.validate.linearizability import Verdict
from console.chaos.nemesis import Fault, Timing
from console.chaos.run import ChaosConfig, closing_lines, load_history, run_chaos
from console.cli import main
from playground.playground import Playground

SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
FAULTS = [Fault.KILL_LEADER, Fault.PARTITION_MAJORITY, Fault.PAUSE]
AUTH_ERRORS = ("user name is empty", "permission denied", "invalid auth token")
"""What a client refused by auth would have recorded."""


def test_a_chaos_run_with_tls_and_auth_is_linearizable_through_both_doors(tmp_path: Path) -> None:
    directory = tmp_path / "playground"
    config = ChaosConfig(
        directory=directory,
        seed=3,
        seconds=SECONDS,
        members=3,
        clients=4,
        faults=FAULTS,
        timing=Timing(hold=(2.0, 3.0), quiet=(1.0, 2.0)),
        tls=True,
        auth=True,
    )
    result = anyio.run(run_chaos, config, io.StringIO(), backend="asyncio")

    report = result.report()
    verdict = result.verdict
    assert verdict.linearizability.verdict is Verdict.LINEARIZABLE, report
    assert not verdict.watch.violations, report
    assert not verdict.leases and not verdict.durability, report
    assert not result.nemesis_violations, report
    assert verdict.watch.revisions > 0, report
    record = Playground.attach(directory).record
    assert record.tls and record.auth
    history = load_history(config.history_path)
    answered = {op.client_id % 2 for op in history.operations if op.response is not None}
    assert answered == {0, 1}, "native (even) and gRPC (odd) clients were answered"
    refused = [op.error for op in history.operations if "auth" in op.error.lower()]
    refused += [op.error for op in history.operations if op.error.endswith(AUTH_ERRORS)]
    assert not refused, refused[:5]
    assert closing_lines(config, result)[-1].endswith("--tls --auth")


def test_chaos_auth_without_tls_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "playground"
    assert main(["chaos", "--auth", "--seconds", "1", "--dir", str(directory)]) == 2
    assert "--auth needs --tls" in capsys.readouterr().err
    assert not directory.exists()
