"""`etcd-console chaos` ended by SIGTERM (a campaign's or a CI job's time limit): the members
are stopped and the history so far saved, never left running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import trio

from playground.playground import Playground


def test_sigterm_stops_the_members_saves_the_history_and_exits_143(tmp_path: Path) -> None:
    directory = tmp_path / "chaos"
    command = [
        str(Path(sys.executable).with_name("etcd-console")), "chaos", "--seconds", "120",
        "--faults", "pause", "--clients", "2", "--seed", "4", "--dir", str(directory),
    ]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if "watch it live from another terminal" in line:
                break
        run.send_signal(signal.SIGTERM)
        _, errors = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
        if (directory / "playground.json").exists():
            trio.run(Playground.attach(directory).stop)  # whatever the command left behind
    assert run.returncode == 128 + signal.SIGTERM, errors
    assert f"terminated; history in {directory / 'history.jsonl'}" in errors
    first = json.loads((directory / "history.jsonl").read_text().splitlines()[0])
    assert first["record"] == "run" and first["seed"] == 4
    playground = Playground.attach(directory)
    states = {name: playground.state(name) for name in playground.members}
    assert states == dict.fromkeys(playground.members, "down")
