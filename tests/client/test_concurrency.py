"""Sessions, mutexes and elections of node.client.concurrency against real in-process members."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio

from node.api.grpc_door import serve_grpc
from node.client import (
    Client,
    Election,
    ElectionNoLeader,
    ElectionNotLeader,
    Locked,
    Mutex,
    Session,
    SessionExpired,
    SortOrder,
    SortTarget,
    connect_client,
    op_put,
)
from tests.api.native_cluster import native_cluster, native_cluster_in_thread

WAIT_S = 10
"""Bound on every wait for another party: a broken recipe fails the test instead of hanging."""
DELETE = 1
"""A watch event's type when its key was deleted (mvccpb.Event.DELETE)."""


@asynccontextmanager
async def _bounded_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery whose tasks must all finish within WAIT_S."""
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            yield nursery


@asynccontextmanager
async def _sessions(tmp_path: Path, count: int) -> AsyncIterator[tuple[Client, list[Session]]]:
    """A one-member cluster, a client of it, and `count` sessions of that client."""
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        AsyncExitStack() as stack,
    ):
        yield client, [await stack.enter_async_context(Session(client)) for _ in range(count)]


async def _keys(client: Client, prefix: str) -> list[bytes]:
    """The keys under `prefix`, oldest first."""
    found = await client.get(
        prefix, prefix=True, sort_target=SortTarget.CREATE, sort_order=SortOrder.ASCEND
    )
    return [kv.key for kv in found.kvs]


async def _until_keys(client: Client, prefix: str, count: int) -> list[bytes]:
    """Wait until `count` contenders have their keys under `prefix`."""
    with trio.fail_after(WAIT_S):
        while len(keys := await _keys(client, prefix)) != count:  # noqa: ASYNC110 - asks the cluster
            await trio.sleep(0.01)
    return keys


async def _until_deleted(client: Client, key: str) -> None:
    """Wait until `key` is deleted (by its lease expiring, say)."""
    with trio.fail_after(WAIT_S):
        async with client.watch(key) as changes:
            async for response in changes:
                if any(event.type == DELETE for event in response.events):
                    return


# -- Session ---------------------------------------------------------------------------------


async def test_a_session_keeps_its_lease_alive_past_its_ttl_and_revokes_it_on_exit(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        async with Session(client, ttl=1) as session:
            await client.put("owned", "x", lease=session.lease_id)
            unrenewed = await client.lease_grant(1)
            await client.put("unrenewed", "x", lease=unrenewed.ID)
            await _until_deleted(client, "unrenewed")
            inside = await client.lease_time_to_live(session.lease_id)
            owned_inside = await client.get("owned")
            done_inside = session.done.is_set()
        after = await client.lease_time_to_live(session.lease_id)
        owned_after = await client.get("owned")
    assert inside.TTL >= 0 and inside.grantedTTL == 1
    assert [kv.value for kv in owned_inside.kvs] == [b"x"]
    assert not done_inside
    assert session.done.is_set()
    assert after.TTL == -1
    assert owned_after.kvs == []


async def test_an_orphaned_session_leaves_its_lease_and_keys_alive(tmp_path):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        lease = await client.lease_grant(30)
        async with Session(client, lease_id=lease.ID) as session:
            await client.put("owned", "x", lease=session.lease_id)
            await session.orphan()
            orphaned_done = session.done.is_set()
        after = await client.lease_time_to_live(lease.ID)
        owned = await client.get("owned")
    assert session.lease_id == lease.ID
    assert orphaned_done
    assert after.TTL > 0
    assert [kv.value for kv in owned.kvs] == [b"x"]


async def test_a_session_is_done_when_its_lease_is_revoked_elsewhere(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Session(client, ttl=3) as session,
    ):
        await client.lease_revoke(session.lease_id)
        with trio.fail_after(WAIT_S):
            await session.done.wait()


# -- Mutex -----------------------------------------------------------------------------------


async def test_a_mutex_lets_one_session_at_a_time_increment_a_shared_counter(tmp_path):
    tasks, rounds = 3, 5
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        await client.put("counter", "0")
        guarded_writes = []

        async def increment() -> None:
            async with Session(client) as session:
                mutex = Mutex(session, "counter-lock")
                for _ in range(rounds):
                    async with mutex:
                        value = int((await client.get("counter")).kvs[0].value)
                        written = await client.txn(
                            compare=[mutex.is_owner()], success=[op_put("counter", str(value + 1))]
                        )
                        guarded_writes.append(written.succeeded)

        async with _bounded_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(increment)
        counter = await client.get("counter")
        left = await _keys(client, "counter-lock/")
    assert int(counter.kvs[0].value) == tasks * rounds
    assert guarded_writes == [True] * (tasks * rounds)
    assert left == []


async def test_waiters_get_the_mutex_in_the_order_they_asked(tmp_path):
    async with _sessions(tmp_path, 1) as (client, (first,)):
        holder = Mutex(first, "printer")
        await holder.lock()
        taken = []

        async def wait_for_the_lock(name: str) -> None:
            async with Session(client) as session, Mutex(session, "printer"):
                taken.append(name)

        async with _bounded_nursery() as nursery:
            for count, name in enumerate(["second", "third", "fourth"], start=2):
                nursery.start_soon(wait_for_the_lock, name)
                await _until_keys(client, "printer/", count)
            taken_while_held = list(taken)
            await holder.unlock()
        left = await _keys(client, "printer/")
    assert holder.key == b""
    assert taken_while_held == []
    assert taken == ["second", "third", "fourth"]
    assert left == []


async def test_a_holders_lost_session_hands_the_mutex_to_the_next(tmp_path):
    async with _sessions(tmp_path, 2) as (client, (first, second)):
        holder, waiter = Mutex(first, "printer"), Mutex(second, "printer")
        await holder.lock()
        async with _bounded_nursery() as nursery:
            nursery.start_soon(waiter.lock)
            await _until_keys(client, "printer/", 2)
            header_before_revoke = waiter.header
            await client.lease_revoke(first.lease_id)
        left = await _keys(client, "printer/")
    assert holder.key == f"printer/{first.lease_id:x}".encode()
    assert waiter.key == f"printer/{second.lease_id:x}".encode()
    assert header_before_revoke is None
    assert left == [waiter.key]
    assert waiter.header.revision > holder.header.revision


async def test_try_lock_fails_while_another_session_holds_the_mutex(tmp_path):
    async with _sessions(tmp_path, 2) as (client, (first, second)):
        holder, latecomer = Mutex(first, "printer"), Mutex(second, "printer")
        await holder.try_lock()
        held_key = holder.key
        with pytest.raises(Locked, match=r"^mutex: Locked by another session$"):
            await latecomer.try_lock()
        while_held = await _keys(client, "printer/")
        await holder.unlock()
        await latecomer.try_lock()
        after_release = await _keys(client, "printer/")
    assert while_held == [held_key]
    assert after_release == [latecomer.key]


async def test_cancelling_a_waiting_lock_leaves_no_key_behind(tmp_path):
    async with _sessions(tmp_path, 2) as (client, (first, second)):
        holder, waiter = Mutex(first, "printer"), Mutex(second, "printer")
        await holder.lock()
        async with _bounded_nursery() as nursery:
            nursery.start_soon(waiter.lock)
            await _until_keys(client, "printer/", 2)
            nursery.cancel_scope.cancel()
        left = await _keys(client, "printer/")
    assert left == [holder.key]
    assert waiter.key == b""


async def test_a_waiter_whose_session_expired_is_told_so_when_its_turn_comes(tmp_path):
    async with _sessions(tmp_path, 2) as (client, (first, second)):
        holder, waiter = Mutex(first, "printer"), Mutex(second, "printer")
        await holder.lock()
        outcome = []

        async def wait_for_the_lock() -> None:
            with pytest.raises(SessionExpired, match=r"^mutex: session is expired$"):
                await waiter.lock()
            outcome.append("expired")

        async with _bounded_nursery() as nursery:
            nursery.start_soon(wait_for_the_lock)
            await _until_keys(client, "printer/", 2)
            await client.lease_revoke(second.lease_id)
            await holder.unlock()
        left = await _keys(client, "printer/")
    assert outcome == ["expired"]
    assert waiter.key == b""
    assert left == []


async def test_a_mutex_and_the_members_lock_service_exclude_each_other(tmp_path):
    async with _sessions(tmp_path, 1) as (client, (session,)):
        mutex = Mutex(session, "printer")
        await mutex.lock()
        served = []

        async def lock_through_the_service() -> None:
            held = await client.lock("printer")
            served.append(held.key)

        async with _bounded_nursery() as nursery:
            nursery.start_soon(lock_through_the_service)
            waiting = await _until_keys(client, "printer/", 2)
            served_while_held = list(served)
            await mutex.unlock()
        with pytest.raises(Locked):
            await mutex.try_lock()
    assert served_while_held == []
    assert served == [waiting[1]]


# -- Election --------------------------------------------------------------------------------


async def test_the_first_campaigner_leads_and_the_next_takes_over_when_it_resigns(tmp_path):
    async with _sessions(tmp_path, 2) as (client, (first, second)):
        alpha, beta = Election(first, "coordinator"), Election(second, "coordinator")
        await alpha.campaign("alpha")
        async with _bounded_nursery() as nursery:
            nursery.start_soon(beta.campaign, "beta")
            await _until_keys(client, "coordinator/", 2)
            led_while_waiting = (await beta.leader()).kvs[0].value
            await alpha.resign()
        led_after_resign = (await alpha.leader()).kvs[0]
        through_service = await client.leader("coordinator")
    assert led_while_waiting == b"alpha"
    assert alpha.key == b""
    assert (led_after_resign.key, led_after_resign.value) == (beta.key, b"beta")
    assert led_after_resign.create_revision == beta.rev
    assert through_service.kv.key == beta.key


async def test_observe_sees_each_leader_and_each_proclaimed_value(tmp_path):
    async with _sessions(tmp_path, 3) as (client, (watcher, first, second)):
        alpha, beta = Election(first, "coordinator"), Election(second, "coordinator")
        seen = []
        with trio.fail_after(WAIT_S):
            async with Election(watcher, "coordinator").observe() as leaders:
                await alpha.campaign("alpha")
                alpha_key = alpha.key
                seen.append(await anext(leaders))
                await alpha.proclaim("alpha again")
                seen.append(await anext(leaders))
                async with _bounded_nursery() as nursery:
                    nursery.start_soon(beta.campaign, "beta")
                    await _until_keys(client, "coordinator/", 2)
                    await alpha.resign()
                seen.append(await anext(leaders))
                await beta.proclaim("beta again")
                seen.append(await anext(leaders))
    assert [(kv.key, kv.value) for kv in seen] == [
        (alpha_key, b"alpha"),
        (alpha_key, b"alpha again"),
        (beta.key, b"beta"),
        (beta.key, b"beta again"),
    ]


async def test_only_the_leader_may_proclaim_and_no_leader_is_an_error(tmp_path):
    async with _sessions(tmp_path, 1) as (_, (session,)):
        election = Election(session, "coordinator")
        with pytest.raises(ElectionNoLeader, match=r"^election: no leader$"):
            await election.leader()
        with pytest.raises(ElectionNotLeader, match=r"^election: not leader$"):
            await election.proclaim("never campaigned")
        await election.campaign("alpha")
        await election.proclaim("beta")
        proclaimed = (await election.leader()).kvs[0].value
        await election.resign()
        with pytest.raises(ElectionNotLeader):
            await election.proclaim("after resigning")
        with pytest.raises(ElectionNoLeader):
            await election.leader()
    assert proclaimed == b"beta"


async def test_campaigning_again_in_the_same_session_takes_the_new_value(tmp_path):
    async with _sessions(tmp_path, 1) as (_, (session,)):
        first, again = Election(session, "coordinator"), Election(session, "coordinator")
        await first.campaign("alpha")
        await again.campaign("beta")
        led = (await first.leader()).kvs[0]
    assert again.key == first.key and again.rev == first.rev
    assert led.value == b"beta"


# -- other clients and event loops -----------------------------------------------------------


@pytest.mark.skipif(shutil.which("etcdctl") is None, reason="etcdctl is not installed")
async def test_etcdctl_lock_and_elect_wait_for_our_mutex_and_election(tmp_path):
    async with native_cluster(tmp_path) as (member,), trio.open_nursery() as doors:
        door = await doors.start(serve_grpc, member.server, member.server.config)
        etcdctl = ["etcdctl", f"--endpoints=127.0.0.1:{door.ports[0]}"]
        run = partial(trio.run_process, check=False, stdout=subprocess.PIPE)
        async with connect_client([member.endpoint]) as client, Session(client) as session:
            mutex, election = Mutex(session, "printer"), Election(session, "coordinator")
            await mutex.lock()
            await election.campaign("ours")
            async with _bounded_nursery() as nursery:
                locker = await nursery.start(run, [*etcdctl, "lock", "printer", "echo", "theirs"])
                lock_keys = await _until_keys(client, "printer/", 2)
                await mutex.unlock()
                lock_output = await _read_lines(locker.stdout, 1)
            async with _bounded_nursery() as nursery:
                campaigner = await nursery.start(run, [*etcdctl, "elect", "coordinator", "theirs"])
                election_keys = await _until_keys(client, "coordinator/", 2)
                led_while_ours = (await election.leader()).kvs[0].value
                await election.resign()
                announced = await _read_lines(campaigner.stdout, 2)
                led_after = (await election.leader()).kvs[0]
                campaigner.send_signal(signal.SIGINT)
            left = await _keys(client, "printer/") + await _keys(client, "coordinator/")
        doors.cancel_scope.cancel()
    assert lock_keys[0] == f"printer/{session.lease_id:x}".encode()
    assert lock_output == [b"theirs"]
    assert led_while_ours == b"ours"
    assert announced == [election_keys[1], b"theirs"]
    assert (led_after.key, led_after.value) == (election_keys[1], b"theirs")
    assert left == []


async def _read_lines(stream: trio.abc.ReceiveStream, count: int) -> list[bytes]:
    """The first `count` lines a process prints (fewer if it ends first)."""
    received = b""
    while received.count(b"\n") < count:
        chunk = await stream.receive_some()
        if not chunk:
            break
        received += chunk
    return received.split(b"\n")[:count]


def test_the_recipes_work_under_asyncio(tmp_path):
    async def contend(endpoints: list[str]) -> dict:
        seen = {}
        async with (
            asyncio.timeout(WAIT_S),
            connect_client(endpoints) as client,
            Session(client) as first,
            Session(client) as second,
        ):
            async with Mutex(first, "printer") as held:
                with pytest.raises(Locked):
                    await Mutex(second, "printer").try_lock()
                seen["holder"] = held.key == f"printer/{first.lease_id:x}".encode()
            election = Election(second, "coordinator")
            async with election.observe() as leaders:
                await election.campaign("from asyncio")
                seen["observed"] = (await anext(leaders)).value
            seen["leader"] = (await election.leader()).kvs[0].value
        return seen

    with native_cluster_in_thread(tmp_path) as endpoints:
        assert asyncio.run(contend(endpoints)) == {
            "holder": True,
            "observed": b"from asyncio",
            "leader": b"from asyncio",
        }
