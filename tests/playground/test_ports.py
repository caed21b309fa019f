"""The playground's ports: free, distinct, and out of the kernel's ephemeral range, so no
outgoing connection takes a stopped member's port before it restarts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from playground import ports
from playground.ports import LOOPBACK, LOWEST_PORT, ephemeral_low, free_ports


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    picked = free_ports(30)
    assert len(set(picked)) == 30
    assert all(LOWEST_PORT <= port < ephemeral_low() for port in picked)
    for port in picked:
        with socket.socket() as listener:
            listener.bind((LOOPBACK, port))


def test_a_range_that_leaves_no_room_below_falls_back_to_the_kernels_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = tmp_path / "ip_local_port_range"
    wide.write_text("1024\t65000\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", wide)
    assert ephemeral_low() == 1024
    picked = free_ports(3)
    assert len(set(picked)) == 3
    assert all(1024 <= port <= 65535 for port in picked)
