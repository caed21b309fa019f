"""etcd-console: a local etcd cluster playground, REPL, dashboard and demo runner."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etcd-console",
        description="Start, break and watch a local etcd-compatible cluster.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("play", help="start a playground cluster and open the dashboard")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    parser.print_help()
    if args.command == "play":
        print("\nThe playground is not built yet: the raft core comes first.")
    return 0
