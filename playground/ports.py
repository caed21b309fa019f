"""Free TCP ports on the loopback interface for the playground's members, and the claims that
keep them a playground's own.

The playground never uses fixed ports, so two playgrounds (or a real etcd) on one machine do not
collide. Nor does it take them from the kernel's ephemeral range: a member that is down keeps
its ports in the cluster's records, and while it is down any outgoing connection on the machine
may be handed one of them as its source port, so the member could not bind it again when
restarted. Ports are picked at random below that range and kept only if they bind.

A free port is not yet a member's: between the pick and the member's bind, and while a member
is down, another playground could pick it too. So each port a playground uses is claimed
machine-wide with an abstract unix socket named after it (Linux): the name exists while any
process holding the socket lives, the supervising process and the member it passes the socket
to, and pickers skip a port whose name is taken. Nothing is left on disk when they exit.
"""

from __future__ import annotations

import random
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

LOOPBACK = "127.0.0.1"
LOWEST_PORT = 10_000
"""The lowest port picked: below it live the well-known and commonly configured services."""
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_LOW = 32_768
ATTEMPTS_PER_PORT = 100
CLAIMS_SUPPORTED = sys.platform.startswith("linux")
"""Abstract unix socket names are Linux's; elsewhere a port is only checked to bind."""

_pick = random.SystemRandom()


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when unreadable)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_EPHEMERAL_LOW


def claim_name(port: int) -> bytes:
    """The abstract unix socket name that claims `port` for an etcd-console playground."""
    return b"\0etcd-console/port/%d" % port


class PortClaims:
    """The ports one playground holds, each claimed by a socket this object keeps open.

    `pick` finds new free ports and claims them; `claim` takes back the recorded ports of a
    playground started again or attached to; `handles` are the sockets a member process must
    inherit so its ports stay claimed after this process exits. Closing a claim here leaves it
    held by any member that inherited it.
    """

    def __init__(self) -> None:
        self._sockets: dict[int, socket.socket | None] = {}
        """Each port picked or claimed, with its claim (None where claims are unsupported)."""

    def pick(self, count: int) -> list[int]:
        """`count` distinct ports below the ephemeral range (from the ephemeral range only
        when the range leaves no room below it), free on 127.0.0.1 and claimed by no other
        playground a moment ago, and now claimed by this one."""
        high = ephemeral_low()
        return [self._pick_one(high) for _ in range(count)]

    def _pick_one(self, high: int) -> int:
        for _ in range(ATTEMPTS_PER_PORT if high > LOWEST_PORT else 0):
            port = _pick.randrange(LOWEST_PORT, high)
            if self._claim_new(port):
                if _binds(port):
                    return port
                self.release([port])
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
                listener.bind((LOOPBACK, 0))
                port = listener.getsockname()[1]
            if self._claim_new(port):
                return port

    def _claim_new(self, port: int) -> bool:
        return port not in self._sockets and self.claim(port)

    def claim(self, port: int) -> bool:
        """Claim `port` for this playground; False if another process holds its claim."""
        if port in self._sockets:
            return True
        claim = None
        if CLAIMS_SUPPORTED:
            claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                claim.bind(claim_name(port))
            except OSError:
                claim.close()
                return False
        self._sockets[port] = claim
        return True

    def handles(self, ports: Iterable[int]) -> list[int]:
        """The file descriptors of the claims on `ports` this object holds, for a child."""
        claims = (self._sockets.get(port) for port in ports)
        return [claim.fileno() for claim in claims if claim is not None]

    def release(self, ports: Iterable[int]) -> None:
        """Close this process's claims on `ports` (members that inherited them keep them)."""
        for port in ports:
            claim = self._sockets.pop(port, None)
            if claim is not None:
                claim.close()

    def release_all(self) -> None:
        """Close every claim this object holds."""
        self.release(list(self._sockets))


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        try:
            listener.bind((LOOPBACK, port))
        except OSError:
            return False
    return True
