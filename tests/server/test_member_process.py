"""etcd-node as a process: it starts from etcd's flags, logs JSON lines to <data-dir>/node.log
and stops cleanly on SIGTERM, leaving a data dir it restarts from."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.server.harness import reserve_peer_port

MAIN = "import sys; from node.cli import main; sys.exit(main())"


def _log_lines(data_dir: Path) -> list[dict]:
    path = data_dir / "node.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _run_until_leader_then_sigterm(args: list[str], data_dir: Path) -> int:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", MAIN, *args], stderr=subprocess.DEVNULL
    )
    seen = len(_log_lines(data_dir))
    try:
        with trio.fail_after(20):
            # the member's own log file says when it has published itself
            while not any("published" in line["msg"] for line in _log_lines(data_dir)[seen:]):  # noqa: ASYNC110
                await trio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_stops_the_member_cleanly_and_it_restarts_from_its_data_dir(tmp_path):
    port = reserve_peer_port()
    data_dir = tmp_path / "solo"
    peer = f"http://127.0.0.1:{port}"
    client = f"http://127.0.0.1:{port + 1}"
    args = [
        "--name", "solo", "--data-dir", str(data_dir),
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"solo={peer}",
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--heartbeat-interval", "20", "--election-timeout", "200",
    ]
    assert await _run_until_leader_then_sigterm(args, data_dir) == 0
    first_run = _log_lines(data_dir)
    assert any("SIGTERM" in line["msg"] for line in first_run)
    assert first_run[-1]["msg"].endswith("stopped")
    assert await _run_until_leader_then_sigterm(args, data_dir) == 0
    restarted = _log_lines(data_dir)[len(first_run):]
    assert any("applied index" in line["msg"] and "started" in line["msg"] for line in restarted)
