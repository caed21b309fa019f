"""`inspect wal|snap|db NAME|PATH`: what a member keeps on disk, read by `node.inspect` in a
child process with this Python (as the playground runs members with `python -m node`), since
the console reaches nothing of the node but its client; NAME is a playground member, whose
data directory the playground record knows, PATH a member's data directory or a copy."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio

from playground.errors import PlaygroundError
from playground.playground import Playground

INSPECTORS = ("wal", "snap", "db")


@dataclass(slots=True)
class InspectOutput:
    """What the inspector printed, and whether it succeeded (its exit status was 0)."""

    ok: bool
    stdout: str
    stderr: str


def data_dir_of(target: str, playground: Playground | None) -> str:
    """The data directory `target` names: a member of the playground, else a path."""
    if playground is not None and target in playground.members:
        return playground.member(target).data_dir
    if Path(target).exists():
        return target
    if playground is None:
        raise PlaygroundError(f"{target}: no such directory (and no playground to find a member "
                              "of that name in)")
    names = ", ".join(playground.members)
    raise PlaygroundError(f"{target} is neither a member of the playground ({names}) nor a "
                          "data directory")


def inspector_argv(what: str, data_dir: str, options: list[str], json_lines: bool) -> list[str]:
    """The child's command line: this Python running `node.inspect`."""
    if what not in INSPECTORS:
        raise ValueError(f"no inspector {what!r}; there are {', '.join(INSPECTORS)}")
    write_out = ["-w", "json"] if json_lines else []
    return [sys.executable, "-m", "node.inspect", *write_out, what, data_dir, *options]


def run_inspector_here(argv: list[str]) -> int:
    """Run the inspector with this terminal as its output; its exit status."""
    return subprocess.run(argv, check=False).returncode


async def run_inspector(argv: list[str]) -> InspectOutput:
    """Run the inspector, collecting what it prints."""
    done = await anyio.run_process(argv, check=False)
    return InspectOutput(
        done.returncode == 0,
        done.stdout.decode(errors="backslashreplace"),
        done.stderr.decode(errors="backslashreplace"),
    )
