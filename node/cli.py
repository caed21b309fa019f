"""etcd-node: one cluster member, started with etcd 3.4's own command line.

The flags are etcd's: the same names and value syntax (`--flag value`, `--flag=value` and Go's
single-dash `-flag`), ETCD_* environment variables for flags not given, and etcd's error texts.
A bad flag or configuration is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import NoReturn

from node import failpoints
from node.server.config import FLAGS, FLAGS_BY_NAME, SECTIONS, load_config
from node.server.flag_values import ConfigError

PROG = "etcd-node"
DISTRIBUTION = "etcd-console"
ETCD_API = "3.4"


@dataclass(slots=True)
class CommandLine:
    """A parsed command line: the flags given (name -> text) and the help/version requests."""

    flags: dict[str, str]
    help: bool
    version: bool


class _FlagParser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of printing its own usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser for etcd's flags; a flag not given is absent from the namespace."""
    parser = _FlagParser(prog=PROG, add_help=False, allow_abbrev=False, exit_on_error=False)
    for flag in FLAGS:
        if flag.is_bool:
            parser.add_argument(
                f"--{flag.name}", dest=flag.name, nargs="?", const="true", default=argparse.SUPPRESS
            )
        else:
            parser.add_argument(f"--{flag.name}", dest=flag.name, default=argparse.SUPPRESS)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--version", action="store_true")
    return parser


def _double_dashed(args: Sequence[str]) -> list[str]:
    """Go's flag package takes -flag as well as --flag; argparse knows the long form only."""
    known = {*FLAGS_BY_NAME, "help", "version"}
    return [
        "-" + arg
        if arg.startswith("-") and not arg.startswith("--") and arg[1:].split("=")[0] in known
        else arg
        for arg in args
    ]


def parse_command_line(args: Sequence[str]) -> CommandLine:
    """The flags and requests in args; raises ConfigError with Go's flag package texts."""
    try:
        namespace, extras = build_parser().parse_known_args(_double_dashed(args))
    except argparse.ArgumentError as error:
        if error.message == "expected one argument" and error.argument_name:
            raise ConfigError(
                f"flag needs an argument: -{error.argument_name.lstrip('-')}"
            ) from None
        raise ConfigError(str(error)) from None
    if extras:
        first = extras[0]
        if first == "--" and len(extras) > 1:
            raise ConfigError(f"'{extras[1]}' is not a valid flag")
        if first.startswith("-") and first not in ("-", "--"):
            raise ConfigError(f"flag provided but not defined: -{first.lstrip('-').split('=')[0]}")
        if first != "--":
            raise ConfigError(f"'{first}' is not a valid flag")
    given = vars(namespace)
    wants_help, wants_version = given.pop("help"), given.pop("version")
    return CommandLine(flags=given, help=wants_help, version=wants_version)


def usage() -> str:
    """The --help text, laid out as `etcd --help`: commands, then each section's flags."""
    lines = [
        "Usage:",
        "",
        f"  {PROG} [flags]",
        "    Start one etcd-compatible cluster member.",
        "",
        f"  {PROG} --version",
        f"    Show the version of {PROG}.",
        "",
        f"  {PROG} -h | --help",
        f"    Show the help information about {PROG}.",
        "",
    ]
    for section in SECTIONS:
        lines += ["", f"{section}:"]
        for flag in FLAGS:
            if flag.section == section:
                lines += [f"  --{flag.name} '{flag.default}'", f"    {flag.help}"]
    lines += [
        "",
        "Every flag can also be set with an environment variable named ETCD_ and the flag in",
        "upper snake case (ETCD_INITIAL_CLUSTER_TOKEN for --initial-cluster-token); a flag on",
        "the command line wins over its variable.",
        "",
        f"{failpoints.FAILPOINTS_ENV}='name=terms;...' arms crash points at start, as etcd's",
        "gofail builds (terms: [N*]panic, sleep(MS), return, off; names: node/server/README.md).",
    ]
    return "\n".join(lines)


def version_line() -> str:
    """What --version prints."""
    return f"{PROG} version {version(DISTRIBUTION)} (etcd API {ETCD_API})"


def _is_fresh(data_dir: str) -> bool:
    """True when the data dir holds nothing yet: only then does etcd check --initial-cluster."""
    return not os.path.exists(data_dir) or not os.listdir(data_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Start a member from argv (default: the process arguments); returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        command = parse_command_line(args)
        if command.help:
            print(usage())
            return 0
        if command.version:
            print(version_line())
            return 0
        config = load_config(command.flags)
        if _is_fresh(config.data_dir):
            config.verify_initial_cluster()
        failpoints.arm_from_environment()
    except (ConfigError, ValueError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    try:
        from node.api.process import run_process
    except ModuleNotFoundError as error:
        if error.name != "node.api.process":
            raise
        print(f"{PROG}: the member process is not built yet", file=sys.stderr)
        return 1
    return run_process(config)
