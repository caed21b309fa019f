"""`python -m node.inspect wal|snap|db DIR [filters] [-w json]`: print what a member keeps on
disk; bad input is one clear line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence

import lmdb

from node.inspect.data_dir import member_data_paths
from node.inspect.db import inspect_db
from node.inspect.rows import InspectError, Row
from node.inspect.snap import inspect_snap
from node.inspect.wal import TYPES, WalFilter, inspect_wal, parse_types
from node.wal.errors import WalError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m node.inspect",
        description="Inspect a member's data directory read-only (safe on a running member).",
    )
    parser.add_argument("-w", "--write-out", choices=("simple", "json"), default="simple",
                        help="output format: readable text, or JSON lines")
    kinds = parser.add_subparsers(dest="what", required=True)
    wal = kinds.add_parser("wal", help="WAL segments and records, entries decoded")
    wal.add_argument("dir", help="the member's data directory")
    wal.add_argument("--start-index", type=int, default=0,
                     help="show entries and snapshot markers from this index on")
    wal.add_argument("--end-index", type=int, default=None,
                     help="show entries and snapshot markers up to this index")
    wal.add_argument("--types", default=None,
                     help=f"comma-separated record types to show: {', '.join(TYPES)}")
    snap = kinds.add_parser("snap", help="snapshot files and their WAL markers")
    snap.add_argument("dir", help="the member's data directory")
    db = kinds.add_parser("db", help="backend buckets, meta, key revisions, leases, members")
    db.add_argument("dir", help="the member's data directory")
    db.add_argument("--prefix", default="", help="show only keys starting with this prefix")
    for sub in (wal, snap, db):
        sub.add_argument("-w", "--write-out", choices=("simple", "json"),
                         default=argparse.SUPPRESS, help="output format")
    return parser


def rows(args: argparse.Namespace) -> Iterator[Row]:
    """The rows the parsed command asks for."""
    paths = member_data_paths(args.dir)
    if args.what == "wal":
        types = parse_types(args.types) if args.types else None
        return inspect_wal(paths, WalFilter(args.start_index, args.end_index, types))
    if args.what == "snap":
        return inspect_snap(paths)
    return inspect_db(paths, args.prefix.encode())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = args.write_out == "json"
    try:
        for row in rows(args):
            print(row.to_json() if as_json else row.text)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (| head) has had enough; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (InspectError, WalError, OSError, lmdb.Error) as exc:
        sys.stdout.flush()
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
