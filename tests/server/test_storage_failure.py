"""A member whose disk refuses a WAL write stops, as etcd's lg.Fatal does; the others keep
serving, and restarted once the disk takes writes again it replays, rejoins and holds every
acknowledged write. No root needed: the refusal is made at node.wal.disk (the one place the
WAL writes), landing half the bytes and then failing with ENOSPC, only for the victim's files.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import trio

import node.wal.disk as wal_disk
from node.messages.kv import PutRequest, RangeRequest
from node.server.storage_failure import SAVE_ENTRIES, StorageFailure
from tests.server.harness import Cluster, Member, cluster_configs, wait_for

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell which member a file is of"
)


class FailingCluster(Cluster):
    """A cluster whose members stop on a StorageFailure as a process exits, keeping it."""

    def __init__(self, nursery: trio.Nursery, configs: list) -> None:
        super().__init__(nursery, configs)
        self.failures: dict[str, StorageFailure] = {}

    async def _run(self, member: Member, *, task_status: trio.TaskStatus) -> None:
        # recorded before anything woken by the member's stop runs: no checkpoint in between
        try:
            await super()._run(member, task_status=task_status)
        except* StorageFailure as failed:
            (failure,) = leaves(failed)
            assert isinstance(failure, StorageFailure)
            self.failures[member.name] = failure


def leaves(group: BaseExceptionGroup) -> list[BaseException]:
    """The exceptions in a (nested) exception group."""
    found: list[BaseException] = []
    for inner in group.exceptions:
        found += leaves(inner) if isinstance(inner, BaseExceptionGroup) else [inner]
    return found


def full_disk_under(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on a WAL write to a file under `directory` lands half its bytes, then ENOSPC."""
    real = wal_disk.write_at

    def write_at(fd: int, data: bytes, offset: int) -> None:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory)):
            real(fd, data, offset)
            return
        real(fd, bytes(data[: len(data) // 2]), offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(wal_disk, "write_at", write_at)


async def test_a_member_whose_wal_write_fails_stops_and_rejoins_with_every_acknowledged_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = FailingCluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        victim = next(m for m in cluster.members if m.server is cluster.followers(leader)[0])
        acknowledged = []
        for i in range(10):
            await leader.put(PutRequest(key=f"before/{i}".encode(), value=b"v"))
            acknowledged.append(f"before/{i}".encode())

        full_disk_under(Path(victim.config.data_dir), monkeypatch)
        for i in range(10):
            await leader.put(PutRequest(key=f"during/{i}".encode(), value=b"v"))
            acknowledged.append(f"during/{i}".encode())
        with trio.fail_after(10):
            await victim.stopped.wait()
        failure = cluster.failures[victim.name]
        assert failure.what == SAVE_ENTRIES
        assert str(failure).startswith(
            "failed to save Raft hard state and entries: wal: cannot write "
        )
        assert str(failure).endswith(": no space left on device")

        monkeypatch.undo()
        server = await cluster.start(victim)
        await wait_for(lambda: server.applied_index == leader.applied_index)
        for key in acknowledged:
            got = await server.range(RangeRequest(key=key, serializable=True))
            assert [kv.key for kv in got.kvs] == [key]
        nursery.cancel_scope.cancel()
