"""etcd-console: a local etcd cluster playground, REPL, dashboard and demo runner.

`up` starts a playground cluster in the background, `status` shows its members, `down` stops
it; `play` starts one (or picks up the one running) and opens the dashboard on it; `inspect`
shows what a member keeps on disk.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

import anyio

from console.chaos import command as chaos_command
from console.disk_inspection import (
    INSPECTORS,
    data_dir_of,
    inspector_argv,
    run_inspector_here,
)
from node.client import ClientTls
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
        if name in ("play", "up"):
            command.add_argument(
                "--tls",
                action="store_true",
                help="mutual TLS between members and with clients, with a CA and certificates "
                "made in <dir>/certs (the client's CN is root)",
            )
            command.add_argument(
                "--auth",
                action="store_true",
                help="auth on (needs --tls): a root user without a password, whom the client "
                "certificate's CN names (etcd's --client-cert-auth)",
            )
        if name == "play":
            command.add_argument(
                "--keep",
                action="store_true",
                help="leave the cluster running when the dashboard closes, without asking",
            )
            command.add_argument(
                "--record",
                metavar="FILE",
                help="record the session (events, logs, commands) to FILE: see replay, diagram",
            )
    _add_tui_parser(sub)
    _add_repl_parser(sub)
    _add_demo_parser(sub)
    _add_inspect_parser(sub)
    _add_trace_parser(sub)
    _add_recording_parsers(sub)
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
    _add_connection_flags(tui)
    _add_credential_flags(tui)


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """etcdctl's TLS flags, for a secured cluster (a TLS playground needs none)."""
    parser.add_argument("--cacert", default="", help="verify the members with this CA bundle")
    parser.add_argument("--cert", default="", help="identify with this TLS client certificate")
    parser.add_argument("--key", default="", help="the key of the --cert client certificate")
    parser.add_argument(
        "--insecure-skip-tls-verify",
        action="store_true",
        help="do not verify the members' certificates (not for the dashboard's --etcd-endpoints)",
    )


def _client_tls(args: argparse.Namespace, *endpoint_lists: str | None) -> ClientTls | None:
    endpoints = [e for text in endpoint_lists for e in (text or "").split(",") if e]
    try:
        tls = ClientTls.from_flags(
            endpoints, args.cacert, args.cert, args.key, args.insecure_skip_tls_verify
        )
    except ValueError as error:
        raise PlaygroundError(str(error)) from None
    return tls


def _tui(args: argparse.Namespace) -> int:
    # imported here so that the other subcommands do not pay for loading Textual
    from console.tui import run_dashboard

    endpoints = [e for e in (args.endpoints or "").split(",") if e]
    etcd_endpoints = [e for e in (args.etcd_endpoints or "").split(",") if e]
    tls = _client_tls(args, args.endpoints, args.etcd_endpoints)
    if tls is not None and tls.insecure_skip_tls_verify and etcd_endpoints:
        raise PlaygroundError(
            "--insecure-skip-tls-verify works in the dashboard with --endpoints (members of "
            "ours) only: give --etcd-endpoints their --cacert"
        )
    playground = None if endpoints or etcd_endpoints else Playground.attach(args.dir)
    try:
        user, password = credentials(args)
        return run_dashboard(
            playground, endpoints, etcd_endpoints, tls, user=user, password=password
        )
    except ValueError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2


def _add_repl_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = (
        "open the command shell on the playground, on members of ours at --endpoints, or on "
        "any etcd at --etcd-endpoints"
    )
    repl = sub.add_parser("repl", help=summary, description=summary)
    repl.add_argument(
        "--dir",
        help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/ unless --endpoints)",
    )
    repl.add_argument(
        "--endpoints", metavar="HOST:PORT,...", help="native endpoints of members of ours"
    )
    repl.add_argument(
        "--etcd-endpoints",
        metavar="URL,...",
        help="client URLs of any etcd (a real one, or ours): every command over etcd's gRPC API",
    )
    _add_connection_flags(repl)
    _add_credential_flags(repl)


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    """etcdctl's --user and --password: who the console is when the cluster has auth on."""
    parser.add_argument(
        "--user", metavar="NAME[:PASSWORD]", help="username[:password] for authentication"
    )
    parser.add_argument(
        "--password",
        help="password for authentication (if this option is used, --user "
        "option shouldn't include password)",
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
    if args.etcd_endpoints and (args.endpoints or args.dir):
        print(f"{PROG}: --etcd-endpoints goes with neither --endpoints nor --dir", file=sys.stderr)
        return 2
    return repl_main(
        args.endpoints,
        args.dir,
        _client_tls(args, args.endpoints, args.etcd_endpoints),
        user=user,
        password=password,
        etcd_endpoints=args.etcd_endpoints,
    )


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
    demo.add_argument(
        "--record", metavar="FILE", help="record the session (events, trace, commands) to FILE"
    )


def _demo(args: argparse.Namespace) -> int:
    from console.demo import DemoError, run_demo, run_demo_in_dashboard, wait_for_enter

    if args.tui:
        if args.step or args.record:
            print(f"{PROG}: --step and --record do not go with --tui", file=sys.stderr)
            return 2
        return run_demo_in_dashboard(args.file, directory=args.dir, keep=args.keep)

    step = wait_for_enter if args.step else None
    try:
        anyio.run(
            lambda: run_demo(
                args.file, directory=args.dir, step=step, keep=args.keep, record=args.record
            ),
            backend="trio",
        )
    except DemoError as error:
        print(f"{PROG}: demo failed: {error}", file=sys.stderr)
        return 1
    return 0


def _add_inspect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "show a member's WAL, snapshot files or backend, read-only (safe while it runs)"
    inspect = sub.add_parser("inspect", help=summary, description=summary)
    inspect.add_argument("what", choices=INSPECTORS, help="wal, snap or db")
    inspect.add_argument(
        "target", metavar="NAME|PATH", help="a playground member, or a member's data directory"
    )
    inspect.add_argument(
        "--dir",
        default=DEFAULT_DIRECTORY,
        help=f"the playground directory NAME is in (default: ./{DEFAULT_DIRECTORY}/)",
    )
    inspect.add_argument(
        "-w", "--write-out", choices=("simple", "json"), default="simple",
        help="readable text, or JSON lines",
    )  # fmt: skip
    inspect.add_argument("--start-index", type=int, help="wal: entries from this index on")
    inspect.add_argument("--end-index", type=int, help="wal: entries up to this index")
    inspect.add_argument("--types", help="wal: record types to show, comma-separated")
    inspect.add_argument("--prefix", help="db: only keys starting with this prefix")


def _inspect(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    options = []
    for flag, applies in (
        ("start_index", "wal"),
        ("end_index", "wal"),
        ("types", "wal"),
        ("prefix", "db"),
    ):
        value = getattr(args, flag)
        if value is None:
            continue
        name = "--" + flag.replace("_", "-")
        if args.what != applies:
            parser.error(f"{name} is for inspect {applies}, not inspect {args.what}")
        options += [name, str(value)]
    try:
        playground = Playground.attach(args.dir)
    except PlaygroundError:
        playground = None
    data_dir = data_dir_of(args.target, playground)
    json_lines = args.write_out == "json"
    return run_inspector_here(inspector_argv(args.what, data_dir, options, json_lines))


def _add_trace_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "print the playground members' trace events, merged by time, as JSON lines"
    trace = sub.add_parser("trace", help=summary, description=summary)
    trace.add_argument(
        "--dir",
        default=DEFAULT_DIRECTORY,
        help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/)",
    )
    trace.add_argument(
        "--types",
        metavar="KIND,...",
        help="trace event kinds (msg_send, msg_recv, ready, wal_save, apply, ...; default: all)",
    )
    trace.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    trace.add_argument(
        "--seconds", type=float, metavar="N", help="stop after N seconds (default: at Ctrl-C)"
    )


def _trace(args: argparse.Namespace) -> int:
    from console.trace_stream import TraceKindError, stream_trace, trace_kinds

    try:
        kinds = trace_kinds(args.types)
    except TraceKindError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    if args.seconds is not None and args.seconds <= 0:
        print(f"{PROG}: --seconds must be positive, not {args.seconds}", file=sys.stderr)
        return 2
    playground = Playground.attach(args.dir)
    members = {name: record.native_endpoint for name, record in playground.members.items()}
    out = sys.stdout if args.output is None else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    reader_left = False
    tallies = {}
    try:
        tallies = anyio.run(
            lambda: stream_trace(
                members, kinds, out, seconds=args.seconds, tls=playground.client_tls()
            ),
            backend="trio",
        )
    except* BrokenPipeError:
        reader_left = True  # `etcd-console trace | head`: the reader has all it wanted
    finally:
        if out is not sys.stdout:
            out.close()
    if reader_left:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    counts = ", ".join(
        f"{name} {tally.events} events ({tally.dropped} dropped)" for name, tally in tallies.items()
    )
    print(f"{PROG} trace: {counts or 'no events'}", file=sys.stderr)
    return 0


def _add_recording_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = "record the playground's whole session (trace, state events, logs) to a file"
    record = sub.add_parser("record", help=summary, description=summary)
    record.add_argument(
        "--dir",
        default=DEFAULT_DIRECTORY,
        help=f"the playground directory (default: ./{DEFAULT_DIRECTORY}/)",
    )
    record.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="session.etcdrec",
        help="(default: session.etcdrec)",
    )
    record.add_argument(
        "--seconds", type=float, metavar="N", help="stop after N seconds (default: at Ctrl-C)"
    )
    summary = "open the dashboard on a recording, with a time control"
    replay = sub.add_parser("replay", help=summary, description=summary)
    replay.add_argument(
        "file", metavar="FILE", help="a recording (record, play --record, chaos --record)"
    )
    replay.add_argument(
        "--at-violation",
        action="store_true",
        help="open a chaos run's recording paused at the first violation its checks found",
    )
    summary = "draw a recording's message sequence chart as SVG, or HTML with hover"
    diagram = sub.add_parser("diagram", help=summary, description=summary)
    diagram.add_argument("file", metavar="FILE", help="a recording (record, play --record)")
    for flag, dest in (("--from", "start"), ("--to", "end")):
        diagram.add_argument(
            flag, dest=dest, type=float, metavar="T", help="seconds from the recording's start"
        )
    diagram.add_argument(
        "--types",
        metavar="TYPE,...",
        help="message types (MsgApp,MsgVote,...; default: all but heartbeats)",
    )
    diagram.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="out.svg, or out.html for hover"
    )


def _record(args: argparse.Namespace) -> int:
    from console.recording import header_line, open_for_writing
    from console.trace_stream import stream_trace
    from node.messages.member_events import ALL_TRACE, STATE_KINDS

    if args.seconds is not None and args.seconds <= 0:
        print(f"{PROG}: --seconds must be positive, not {args.seconds}", file=sys.stderr)
        return 2
    playground = Playground.attach(args.dir)
    members = {name: record.native_endpoint for name, record in playground.members.items()}
    kinds = [*sorted(STATE_KINDS), ALL_TRACE]
    with open_for_writing(args.output) as out:
        out.write(header_line(members))
        tallies = anyio.run(
            lambda: stream_trace(
                members, kinds, out, seconds=args.seconds, tls=playground.client_tls()
            ),
            backend="trio",
        )
    events = sum(tally.events for tally in tallies.values())
    dropped = sum(tally.dropped for tally in tallies.values())
    print(f"{PROG} record: {events} events ({dropped} dropped) in {args.output}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from console.recording import RecordingError, read_recording

    try:
        recording = read_recording(args.file)
    except RecordingError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    from console.recording import VIOLATION
    from console.tui.replay import ReplayApp

    if args.at_violation and not any(event.kind == VIOLATION for event in recording.events):
        print(
            f"{PROG}: {args.file} marks no violation (a chaos run's recording marks those "
            "its checks found; this one's run found none, or it is not a chaos run's)",
            file=sys.stderr,
        )
        return 1
    app = ReplayApp(recording, args.file, at_violation=args.at_violation)
    app.run()
    return app.return_code or 0


def _diagram(args: argparse.Namespace) -> int:
    from console.diagram import DiagramChoice, render
    from console.recording import RecordingError, read_recording

    try:
        recording = read_recording(args.file)
    except RecordingError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    types = frozenset(name.strip() for name in (args.types or "").split(",") if name.strip())
    choice = DiagramChoice(args.start, args.end, types)
    html = args.output.lower().endswith((".html", ".htm"))
    text = render(recording.events, choice, html, f"{PROG} diagram of {args.file}")
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        print(f"{PROG}: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
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
        if args.command == "trace":
            return _trace(args)
        if args.command == "record":
            return _record(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "diagram":
            return _diagram(args)
        if args.command == "chaos":
            return chaos_command.run_command(args)
        if args.command == "inspect":
            return _inspect(parser, args)
        if args.command == "up":
            _up(args.dir, args.members, args.tls, args.auth)
        elif args.command == "play":
            _play(
                args.dir, args.members, args.tls, args.auth, keep=args.keep, record=args.record
            )
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


def _up(directory: str, members: int | None, tls: bool, auth: bool) -> Playground:
    playground = Playground(directory, members, tls=tls or None, auth=auth or None)
    leader = anyio.run(playground.start)
    secured = " over mutual TLS" if playground.record.tls else ""
    if playground.record.auth:
        secured += ", auth on (the client certificate is root's)"
    print(
        f"started {len(playground.members)} members{secured} in {playground.directory}; "
        f"leader: {leader}"
    )
    return playground


def _play(
    directory: str,
    members: int | None,
    tls: bool,
    auth: bool,
    *,
    keep: bool,
    record: str | None,
) -> None:
    """Start (or pick up) the playground and open the dashboard on it; on a terminal, ask
    afterwards whether to stop the cluster. Without a terminal, leave it running and say how
    to attach."""
    try:
        playground = Playground.attach(directory)
    except PlaygroundError:
        playground = _up(directory, members, tls, auth)
    else:
        if any(playground.state(name) != "down" for name in playground.members):
            print(f"the playground in {playground.directory} is already running")
        else:
            playground = _up(directory, members, tls, auth)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _print_statuses(anyio.run(playground.statuses))
        print()
        print(_attach_hints(playground, directory))
        return
    from console.tui import run_dashboard

    run_dashboard(playground, record=record)
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
    files = playground.certificates
    tls_flags = "" if files is None else " " + " ".join(files.etcdctl_flags())
    return "\n".join(
        [
            f"attach:  {PROG} repl{flag}   or   {PROG} tui{flag}",
            f"etcdctl: etcdctl --endpoints={','.join(playground.client_urls())}{tls_flags} "
            "member list",
            f"stop:    {PROG} down{flag}",
        ]
    )
