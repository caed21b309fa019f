"""Running a member: `open_server` for trio code (tests run several in one process), and
`log_to_stderr` for a process main. The etcd-node process itself, with its client doors, is
`node.api.process.run_process` (the doors sit above this layer)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer, open_etcd_server
from node.server.events import JsonLineFormatter
from node.wal import SEGMENT_SIZE

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_server(
    config: ServerConfig, *, wal_segment_size: int = SEGMENT_SIZE
) -> AsyncIterator[EtcdServer]:
    """A running member for the duration of the block; stopped cleanly on exit."""
    async with (
        open_etcd_server(config, wal_segment_size=wal_segment_size) as server,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(server.run)
        try:
            yield server
        finally:
            server.stop()


def log_to_stderr(level: str) -> None:
    """Send the member's log lines (JSON) to stderr at etcd's `--log-level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger("node")
    root.addHandler(handler)
    root.setLevel(
        {"warn": "WARNING", "panic": "CRITICAL", "fatal": "CRITICAL"}.get(level, level.upper())
    )
