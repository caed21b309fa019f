"""What travels in raft entries and conf changes, request ids, and the wait registry."""

from __future__ import annotations

import pytest
import trio

from node.messages import errors
from node.messages.cluster import Member
from node.messages.kv import (
    CompactionRequest,
    DeleteRangeRequest,
    PutRequest,
    RequestOp,
    TxnRequest,
)
from node.messages.lease import (
    LeaseCheckpoint,
    LeaseCheckpointRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
)
from node.messages.maintenance import AlarmAction, AlarmRequest, AlarmType
from node.raft import MalformedRecord
from node.server.cluster import ConfChangeContext
from node.server.raft_request import MemberAttrSetRequest, RaftRequest, RequestIdGenerator
from node.server.wait import IndexWaiter, WaitRegistry

BODIES = [
    PutRequest(key=b"k", value=b"v", lease=3, prev_kv=True),
    DeleteRangeRequest(key=b"a", range_end=b"b"),
    TxnRequest(success=[RequestOp(request_put=PutRequest(key=b"k"))]),
    CompactionRequest(revision=9, physical=True),
    LeaseGrantRequest(ttl=5, id=77),
    LeaseRevokeRequest(id=77),
    LeaseCheckpointRequest([LeaseCheckpoint(1, 2), LeaseCheckpoint(3, 4)]),
    AlarmRequest(AlarmAction.ACTIVATE, 12, AlarmType.NOSPACE),
    MemberAttrSetRequest(5, "m0", ["http://127.0.0.1:2379"]),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: type(body).__name__)
def test_every_raft_request_round_trips(body):
    decoded = RaftRequest.decode(RaftRequest(123, body).encode())
    assert decoded == RaftRequest(123, body)


@pytest.mark.parametrize("data", [b"", b"\xff", b"\x83\x01\x63abc\x80", b"\x83\x01\x18\x63\x80"])
def test_undecodable_entries_are_malformed(data):
    with pytest.raises(MalformedRecord):
        RaftRequest.decode(data)


def test_conf_change_context_round_trips():
    context = ConfChangeContext(Member(7, "", ["http://a:1"], [], True), True, 99)
    assert ConfChangeContext.decode(context.encode()) == context
    with pytest.raises(MalformedRecord):
        ConfChangeContext.decode(b"\x80")


def test_request_ids_carry_the_member_prefix_and_never_repeat():
    ids = RequestIdGenerator(0xABCD1234, wall_clock=lambda: 1_700_000_000.0)
    taken = [ids.next() for _ in range(1000)]
    assert len(set(taken)) == 1000
    assert {i >> 48 for i in taken} == {0x1234}
    later = RequestIdGenerator(0xABCD1234, wall_clock=lambda: 1_700_000_000.5)
    assert later.next() > max(taken)


async def test_a_waiter_gets_its_result_or_error_once():
    registry = WaitRegistry()
    first, second = registry.register(1), registry.register(2)
    with pytest.raises(ValueError):
        registry.register(1)
    registry.trigger(1, result="done")
    registry.trigger(2, error=errors.LeaseNotFound())
    registry.trigger(3, result="nobody waits")
    assert await first.wait() == "done"
    with pytest.raises(errors.LeaseNotFound):
        await second.wait()
    third = registry.register(4)
    registry.fail_all(errors.Stopped())
    with pytest.raises(errors.Stopped):
        await third.wait()


async def test_index_waiters_wake_when_the_index_reaches_theirs():
    applied = IndexWaiter(5)
    woken: list[int] = []

    async def wait(index):
        await applied.wait_for(index)
        woken.append(index)

    async with trio.open_nursery() as nursery:
        for index in (9, 4, 7):
            nursery.start_soon(wait, index)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == [4]
        applied.advance(7)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == [4, 7]
        applied.advance(20)
    assert woken == [4, 7, 9]
