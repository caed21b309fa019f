"""`etcd-console trace` on a playground of real member processes: JSON lines from every member,
merged by time, ended by --seconds or SIGTERM; bad --types refused."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
import trio

from console.cli import main
from node.client import connect_client
from playground.playground import Playground

FAST = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}
START = "from console.cli import main; raise SystemExit(main())"


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory):
    playground = Playground(tmp_path_factory.mktemp("trace") / "playground", members=3, **FAST)
    try:
        trio.run(playground.start)
        yield playground
    finally:
        trio.run(playground.stop)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_trace_for_some_seconds_prints_json_lines_of_every_member_in_time_order(
    playground: Playground, tmp_path: Path
):
    out = tmp_path / "trace.jsonl"
    argv = ["trace", "--dir", str(playground.directory), "--seconds", "3", "-o", str(out)]
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr_file:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-c", START, *argv], stderr=stderr_file
        )
    try:
        async with connect_client(playground.native_endpoints()) as client:
            with trio.fail_after(10):
                while not out.exists() or "traced" not in out.read_text():
                    await client.put("traced", "v")
                    await trio.sleep(0.2)
        with trio.fail_after(20):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = errors.read_text()

    assert process.returncode == 0, stderr
    lines = read_lines(out)
    assert {line["member"] for line in lines} == {"n1", "n2", "n3"}
    assert all({"member", "member_id", "t", "monotonic", "kind"} <= set(line) for line in lines)
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    kinds = {line["kind"] for line in lines}
    assert {"msg_send", "msg_recv", "ready", "wal_save", "apply", "propose", "reply"} <= kinds
    assert {line["type"] for line in lines if line["kind"] == "msg_send"} >= {
        "MsgApp", "MsgAppResp", "MsgHeartbeat"
    }  # fmt: skip


async def test_trace_with_types_prints_only_those_until_sigterm(
    playground: Playground, tmp_path: Path
):
    out = tmp_path / "applies.jsonl"
    argv = ["trace", "--dir", str(playground.directory), "--types", "apply,reply", "-o", str(out)]
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr_file:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-c", START, *argv], stderr=stderr_file
        )
    try:
        async with connect_client(playground.native_endpoints()) as client:
            with trio.fail_after(20):
                while not out.exists() or out.read_text().count('"apply"') < 3:
                    await client.put("k", "v")
                    await trio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = errors.read_text()

    assert process.returncode == 0, stderr
    assert "events (0 dropped)" in stderr
    assert {line["kind"] for line in read_lines(out)} <= {"apply", "reply"}


def test_trace_refuses_a_kind_that_is_not_a_trace_kind(capsys, tmp_path: Path):
    assert main(["trace", "--dir", str(tmp_path), "--types", "apply,MsgApp"]) == 2
    assert "not a trace event kind: MsgApp (trace kinds: advance, apply," in capsys.readouterr().err
    assert main(["trace", "--dir", str(tmp_path), "--types", "commit"]) == 2
    assert "not a trace event kind: commit" in capsys.readouterr().err


async def test_trace_follows_a_tls_playground_with_its_client_certificate(tmp_path: Path):
    from console.trace_stream import stream_trace
    from node.messages.member_events import ALL_TRACE

    playground = Playground(tmp_path / "playground", members=1, tls=True, **FAST)
    out = tmp_path / "trace.jsonl"
    try:
        await playground.start()
        members = {name: m.native_endpoint for name, m in playground.members.items()}
        tls = playground.client_tls()
        with out.open("w") as sink:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: stream_trace(members, [ALL_TRACE], sink, seconds=3, tls=tls)
                )
                async with connect_client(playground.native_endpoints(), tls=tls) as client:
                    for _ in range(10):
                        await client.put("traced-over-tls", "v")
                        await trio.sleep(0.1)
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()
    assert any(line["member"] == "n1" for line in read_lines(out))
