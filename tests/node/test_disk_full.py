"""A member process on a disk that fills up or is read-only, for real: its data dir is a tmpfs
of a few dozen megabytes (root only; skipped with the kernel's reason otherwise).

As etcd 3.4, a write the disk refuses is fatal: the member logs what failed (etcd's lg.Fatal
texts: "failed to commit tx", "failed to save Raft hard state and entries") and exits with 1,
the other members keep serving, and once space is freed the restarted member replays its WAL,
holds every acknowledged write and rejoins. A read-only data dir stops the start with etcd's
"cannot access data directory" line."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from node.client import Client, connect_client
from node.client.requests import compare_version, op_put
from node.messages import errors
from tests.compat.cluster import ETCD, OUR_MEMBER, MemberProcess, ProcessCluster
from tests.small_filesystem import MIB, make_read_only, resize, small_filesystem

from .member_processes import (
    client_of,
    native_endpoints,
    new_cluster,
    wait_at_revision,
    wait_for_leader,
    wait_same_data,
)

STARTUP_S = 90
FILL_S = 300
ELECTION_S = 30
CATCH_UP_S = 180
EXIT_S = 60
"""Upper bounds only, generous: a member process that starts (or refuses to) imports grpc
and the whole node package, which takes tens of seconds on a loaded two-core machine."""
RETRIED = (errors.EtcdError, OSError)
"""What a write through the healthy members may meet while the full member's leadership, if
it had it, moves: the write is tried again under a new key (it was not acknowledged)."""


@contextlib.contextmanager
def stopped_at_the_end(cluster: ProcessCluster) -> Iterator[ProcessCluster]:
    try:
        yield cluster
    finally:
        cluster.stop_all()


async def start(cluster: ProcessCluster) -> None:
    for member in cluster.members:
        member.start()
    with trio.fail_after(STARTUP_S):
        await wait_for_leader(cluster.members)


async def write_until_exit(
    cluster: ProcessCluster, write: Callable[[Client, int], Awaitable[str | None]]
) -> list[str]:
    """Call `write(client, n)` through the first two members until the third exits; the keys
    of the acknowledged puts among the writes."""
    full = cluster.members[2]
    assert full.process is not None
    acknowledged: list[str] = []
    with trio.fail_after(FILL_S):
        async with connect_client(native_endpoints(cluster.members[:2]), timeout=5) as client:
            n = 0
            while full.process.poll() is None:
                n += 1
                try:
                    key = await write(client, n)
                except RETRIED:
                    await trio.sleep(0.2)
                    continue
                if key is not None:
                    acknowledged.append(key)
    return acknowledged


async def keep_serving_then_rejoin(
    cluster: ProcessCluster, acknowledged: list[str], disk: Path, fatal_line: str
) -> None:
    """The full member exited with `fatal_line`; the others serve; with space freed the full
    member restarts, replays, rejoins and holds every acknowledged key."""
    full = cluster.members[2]
    assert full.process is not None
    with trio.fail_after(EXIT_S):
        while full.process.poll() is None:  # noqa: ASYNC110 - another process
            await trio.sleep(0.05)
    assert full.process.returncode == 1
    log = full.log.read_text(errors="replace")
    assert fatal_line in log, log[-3000:]

    healthy = cluster.members[:2]
    with trio.fail_after(ELECTION_S):
        await wait_for_leader(healthy)
    async with connect_client(native_endpoints(healthy)) as client:
        for index in range(5):
            await client.put(f"after/{index}", "while the disk is full")
            acknowledged.append(f"after/{index}")

    resize(disk, 512 * MIB)
    full.start()
    with trio.fail_after(CATCH_UP_S):
        revision = await wait_same_data(cluster.members)
        await wait_at_revision(full, revision)
    async with client_of(full) as client:
        for key in acknowledged:
            reply = await client.get(key, serializable=True)
            assert len(reply.kvs) == 1, f"{key} is missing on the restarted member"


async def test_a_member_whose_backend_fills_its_disk_exits_and_comes_back_with_every_write(
    tmp_path: Path,
) -> None:
    """The WAL's 64 MiB segment is preallocated, so the backend's growth is what fails."""
    cluster = new_cluster(tmp_path / "cluster", 3)
    full = cluster.members[2]
    value = b"v" * (256 * 1024)

    async def put(client: Client, n: int) -> str:
        await client.put(f"key/{n:04d}", value)
        return f"key/{n:04d}"

    with small_filesystem(full.data_dir, 72 * MIB) as disk, stopped_at_the_end(cluster):
        await start(cluster)
        acknowledged = await write_until_exit(cluster, put)
        assert acknowledged
        await keep_serving_then_rejoin(
            cluster, acknowledged, disk, "etcd-node: failed to commit tx: backend: cannot commit tx"
        )


@pytest.mark.skipif(
    not os.environ.get("DISK_SOAK"),
    reason="a soak: 64 MiB of WAL through three members takes about 4 minutes (DISK_SOAK=1); "
    "the suite's WAL-failure cases are tests/wal/test_disk_full.py and "
    "tests/server/test_storage_failure.py",
)
async def test_a_member_whose_wal_fills_its_disk_exits_and_comes_back_with_every_write(
    tmp_path: Path,
) -> None:
    """Txns whose compare fails carry a 1 MB put into every WAL and nothing into the backend,
    so the WAL reaches the end of its 64 MiB segment and cannot preallocate the next."""
    cluster = new_cluster(tmp_path / "cluster", 3)
    full = cluster.members[2]
    value = b"w" * 1_000_000

    async def write(client: Client, n: int) -> str | None:
        if n % 8 == 0:
            await client.put(f"ack/{n:04d}", str(n))
            return f"ack/{n:04d}"
        reply = await client.txn(
            [compare_version("never", "=", 99)], [op_put("never", value)], []
        )
        assert not reply.succeeded
        return None

    with small_filesystem(full.data_dir, 80 * MIB) as disk, stopped_at_the_end(cluster):
        await start(cluster)
        acknowledged = await write_until_exit(cluster, write)
        assert acknowledged
        await keep_serving_then_rejoin(
            cluster,
            acknowledged,
            disk,
            "etcd-node: failed to save Raft hard state and entries: wal: cannot create segment",
        )
        assert full.stop() == 0
        inspected = await trio.run_process(
            [sys.executable, "-m", "node.inspect", "wal", str(full.data_dir)],
            capture_stdout=True, capture_stderr=True, check=False,
        )
        assert inspected.returncode == 0, inspected.stderr.decode()
        assert b"torn tail" not in inspected.stdout


async def refusal(command: tuple[str, ...], member: MemberProcess, data_dir: Path) -> str:
    """What `command` (our member or etcd 3.4) says on stderr when it will not start on
    `data_dir` with the member's flags, after its program name."""
    args = [
        f"--name={member.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={member.client_url}",
        f"--advertise-client-urls={member.client_url}",
        f"--listen-peer-urls={member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--initial-cluster={member.initial_cluster}",
    ]
    with trio.fail_after(EXIT_S):
        ran = await trio.run_process(
            [*command, *args], capture_stdout=True, capture_stderr=True, check=False
        )
    assert ran.returncode == 1
    last = ran.stderr.decode(errors="replace").strip().splitlines()[-1]
    for prefix in ("C | etcdmain: ", "etcd-node: "):
        if prefix in last:
            return last.split(prefix, 1)[1]
    raise AssertionError(f"no fatal line from {command[0]}: {last}")


@pytest.mark.skipif(ETCD is None, reason="etcd 3.4 is not installed")
async def test_a_read_only_data_dir_stops_the_start_with_etcds_message(tmp_path: Path) -> None:
    cluster = new_cluster(tmp_path / "cluster", 1)
    (member,) = cluster.members
    assert ETCD is not None
    with small_filesystem(member.data_dir, 96 * MIB) as disk, stopped_at_the_end(cluster):
        await start(cluster)
        async with client_of(member) as client:
            await client.put("written", "before")
        assert member.stop() == 0
        make_read_only(disk)

        said = await refusal(OUR_MEMBER, member, disk)
        assert said == f"cannot access data directory: open {disk}/.touch: read-only file system"
        assert said == await refusal((ETCD,), member, disk)
        fresh = disk / "fresh"
        said = await refusal(OUR_MEMBER, member, fresh)
        assert said == f"cannot access data directory: mkdir {fresh}: read-only file system"
        assert said == await refusal((ETCD,), member, fresh)
