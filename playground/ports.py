"""Free TCP ports on the loopback interface, chosen by the operating system.

The playground never uses fixed ports: each member's client, peer and native ports are ports
the kernel just handed out, so two playgrounds (or a real etcd) on one machine do not collide.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free on 127.0.0.1 a moment ago.

    All sockets stay bound until every port is picked, so the ports differ from each other.
    """
    with ExitStack() as sockets:
        ports = []
        for _ in range(count):
            listener = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            listener.bind((LOOPBACK, 0))
            ports.append(listener.getsockname()[1])
    return ports
