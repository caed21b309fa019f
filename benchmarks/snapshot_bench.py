"""Snapshot file figures: how long exporting a backend to etcd's bbolt layout (what
Maintenance.Snapshot streams) and importing one (--restore-from) take, beside the LMDB copy
the stream starts from, and the file sizes.

    .venv/bin/python benchmarks/snapshot_bench.py [--keys 100000] [--value-size 256]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.server.snapshot_db import export_snapshot_db, import_snapshot_db

BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-size", type=int, default=256)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="snapshot-bench-") as tmp:
        work = Path(tmp)
        backend = Backend(work / "source")
        store = KVStore(backend)
        for start in range(0, args.keys, BATCH):
            with backend.batch():
                for i in range(start, min(start + BATCH, args.keys)):
                    with store.write() as txn:
                        txn.put(b"key-%08d" % i, rng.randbytes(args.value_size))
        began = time.perf_counter()
        backend.copy_to(work / "copy")
        copied = time.perf_counter() - began
        began = time.perf_counter()
        size = export_snapshot_db(backend, work / "snapshot.db")
        exported = time.perf_counter() - began
        restored = Backend(work / "restored")
        began = time.perf_counter()
        import_snapshot_db(work / "snapshot.db", restored)
        imported = time.perf_counter() - began
        lmdb_size = (work / "copy" / "data.mdb").stat().st_size
        print(f"{args.keys:,} keys of {args.value_size} bytes")
        print(f"LMDB compacting copy   {copied:8.2f} s   {lmdb_size / 2**20:8.1f} MiB")
        print(f"export to etcd's bbolt {exported:8.2f} s   {size / 2**20:8.1f} MiB"
              f"   {args.keys / exported:,.0f} keys/s")
        print(f"import from bbolt      {imported:8.2f} s"
              f"                {args.keys / imported:,.0f} keys/s")
        restored.close()
        backend.close()


if __name__ == "__main__":
    main()
