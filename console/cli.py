"""etcd-console: a local etcd cluster playground, REPL, dashboard and demo runner.

`up` starts a playground cluster in the background, `status` shows its members, `down` stops
it; `play` starts one (or picks up the one running) and opens the dashboard on it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

import anyio

from console.chaos import command as chaos_command
from playground.errors import PlaygroundError
from playground.playground import DEFAULT_DIRECTORY, MAX_MEMBERS, MIN_MEMBERS, Playground
from playground.status import MemberStatus

PROG = "etcd-console"
_STATUS_HEADER = ("NAME", "ID", "PID", "STATE", "ROLE", "TERM", "RAFT INDEX", "ENDPOINT")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per front end or playground action."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start, break and watch a local etcd-compatible cluster.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = (
        ("play", "start a playground cluster (or pick up the running one) and show it"),
        ("up", "start a playground cluster in the background"),
        ("down", "stop the playground cluster"),
        ("status", "show one line per playground member"),
    )
    for name, summary in commands:
        command = sub.add_parser(name, help=summary, description=summary)
        command.add_argument(
            "--dir",
            default=DEFAULT_DIRECTORY,
            help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/)",
        )
        if name in ("play", "up"):
            command.add_argument(
                "--members",
                type=int,
                metavar="N",
                help=f"members of a new cluster, {MIN_MEMBERS} to {MAX_MEMBERS} (default: 3)",
            )
        if name == "play":
            command.add_argument(
                "--keep",
                action="store_true",
                help="leave the cluster running when the dashboard closes, without asking",
            )
    _add_tui_parser(sub)
    _add_repl_parser(sub)
    _add_demo_parser(sub)
    chaos_command.add_parser(sub)
    return parser


def _add_tui_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "open the live dashboard of the playground, or of the cluster at --endpoints"
    tui = sub.add_parser("tui", help=summary, description=summary)
    tui.add_argument(
        "--dir",
        default=DEFAULT_DIRECTORY,
        help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/)",
    )
    tui.add_argument(
        "--endpoints", metavar="HOST:PORT,...", help="native endpoints of members of ours"
    )
    tui.add_argument(
        "--etcd-endpoints",
        metavar="HOST:PORT,...",
        help="client URLs of a real etcd: watches, keys and members over gRPC",
    )
    _add_credential_flags(tui)


def _tui(args: argparse.Namespace) -> int:
    # imported here so that the other subcommands do not pay for loading Textual
    from console.tui import run_dashboard

    endpoints = [e for e in (args.endpoints or "").split(",") if e]
    etcd_endpoints = [e for e in (args.etcd_endpoints or "").split(",") if e]
    playground = None if endpoints or etcd_endpoints else Playground.attach(args.dir)
    try:
        user, password = credentials(args)
        return run_dashboard(playground, endpoints, etcd_endpoints, user=user, password=password)
    except ValueError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2


def _add_repl_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "open the command shell on the playground, or on the cluster at --endpoints"
    repl = sub.add_parser("repl", help=summary, description=summary)
    repl.add_argument(
        "--dir",
        help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/ unless --endpoints)",
    )
    repl.add_argument(
        "--endpoints", metavar="HOST:PORT,...", help="native endpoints of members of ours"
    )
    _add_credential_flags(repl)


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    """etcdctl's --user and --password: who the console is when the cluster has auth on."""
    parser.add_argument(
        "--user", metavar="NAME[:PASSWORD]", help="username[:password] for authentication"
    )
    parser.add_argument(
        "--password", help="password for authentication (if this option is used, --user "
        "option shouldn't include password)"
    )


def credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(user, password) from --user NAME[:PASSWORD] and --password, as etcdctl reads them;
    a user without a password is asked for one. ValueError for a password given twice."""
    if not args.user:
        return None, None
    name, colon, password = args.user.partition(":")
    if colon and args.password:
        raise ValueError("--user option shouldn't include password when --password is given")
    if not colon:
        password = args.password if args.password is not None else getpass.getpass("Password: ")
    return name, password


def _repl(args: argparse.Namespace) -> int:
    # imported here so that the other subcommands do not pay for loading prompt_toolkit
    from console.repl import main as repl_main

    try:
        user, password = credentials(args)
    except ValueError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    return repl_main(args.endpoints, args.dir, user=user, password=password)


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "run a demo script against a fresh playground, printing what happens"
    demo = sub.add_parser("demo", help=summary, description=summary)
    demo.add_argument("file", metavar="FILE", help="a demo script (demos/*.demo)")
    demo.add_argument("--step", action="store_true", help="wait for Enter before each command")
    demo.add_argument("--keep", action="store_true", help="leave the playground running after")
    demo.add_argument("--dir", help="the playground directory (default: a new temporary one)")
    demo.add_argument(
        "--tui", action="store_true", help="tell the demo inside the dashboard (q leaves)"
    )


def _demo(args: argparse.Namespace) -> int:
    from console.demo import DemoError, run_demo, run_demo_in_dashboard, wait_for_enter

    if args.tui:
        if args.step:
            print(f"{PROG}: --step and --tui do not go together", file=sys.stderr)
            return 2
        return run_demo_in_dashboard(args.file, directory=args.dir, keep=args.keep)

    step = wait_for_enter if args.step else None
    try:
        anyio.run(
            lambda: run_demo(args.file, directory=args.dir, step=step, keep=args.keep),
            backend="trio",
        )
    except DemoError as error:
        print(f"{PROG}: demo failed: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one etcd-console command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "tui":
            return _tui(args)
        if args.command == "repl":
            return _repl(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "chaos":
            return chaos_command.run_command(args)
        if args.command == "up":
            _up(args.dir, args.members)
        elif args.command == "play":
            _play(args.dir, args.members, keep=args.keep)
        elif args.command == "down":
            _down(args.dir)
        else:
            _status(args.dir)
    except PlaygroundError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


def _up(directory: str, members: int | None) -> Playground:
    playground = Playground(directory, members)
    leader = anyio.run(playground.start)
    print(f"started {len(playground.members)} members in {playground.directory}; leader: {leader}")
    return playground


def _play(directory: str, members: int | None, *, keep: bool) -> None:
    """Start (or pick up) the playground and open the dashboard on it; on a terminal, ask
    afterwards whether to stop the cluster. Without a terminal, leave it running and say how
    to attach."""
    try:
        playground = Playground.attach(directory)
    except PlaygroundError:
        playground = _up(directory, members)
    else:
        if any(playground.state(name) != "down" for name in playground.members):
            print(f"the playground in {playground.directory} is already running")
        else:
            playground = _up(directory, members)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _print_statuses(anyio.run(playground.statuses))
        print()
        print(_attach_hints(playground, directory))
        return
    from console.tui import run_dashboard

    run_dashboard(playground)
    if keep or not _confirm("Stop the playground cluster? [Y/n] "):
        print(f"the playground keeps running: {PROG} down{_dir_flag(directory)} stops it")
        return
    anyio.run(playground.stop)
    print(f"stopped the playground in {playground.directory}")


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        return True
    return answer.strip().lower() in ("", "y", "yes")


def _down(directory: str) -> None:
    playground = Playground.attach(directory)
    anyio.run(playground.stop)
    print(f"stopped the playground in {playground.directory}")


def _status(directory: str) -> None:
    playground = Playground.attach(directory)
    _print_statuses(anyio.run(playground.statuses))
    if not playground.running:
        print(f"the playground is stopped: start it again with {PROG} up{_dir_flag(directory)}")


def _print_statuses(statuses: list[MemberStatus]) -> None:
    print(status_table(statuses))
    for status in statuses:
        if status.error:
            print(f"{status.name}: {status.error}")


def status_table(statuses: list[MemberStatus]) -> str:
    """The members as a table drawn like etcdctl's `-w table` output."""
    rows = [_STATUS_HEADER, *(_status_row(status) for status in statuses)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_STATUS_HEADER))]
    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+"
    header, *body = (_table_line(row, widths, "^" if row is rows[0] else ">") for row in rows)
    return "\n".join([rule, header, rule, *body, rule])


def _table_line(cells: Sequence[str], widths: list[int], align: str) -> str:
    return "|" + "|".join(f" {c:{align}{w}} " for c, w in zip(cells, widths, strict=True)) + "|"


def _status_row(status: MemberStatus) -> tuple[str, ...]:
    answered = bool(status.role)
    return (
        status.name,
        f"{status.id:x}" if status.id else "-",
        str(status.pid) if status.state != "down" else "-",
        status.state,
        status.role or "-",
        str(status.term) if answered else "-",
        str(status.raft_index) if answered else "-",
        status.endpoint,
    )


def _dir_flag(directory: str) -> str:
    return "" if directory == DEFAULT_DIRECTORY else f" --dir {directory}"


def _attach_hints(playground: Playground, directory: str) -> str:
    flag = _dir_flag(directory)
    return "\n".join(
        [
            f"attach:  {PROG} repl{flag}   or   {PROG} tui{flag}",
            f"etcdctl: etcdctl --endpoints={','.join(playground.client_urls())} member list",
            f"stop:    {PROG} down{flag}",
        ]
    )
