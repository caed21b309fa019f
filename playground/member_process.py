"""The etcd-node processes of a playground: spawn, signal, and the state each one is in.

Members run detached, in their own sessions, and outlive the command that started them, so
the state of a process this supervisor did not start is read from /proc (checking the pid
still runs that member). Children it started are reaped here once they exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import anyio

from playground.errors import PlaygroundError
from playground.record import MemberRecord

MemberState = Literal["up", "down", "paused"]

STOP_TIMEOUT = 5.0
"""Seconds a member gets to exit after SIGTERM before it is killed."""
POLL_INTERVAL = 0.05
"""Seconds between two looks at another process or member that cannot tell us it changed."""


class MemberProcesses:
    """The member processes of one playground directory, as this process sees them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, record: MemberRecord, inherited: Sequence[int] = ()) -> None:
        """Start member `record`'s process, detached, its output appended to its stdout.log;
        it inherits the file descriptors in `inherited` (its port claims)."""
        data_dir = Path(record.data_dir)
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("ETCD_")
        }
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(data_dir / "stdout.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "node", *record.args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    env=environment,
                    start_new_session=True,
                    pass_fds=inherited,
                )
        except OSError as error:
            raise PlaygroundError(f"cannot start member {record.name}: {error}") from None
        record.pid = process.pid
        self._children[process.pid] = process

    def state(self, record: MemberRecord) -> MemberState:
        """Whether the member's process runs (up), is stopped by SIGSTOP (paused) or is gone."""
        if record.pid == 0:
            return "down"
        child = self._children.get(record.pid)
        if child is None:
            return _process_state(record.pid, record.data_dir)
        run_state = "down" if child.poll() is not None else _run_state(record.pid)
        if run_state == "down":
            child.wait()  # a zombie by now: reap it, so its pid is gone
            del self._children[record.pid]
        return run_state

    def send_signal(self, record: MemberRecord, signum: signal.Signals) -> None:
        """Send `signum` to the member's process, if that pid is still the member's."""
        if self.state(record) == "down":
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signum)

    async def wait_for_state(self, record: MemberRecord, state: MemberState) -> None:
        """Return once the member's process is in `state`; bound it with a cancel scope."""
        while self.state(record) != state:  # noqa: ASYNC110 - polls /proc of another process
            await anyio.sleep(POLL_INTERVAL)

    async def _signal_and_wait(
        self, record: MemberRecord, signum: signal.Signals, state: MemberState
    ) -> bool:
        """Send `signum` and wait STOP_TIMEOUT for the process to reach `state`; whether it did."""
        self.send_signal(record, signum)
        with anyio.move_on_after(STOP_TIMEOUT):
            await self.wait_for_state(record, state)
            return True
        return False

    async def stop(self, record: MemberRecord) -> None:
        """SIGTERM the member (continuing it if paused), SIGKILL it if it lingers."""
        if self.state(record) == "down":
            return
        self.send_signal(record, signal.SIGTERM)
        if await self._signal_and_wait(record, signal.SIGCONT, "down"):
            return
        if not await self._signal_and_wait(record, signal.SIGKILL, "down"):
            raise PlaygroundError(f"member {record.name} (pid {record.pid}) did not stop")

    async def kill(self, record: MemberRecord) -> None:
        """SIGKILL the member, as a crash."""
        if not await self._signal_and_wait(record, signal.SIGKILL, "down"):
            raise PlaygroundError(f"member {record.name} (pid {record.pid}) survived SIGKILL")

    async def pause(self, record: MemberRecord) -> None:
        """SIGSTOP the member: it keeps its sockets but answers nothing until resumed."""
        if not await self._signal_and_wait(record, signal.SIGSTOP, "paused"):
            raise PlaygroundError(f"member {record.name} did not pause")

    async def resume(self, record: MemberRecord) -> None:
        """SIGCONT a paused member."""
        if not await self._signal_and_wait(record, signal.SIGCONT, "up"):
            raise PlaygroundError(f"member {record.name} did not resume")


def last_log_line(record: MemberRecord) -> str:
    """The last line member `record` wrote, to say why it stopped."""
    log = Path(record.data_dir) / "stdout.log"
    try:
        with open(log, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 4096))
            lines = file.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"no output (see {log})"


def _process_state(pid: int, data_dir: str) -> MemberState:
    """The state of a pid another process started: "down" unless it still runs this member.

    Its command line must name the member's data dir, in case the pid was reused since.
    """
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "down"
    return _run_state(pid) if os.fsencode(data_dir) in arguments else "down"


def _run_state(pid: int) -> MemberState:
    """A live pid's state from /proc: SIGSTOPped is paused, a zombie is down."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "down"
    code = stat.rpartition(")")[2].split()[0]
    if code in ("Z", "X", "x"):
        return "down"
    return "paused" if code in ("T", "t") else "up"
