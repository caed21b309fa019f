"""The `etcd-console chaos` subcommand: its flags, and running or re-checking a run.

The parser is built with the console's other subcommands, so this module imports only the
fault names; the run itself (gRPC, the checkers) is loaded when the command runs.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from console.chaos.nemesis import ALL_FAULTS, Fault, parse_crash_points, parse_faults

if TYPE_CHECKING:
    from console.chaos.run import ChaosConfig, ChaosResult

DEFAULT_ROOT = ".etcd-console-chaos"
SNAPSHOT_COUNT_FOR_FAULTS = 1000
EXIT_TERMINATED = 128 + signal.SIGTERM
SUMMARY = "break a playground cluster on purpose and check what its clients saw"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `chaos` and its flags to the console's subcommands."""
    chaos = sub.add_parser(
        "chaos",
        help=SUMMARY,
        description=(
            f"{SUMMARY}: a workload of concurrent clients (native and gRPC) and one watcher "
            "per member run against a fresh playground while faults are injected; the "
            "history is then checked for linearizability, the watch guarantees, leases "
            "and lost writes. Exit status: 0 all checks passed, 1 a violation, 2 a check "
            "was inconclusive. --tui runs it inside the dashboard, so that the faults and the "
            "cluster's reaction show as they happen (q stops the run and leaves); or watch a "
            "run live with `etcd-console tui --dir DIR` in another terminal."
        ),
    )
    chaos.add_argument("--seconds", type=float, default=60.0, help="workload time (default 60)")
    chaos.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    chaos.add_argument("--members", type=int, default=3, help="cluster members (default 3)")
    chaos.add_argument("--keys", type=int, default=8, help="keys the clients share (default 8)")
    chaos.add_argument(
        "--faults",
        default="all",
        metavar="NAME,...",
        help=f"faults to inject (default all): {', '.join(f.value for f in ALL_FAULTS)}",
    )
    chaos.add_argument(
        "--crash-points",
        metavar="NAME,...",
        help="the member's crash points (gofail failpoints) the crash-point fault arms "
        "(default all; naming some adds the crash-point fault): "
        "see node/server/README.md, Crash points",
    )
    chaos.add_argument("--seed", type=int, help="the schedule's seed (default: a random one)")
    chaos.add_argument(
        "--dir",
        help=f"a fresh directory for the playground (default: ./{DEFAULT_ROOT}/seed-N-TIME/)",
    )
    chaos.add_argument(
        "--history", metavar="FILE", help="where to save the history (default: DIR/history.jsonl)"
    )
    chaos.add_argument(
        "--snapshot-count",
        type=int,
        metavar="N",
        help="members snapshot every N entries (default: 1000 when snapshot-bitflip or "
        "crash-point is among the faults, else etcd-node's default)",
    )
    chaos.add_argument(
        "--check", metavar="FILE", help="check a saved history again instead of running"
    )
    chaos.add_argument(
        "--record",
        metavar="FILE",
        help="record the session (members' events and trace, the faults) for replay and diagram",
    )
    chaos.add_argument(
        "--tls",
        action="store_true",
        help="the playground runs mutual TLS (as play --tls); every client dials with its "
        "client certificate",
    )
    chaos.add_argument(
        "--auth",
        action="store_true",
        help="auth on (needs --tls, as play --auth): the clients are root through their "
        "certificate's common name",
    )
    chaos.add_argument(
        "--tui",
        action="store_true",
        help="run inside the dashboard: faults and the cluster's reaction as they happen",
    )


def run_command(args: argparse.Namespace) -> int:
    """Run (or re-check) as the flags say; print the verdict; return the exit status."""
    import anyio

    from console.chaos.run import ChaosConfig, check_file, closing_lines

    if args.check:
        if args.tui:
            print("etcd-console chaos: --check and --tui do not go together", file=sys.stderr)
            return 2
        checked = check_file(Path(args.check))
        print(checked.report(limit=None))
        return checked.exit_status
    if args.tui and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "etcd-console chaos: --tui needs a terminal (standard input and output are not one)",
            file=sys.stderr,
        )
        return 2
    if args.auth and not args.tls:
        print(
            "etcd-console chaos: --auth needs --tls (the clients are root through their "
            "certificate's common name)",
            file=sys.stderr,
        )
        return 2
    try:
        faults = parse_faults(args.faults)
        crash_points = parse_crash_points(args.crash_points or "all")
    except ValueError as error:
        print(f"etcd-console chaos: {error}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = Path(args.dir) if args.dir else Path(DEFAULT_ROOT) / f"seed-{seed}-{stamp}"
    config = ChaosConfig(
        directory=directory,
        seed=seed,
        seconds=args.seconds,
        clients=args.clients,
        members=args.members,
        faults=faults,
        history=Path(args.history) if args.history else None,
        keys=args.keys,
        snapshot_count=args.snapshot_count,
        record=Path(args.record) if args.record else None,
        tls=args.tls,
        auth=args.auth,
        crash_points=crash_points,
    )
    if args.crash_points and Fault.CRASH_POINT not in faults:
        faults.append(Fault.CRASH_POINT)
    snapshots = {Fault.SNAPSHOT_BITFLIP, Fault.CRASH_POINT}
    if config.snapshot_count is None and snapshots & set(faults):
        config.snapshot_count = SNAPSHOT_COUNT_FOR_FAULTS
    if args.tui:
        # imported here so that a plain run does not pay for loading Textual
        from console.chaos.dashboard import run_chaos_in_dashboard

        return run_chaos_in_dashboard(config)
    result = anyio.run(_run_until_terminated, config, backend="asyncio")
    if result is None:
        print(f"etcd-console chaos: terminated; history in {config.history_path}", file=sys.stderr)
        return EXIT_TERMINATED
    print("\n".join(closing_lines(config, result)))
    return result.exit_status


async def _run_until_terminated(config: ChaosConfig) -> ChaosResult | None:
    """The run; None when SIGTERM (a campaign's or a CI job's time limit) ended it, which,
    as Ctrl-C, stops the members and saves the history rather than leave them running."""
    import anyio

    from console.chaos.run import run_chaos

    result: ChaosResult | None = None
    async with anyio.create_task_group() as group:

        async def cancel_on_sigterm() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    group.cancel_scope.cancel()

        group.start_soon(cancel_on_sigterm)
        result = await run_chaos(config)
        group.cancel_scope.cancel()
    return result

