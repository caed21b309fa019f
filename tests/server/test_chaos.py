"""No acknowledged write is lost while members are killed and restarted under a writer."""

from __future__ import annotations

import random

import trio

from node.messages import errors
from node.messages.kv import PutRequest, RangeRequest
from tests.server.harness import Cluster, cluster_configs, wait_for

WRITES_BETWEEN_KILLS = 4


async def test_acknowledged_writes_survive_members_being_killed_and_restarted(tmp_path):
    rng = random.Random(7)
    acknowledged: list[tuple[bytes, bytes, int]] = []
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, snapshot_count=25))
        await cluster.start_all()
        await cluster.leader()
        stop_writing = trio.Event()

        async def write():
            i = 0
            while not stop_writing.is_set():
                running = cluster.running
                if not running:
                    await trio.sleep(0.01)
                    continue
                key, value = f"key{i % 40:02}".encode(), str(i).encode()
                with trio.move_on_after(2):
                    try:
                        put = await rng.choice(running).put(PutRequest(key=key, value=value))
                    except errors.EtcdError:
                        pass
                    else:
                        acknowledged.append((key, value, put.revision))
                i += 1

        async def more_writes_acknowledged() -> None:
            # the kills wait for writes, not for time: the test checks what was written,
            # however many writes this machine fits in a moment
            target = len(acknowledged) + WRITES_BETWEEN_KILLS
            await wait_for(lambda: len(acknowledged) >= target)

        nursery.start_soon(write)
        for _ in range(6):
            await more_writes_acknowledged()
            victim = rng.choice(cluster.members)
            await cluster.stop(victim)
            await trio.sleep(rng.choice([0.1, 0.6]))
            await cluster.start(victim)
        await more_writes_acknowledged()
        stop_writing.set()
        leader = await cluster.leader()
        await wait_for(
            lambda: all(s.applied_index >= leader.applied_index for s in cluster.running)
        )
        for server in cluster.running:
            for key, value, revision in acknowledged:
                # a timed-out write may still be applied later, so look at the acknowledged
                # write's own revision: every member holds it there
                at_revision = RangeRequest(key=key, revision=revision, serializable=True)
                got = await server.range(at_revision)
                assert [(kv.value, kv.mod_revision) for kv in got.kvs] == [(value, revision)]
        nursery.cancel_scope.cancel()
