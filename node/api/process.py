"""The etcd-node process: one member with its client front doors, until SIGTERM or SIGINT.

The member (node.server) runs with the native door on --listen-native-urls, and gRPC and HTTP
(health, metrics, the JSON gateway) sharing --listen-client-urls as etcd's (client_port.py);
/metrics and the health endpoints also on --listen-metrics-urls. The first SIGTERM or SIGINT
stops it cleanly: the gRPC door stops taking calls and gives those in flight a grace period to
be answered, streams end, the other doors close, then the member stops (waiting requests fail,
the WAL and backend close). A second signal skips the grace period. A member removed from its
cluster stops the same way.

A member whose disk refuses a write (the WAL, a snapshot, the backend: full, failing or
read-only) stops at once, as etcd's lg.Fatal: one line on stderr saying what failed and exit
status 1. Restarted once space is freed, it replays its WAL and rejoins.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator

import trio

from node.api.client_port import serve_client_port
from node.api.grpc_door import BindError, check_bindable, serve_grpc
from node.api.health_endpoints import metrics_door_of
from node.api.http_door import serve_http
from node.api.native import serve_native
from node.api.service import Service
from node.server.config import ServerConfig
from node.server.etcdserver import EtcdServer, open_etcd_server
from node.server.flag_values import ConfigError
from node.server.member import log_to_stderr
from node.server.member_storage import BootstrapError
from node.server.storage_failure import StorageFailure
from node.wal import WalError

log = logging.getLogger(__name__)

REPORTED_FAILURES = (
    StorageFailure, BootstrapError, WalError, BindError, ConfigError, OSError
)
"""What a member that cannot start, or must stop, raises: each is reported as one line on
stderr."""


async def serve_member(
    config: ServerConfig,
    stop: trio.Event,
    startup: trio.CancelScope | None = None,
    *,
    task_status: trio.TaskStatus[EtcdServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the member and its two doors until `stop` is set (or the member stops itself).

    task_status gets the server once both doors listen. Cancelling `startup` before then
    abandons the start (a signal while a joining member still waits for its peers).
    """

    async def run_server(*, task_status: trio.TaskStatus[EtcdServer]) -> None:
        try:
            async with open_etcd_server(config, capture_all_logs=True) as server:
                await server.run(task_status=task_status)
        finally:
            stop.set()

    async with trio.open_nursery() as member:
        server: EtcdServer | None = None
        async with trio.open_nursery() as doors:
            grpc_door = None
            with startup or trio.CancelScope():
                server = await member.start(run_server)
                await doors.start(serve_native, server, config)
                if config.client_port_http:
                    client_port = await doors.start(serve_client_port, server, config)
                    grpc_door = client_port.grpc_door
                else:
                    grpc_door = await doors.start(serve_grpc, server, config)
                if config.listen_metrics_urls:
                    metrics_door = metrics_door_of(Service(server))
                    await doors.start(serve_http, metrics_door, config.metrics_host_ports)
                task_status.started(server)
            if grpc_door is not None:
                await stop.wait()
                await grpc_door.stop()
            doors.cancel_scope.cancel()
        if server is not None:
            server.stop()


async def _stop_on_signals(
    signals: AsyncIterator[int],
    stop: trio.Event,
    startup: trio.CancelScope,
    everything: trio.CancelScope,
) -> None:
    """First signal: stop gracefully (or abandon a start in progress); second: stop now."""
    async for signum in signals:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        if stop.is_set():
            everything.cancel()
        stop.set()
        startup.cancel()


async def serve_until_signalled(config: ServerConfig) -> None:
    """Run the member until SIGTERM or SIGINT, then stop it cleanly."""
    stop = trio.Event()
    startup = trio.CancelScope()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stop_on_signals, signals, stop, startup, nursery.cancel_scope)
            await serve_member(config, stop, startup)
            nursery.cancel_scope.cancel()


def _reported_failure(error: BaseException) -> BaseException | None:
    """The failure to report in what trio.run raised, looking inside exception groups."""
    if isinstance(error, REPORTED_FAILURES):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _reported_failure(inner)
            if found is not None:
                return found
    return None


def check_listen_addresses(config: ServerConfig) -> None:
    """BindError for the first address the member would listen on that is taken: client
    (gRPC and HTTP), native, peer (which also carries the peer API) and metrics, so a clash is
    reported before the member starts."""
    addresses = [
        *config.client_host_ports,
        *config.native_host_ports,
        *config.peer_host_ports,
        *config.metrics_host_ports,
    ]
    for host, port in addresses:
        check_bindable(host, port)


def run_process(config: ServerConfig) -> int:
    """The etcd-node process main: serve until signalled; the exit status (1: cannot start)."""
    log_to_stderr(config.log_level)
    try:
        check_listen_addresses(config)
        trio.run(serve_until_signalled, config)
    except BaseException as error:
        failure = _reported_failure(error)
        if failure is None:
            raise
        print(f"etcd-node: {failure}", file=sys.stderr)
        return 1
    return 0
