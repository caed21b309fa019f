"""A chaos campaign: `etcd-console chaos` over many seeds, one after the other.

    .venv/bin/python benchmarks/chaos_campaign.py --seeds 1-20 --seconds 120 --dir /tmp/campaign

Each seed runs in its own process and playground directory (DIR/seed-N, its output in
DIR/seed-N.log); a line per seed tells its verdict, and DIR/summary.jsonl keeps them all.
Runs one seed at a time: each already keeps the machine's cores busy. A passing run's member
data (preallocated WAL segments) is removed; its history and logs stay. Extra flags after
`--` go to every run (for example `-- --faults kill-leader,membership`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERDICTS = ("linearizable", "NOT LINEARIZABLE", "unknown")


def parse_seeds(text: str) -> list[int]:
    """`1-5,9` -> [1, 2, 3, 4, 5, 9]."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def run_seed(seed: int, seconds: float, root: Path, extra: list[str]) -> dict[str, object]:
    """One chaos run; returns its summary (exit status, verdict lines, duration)."""
    directory = root / f"seed-{seed}"
    if directory.exists():
        shutil.rmtree(directory)
    command = [
        str(Path(sys.executable).with_name("etcd-console")),
        "chaos",
        "--seed", str(seed),
        "--seconds", str(seconds),
        "--dir", str(directory),
        *extra,
    ]  # fmt: skip
    started = time.monotonic()
    with open(root / f"seed-{seed}.log", "w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if status == 0:
        for member_data in directory.glob("*/member"):
            shutil.rmtree(member_data)  # a passing run keeps its history and logs only
    lines = (root / f"seed-{seed}.log").read_text().splitlines()
    verdict = next((line for line in lines if line in VERDICTS), "no verdict")
    start = lines.index(verdict) if verdict in lines else len(lines)
    return {
        "seed": seed,
        "exit": status,
        "verdict": lines[start : start + 6],
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10", help="seeds, as 1-10,15 (default 1-10)")
    parser.add_argument("--seconds", type=float, default=120.0, help="workload time per run")
    parser.add_argument("--dir", default="/tmp/chaos-campaign", help="where runs are kept")
    parser.add_argument("extra", nargs="*", help="flags passed on to etcd-console chaos")
    args = parser.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    failed = 0
    with open(root / "summary.jsonl", "a") as summary:
        for seed in parse_seeds(args.seeds):
            result = run_seed(seed, args.seconds, root, args.extra)
            failed += result["exit"] != 0
            summary.write(json.dumps(result) + "\n")
            summary.flush()
            verdict = " | ".join(result["verdict"][:5])  # type: ignore[index]
            print(f"seed {seed}: exit {result['exit']} in {result['seconds']}s: {verdict}")
            sys.stdout.flush()
    print(f"{failed} of {len(parse_seeds(args.seeds))} runs did not pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
