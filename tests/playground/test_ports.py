"""The playground's ports: free, distinct, out of the kernel's ephemeral range (so no outgoing
connection takes a stopped member's port before it restarts), and claimed machine-wide (so no
other playground picks a port between our pick and the member's bind, or while it is down)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from playground import ports
from playground.ports import LOOPBACK, LOWEST_PORT, PortClaims, ephemeral_low


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    claims = PortClaims()
    picked = claims.pick(30)
    assert len(set(picked)) == 30
    assert all(LOWEST_PORT <= port < ephemeral_low() for port in picked)
    for port in picked:
        with socket.socket() as listener:
            listener.bind((LOOPBACK, port))
    claims.release_all()


def test_a_range_that_leaves_no_room_below_falls_back_to_the_kernels_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = tmp_path / "ip_local_port_range"
    wide.write_text("1024\t65000\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", wide)
    assert ephemeral_low() == 1024
    claims = PortClaims()
    picked = claims.pick(3)
    assert len(set(picked)) == 3
    assert all(1024 <= port <= 65535 for port in picked)
    claims.release_all()


def test_a_port_one_playground_claimed_is_not_another_ones_until_released() -> None:
    ours, theirs = PortClaims(), PortClaims()
    picked = ours.pick(3)
    assert [theirs.claim(port) for port in picked] == [False, False, False]
    ours.release(picked[:1])
    assert theirs.claim(picked[0])
    assert not ours.claim(picked[0])
    ours.release_all()
    theirs.release_all()


def test_a_member_that_inherited_a_claim_holds_it_after_the_supervisor_lets_go() -> None:
    """`etcd-console up` exits and leaves its members running: their ports stay claimed."""
    supervisor, other = PortClaims(), PortClaims()
    (port,) = supervisor.pick(1)
    member = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=supervisor.handles([port]),
    )
    try:
        supervisor.release_all()
        assert not other.claim(port)
    finally:
        assert member.stdin is not None
        member.stdin.close()
        member.wait()
    assert other.claim(port)
    other.release_all()
