"""fsync'd WAL save throughput for batches of 1, 10 and 100 entries (a measurement, not a test).

    .venv/bin/python benchmarks/wal_bench.py [--dir DIR] [--seconds 2] [--value-size 256]

Each save is one write and one fdatasync (group commit), so entries/s grows with batch size
while saves/s stays near the disk's fsync rate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from node.raft.types import Entry, HardState
from node.wal import WAL


def measure(directory: Path, batch: int, seconds: float, value_size: int) -> str:
    """Save batches of `batch` entries for about `seconds`; report rates and latencies."""
    latencies: list[float] = []
    index = 0
    value = b"v" * value_size
    with WAL.create(directory, b"bench") as wal:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            entries = [Entry(1, index + k, data=value) for k in range(1, batch + 1)]
            started = time.perf_counter()
            wal.save(HardState(term=1, vote=1, commit=index), entries)
            latencies.append(time.perf_counter() - started)
            index += batch
    elapsed = sum(latencies)
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"batch {batch:>3}: {len(latencies) / elapsed:8.0f} saves/s  "
        f"{index / elapsed:9.0f} entries/s  "
        f"p50 {cuts[49] * 1e3:6.2f} ms  p99 {cuts[98] * 1e3:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to put the WALs (default: a temp dir)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per batch size")
    parser.add_argument("--value-size", type=int, default=256, help="bytes of data per entry")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        for batch in (1, 10, 100):
            print(measure(Path(root) / f"wal-{batch}", batch, args.seconds, args.value_size))


if __name__ == "__main__":
    main()
