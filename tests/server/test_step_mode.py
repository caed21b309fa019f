"""Step mode inside the member (members in one trio process): refused unless fault injection
is on; held messages carry etcd's names and raft's describe text; a put waits for delivery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio

from node.messages import errors
from node.messages.kv import PutRequest
from node.messages.raft_status import RaftStatusRequest
from node.messages.step_mode import HeldMessageInfo, StepAction, StepRequest
from tests.server.harness import Cluster, cluster_configs, wait_for


async def test_step_mode_is_refused_unless_fault_injection_is_enabled(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 1))
        await cluster.start_all()
        server = await cluster.leader()
        with pytest.raises(errors.FaultInjectionDisabled):
            await server.step(StepRequest(StepAction.HOLD))
        nursery.cancel_scope.cancel()


async def test_a_held_put_waits_for_its_msgapp_described_as_etcd_describes_it(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3, enable_fault_injection=True))
        await cluster.start_all()
        leader = await cluster.leader()
        # a write every member applied: the leader replicates to them all (no probing)
        await leader.put(PutRequest(key=b"before", value=b"v"))
        applied = leader.applied_index
        await wait_for(lambda: all(s.applied_index >= applied for s in cluster.running))
        for server in cluster.running:
            assert (await server.step(StepRequest(StepAction.HOLD))).holding
        done = trio.Event()

        async def put() -> None:
            await leader.put(PutRequest(key=b"k", value=b"v"))
            done.set()

        nursery.start_soon(put)

        async def msg_apps() -> list[HeldMessageInfo]:
            held = (await leader.step(StepRequest())).held
            return [m for m in held if m.type == "MsgApp" and 'Put "k"' in m.text]

        apps = await wait_for_async(msg_apps)
        first = apps[0]
        assert (first.frm, first.entries) == (leader.member_id, 1)
        assert first.text.startswith(f"{leader.member_id:x}->{first.to:x} MsgApp Term:")
        assert first.text.endswith(' EntryNormal Put "k"]')
        with pytest.raises(errors.StepModeRefused, match="deliver needs the ids"):
            await leader.step(StepRequest(StepAction.DELIVER))
        with pytest.raises(errors.StepModeRefused, match="no held message with id 999"):
            await leader.step(StepRequest(StepAction.DELIVER, ids=[999]))
        status = await leader.raft_status(RaftStatusRequest())
        assert status.commit == status.last_index - 1
        assert not done.is_set()

        for server in cluster.running:
            await server.step(StepRequest(StepAction.RELEASE))
        with trio.fail_after(10):
            await done.wait()
        nursery.cancel_scope.cancel()


async def wait_for_async(
    condition: Callable[[], Awaitable[list[HeldMessageInfo]]],
) -> list[HeldMessageInfo]:
    with trio.fail_after(10):
        while True:
            value = await condition()
            if value:
                return value
            await trio.sleep(0.01)
