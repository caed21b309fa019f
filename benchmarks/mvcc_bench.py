"""Key-space scale figures: put and range throughput, disk size, index memory, reopen time.

    .venv/bin/python benchmarks/mvcc_bench.py [--keys 100000] [--value-size 256]

Puts go through the server's txn layer (node.server.txn.put) in backend batches of --batch
puts, as the server applies them.
Reopening runs in a fresh process, so its RSS is what a restarted member holds: the heap
(mostly the key index) plus the LMDB pages it has touched. Index memory is what tracemalloc
sees allocated while a reopen rebuilds the index.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from node.messages.kv import PutRequest, RangeRequest
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.server import txn


def rss_mib(kind: str = "VmRSS") -> float:
    """Resident memory from /proc: VmRSS (all), RssAnon (heap) or RssFile (mapped files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def print_rss(label: str) -> None:
    print(
        f"{label:<34} {rss_mib():>12,.0f} MiB"
        f"   (heap {rss_mib('RssAnon'):,.0f}, mapped db pages {rss_mib('RssFile'):,.0f})"
    )


def key_of(n: int) -> bytes:
    return b"/registry/key/%010d" % n


def timed(label: str, count: int, unit: str, action) -> float:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {count / elapsed:>12,.0f} {unit}/s   ({elapsed:.2f} s)")
    return elapsed


def write_and_read(path: Path, n: int, value: bytes, batch: int) -> None:
    """Fill a fresh store, read it back, overwrite a tenth, hash and compact it."""
    rng = random.Random(1)
    backend = Backend(path)
    kv = KVStore(backend)

    def put_keys(keys: list[bytes]) -> None:
        for first in range(0, len(keys), batch):
            with backend.batch():
                for key in keys[first : first + batch]:
                    txn.put(kv, PutRequest(key, value))

    new_keys = [key_of(i) for i in range(n)]
    timed("put (new keys)", n, "puts", lambda: put_keys(new_keys))
    print_rss("RSS after puts")

    gets = [key_of(rng.randrange(n)) for _ in range(20_000)]
    timed(
        "get (single key)",
        len(gets),
        "gets",
        lambda: [txn.range(kv, RangeRequest(k)) for k in gets],
    )
    starts = [rng.randrange(max(n - 100, 1)) for _ in range(2_000)]
    timed(
        "range (100 keys)",
        len(starts),
        "ranges",
        lambda: [txn.range(kv, RangeRequest(key_of(s), key_of(s + 100))) for s in starts],
    )

    updates = [key_of(rng.randrange(n)) for _ in range(n // 10)]
    timed("put (overwrite 10% of keys)", len(updates), "puts", lambda: put_keys(updates))
    timed("hash_kv (whole history)", 1, "hashes", kv.hash_kv)
    timed("compact (drop overwritten)", 1, "compactions", lambda: kv.compact(kv.current_revision))
    print(f"{'backend size on disk':<34} {backend.size() / 2**20:>12,.1f} MiB")
    print(f"{'backend size in use':<34} {backend.size_in_use() / 2**20:>12,.1f} MiB")
    backend.close()


def reopen(path: Path) -> None:
    """Time the index rebuild, then measure what the rebuilt index allocates."""
    start = time.perf_counter()
    kv = KVStore(Backend(path))
    elapsed = time.perf_counter() - start
    n = len(kv.index)
    print(f"{'reopen (rebuild index)':<34} {elapsed:>12.2f} s   ({n / elapsed:,.0f} keys/s)")
    print_rss("RSS after reopen")
    kv.backend.close()
    del kv

    tracemalloc.start()
    kv = KVStore(Backend(path))
    index_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{'key index memory (tracemalloc)':<34} {index_bytes / 2**20:>12,.1f} MiB"
        f"   ({index_bytes / len(kv.index):,.0f} bytes/key)"
    )
    kv.backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="where to put the database (a temp dir)")
    parser.add_argument("--reopen", metavar="DB", help="only measure reopening this database")
    args = parser.parse_args()
    if args.reopen:
        reopen(Path(args.reopen))
        return

    root = Path(args.dir or tempfile.mkdtemp(prefix="mvcc-bench-"))
    path = root / "db"
    shutil.rmtree(path, ignore_errors=True)
    print(f"{args.keys:,} keys, {args.value_size} B values, batches of {args.batch}; db in {path}")
    print_rss("RSS at start")
    write_and_read(path, args.keys, b"v" * args.value_size, args.batch)
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--reopen", str(path)], check=True)
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
