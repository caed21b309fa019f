"""Running a member: `open_server` for trio code (tests run several in one process) and
`run_member`, the etcd-node process main (SIGTERM / SIGINT stop it cleanly)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer
from node.server.events import JsonLineFormatter
from node.server.member_storage import BootstrapError
from node.wal import WalError

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_server(config: ServerConfig, **options: object) -> AsyncIterator[EtcdServer]:
    """A running member for the duration of the block; stopped cleanly on exit.

    `options` go to EtcdServer (wal_segment_size, capture_all_logs).
    """
    server = EtcdServer(config, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        try:
            yield server
        finally:
            server.stop()


async def serve_until_signalled(config: ServerConfig) -> None:
    """Run one member until SIGTERM or SIGINT, then stop it."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_server(config, capture_all_logs=True) as server:
            async for signum in signals:
                logger.info(
                    "member %x: received %s, shutting down",
                    server.member_id, signal.Signals(signum).name,
                )
                return


def _log_to_stderr(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger("node")
    root.addHandler(handler)
    root.setLevel({"warn": "WARNING", "panic": "CRITICAL", "fatal": "CRITICAL"}.get(
        level, level.upper()
    ))


def run_member(config: ServerConfig) -> int:
    """The etcd-node process: run the member until signalled; returns the exit status."""
    _log_to_stderr(config.log_level)
    try:
        trio.run(serve_until_signalled, config)
    except (BootstrapError, WalError, OSError) as exc:
        print(f"etcd-node: {exc}", file=sys.stderr)
        return 1
    return 0
