"""Free TCP ports on the loopback interface for the playground's members.

The playground never uses fixed ports, so two playgrounds (or a real etcd) on one machine do not
collide. Nor does it take them from the kernel's ephemeral range: a member that is down keeps
its ports in the cluster's records, and while it is down any outgoing connection on the machine
may be handed one of them as its source port, so the member could not bind it again when
restarted. Ports are picked at random below that range and kept only if they bind.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

LOOPBACK = "127.0.0.1"
LOWEST_PORT = 10_000
"""The lowest port picked: below it live the well-known and commonly configured services."""
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_LOW = 32_768
ATTEMPTS_PER_PORT = 100

_pick = random.SystemRandom()


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when unreadable)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_EPHEMERAL_LOW


def free_ports(count: int) -> list[int]:
    """`count` distinct ports below the ephemeral range that were free on 127.0.0.1 a moment
    ago (from the ephemeral range only when the range leaves no room below it).

    All sockets stay bound until every port is picked, so the ports differ from each other.
    """
    high = ephemeral_low()
    with ExitStack() as sockets:
        ports: list[int] = []
        for _ in range(count):
            listener = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            ports.append(_bind_below(listener, high))
    return ports


def _bind_below(listener: socket.socket, high: int) -> int:
    for _ in range(ATTEMPTS_PER_PORT if high > LOWEST_PORT else 0):
        port = _pick.randrange(LOWEST_PORT, high)
        try:
            listener.bind((LOOPBACK, port))
        except OSError:
            continue
        return port
    listener.bind((LOOPBACK, 0))
    return listener.getsockname()[1]
