"""etcd-node: one cluster member, started with etcd's own flag names."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etcd-node",
        description="One etcd-compatible cluster member (raft, WAL, MVCC, leases, watches).",
    )
    parser.add_argument("--name", default="default", help="human-readable name for this member")
    parser.add_argument("--data-dir", help="path to the data directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    print("\nThe member process is not built yet: see the node-server issue.")
    return 0
