"""The playground supervisor against real etcd-node processes on 127.0.0.1 (OS-picked ports).

Tests that break the cluster own their playground; tests that leave it as they found it share
one per module. A fixture stops every member process started, whatever happens. Heartbeat
50 ms and election timeout 500 ms keep elections quick.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from console.cli import main
from node.client import Client, DeadlineExceeded, connect_client
from node.messages import errors
from playground.errors import PlaygroundError
from playground.playground import Playground
from playground.status import MemberStatus

FAST = {"heartbeat_interval_ms": 50, "election_timeout_ms": 500}
WAIT = 20.0


@pytest.fixture
async def playground(tmp_path: Path):
    playground = Playground(tmp_path / "playground", members=3, **FAST)
    try:
        await playground.start()
        yield playground
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()


@pytest.fixture(scope="module")
def shared_playground(tmp_path_factory: pytest.TempPathFactory):
    playground = Playground(tmp_path_factory.mktemp("shared") / "playground", members=3, **FAST)
    try:
        trio.run(playground.start)
        yield playground
    finally:
        trio.run(playground.stop)


async def statuses_by_name(playground: Playground) -> dict[str, MemberStatus]:
    return {status.name: status for status in await playground.statuses()}


async def wait_for(condition: Callable[[], Awaitable[bool]]) -> None:
    with trio.fail_after(WAIT):
        while not await condition():  # noqa: ASYNC110 - polls the member processes
            await trio.sleep(0.05)


async def follows(playground: Playground, name: str, leader: str) -> bool:
    statuses = await statuses_by_name(playground)
    return statuses[name].role == "follower" and statuses[name].leader == statuses[leader].id


def process_exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def test_up_starts_members_that_elect_one_leader(shared_playground: Playground):
    statuses = await shared_playground.statuses()

    assert [status.name for status in statuses] == ["n1", "n2", "n3"]
    assert all(status.state == "up" for status in statuses)
    assert sorted(status.role for status in statuses) == ["follower", "follower", "leader"]
    (leader,) = (status for status in statuses if status.role == "leader")
    assert all(status.leader == leader.id and status.term == leader.term for status in statuses)
    assert len({status.id for status in statuses}) == 3


async def test_another_process_attaches_through_playground_json(shared_playground: Playground):
    recorded = json.loads(shared_playground.record_path.read_text())
    attached = Playground.attach(shared_playground.directory)

    assert recorded["state"] == "running"
    assert [member["pid"] for member in recorded["members"]] == [
        shared_playground.member(name).pid for name in ("n1", "n2", "n3")
    ]
    assert [status.role for status in await attached.statuses()] == [
        status.role for status in await shared_playground.statuses()
    ]


async def test_killed_leader_is_replaced_and_rejoins_after_restart(playground: Playground):
    old_leader = await playground.wait_for_leader()
    old_pid = playground.member(old_leader).pid

    await playground.kill(old_leader)

    assert playground.state(old_leader) == "down"
    assert not process_exists(old_pid)
    new_leader = await playground.wait_for_leader()
    assert new_leader != old_leader
    assert (await statuses_by_name(playground))[old_leader].role == ""
    with pytest.raises(PlaygroundError, match=f"member {old_leader} is not running"):
        await playground.kill(old_leader)

    await playground.restart(old_leader)

    await wait_for(lambda: follows(playground, old_leader, new_leader))


async def test_paused_leader_is_replaced_and_follows_after_resume(playground: Playground):
    old_leader = await playground.wait_for_leader()

    await playground.pause(old_leader)

    assert playground.state(old_leader) == "paused"
    new_leader = await playground.wait_for_leader()
    assert new_leader != old_leader

    await playground.resume(old_leader)

    assert playground.state(old_leader) == "up"
    await wait_for(lambda: follows(playground, old_leader, new_leader))


async def test_partitioned_minority_loses_the_leader_until_healed(playground: Playground):
    leader = await playground.wait_for_leader()
    minority = next(name for name in playground.members if name != leader)
    majority = [playground.member(name) for name in playground.members if name != minority]

    await playground.partition([[minority]])

    async def minority_lost_leader() -> bool:
        return (await statuses_by_name(playground))[minority].leader == 0

    await wait_for(minority_lost_leader)
    endpoints = [member.native_endpoint for member in majority]
    async with connect_client(endpoints) as client:
        await client.put("written-during-partition", "majority")
    assert await playground.wait_for_leader() != minority

    await playground.heal()

    async def minority_has_the_write() -> bool:
        endpoint = [playground.member(minority).native_endpoint]
        async with connect_client(endpoint) as client:
            reply = await client.get("written-during-partition", serializable=True)
        return bool(reply.kvs)

    await wait_for(minority_has_the_write)
    await wait_for(lambda: follows(playground, minority, leader))


async def test_writes_reach_a_slowed_member_and_heal_takes_the_delay_off(
    shared_playground: Playground,
):
    await shared_playground.wait_for_leader()

    await shared_playground.slow("n3", 100)

    assert shared_playground.faults.slow == {"n3": 100}
    async with connect_client(shared_playground.native_endpoints()) as client:
        await client.put("through-a-slow-link", "arrives")

    async def n3_has_the_write() -> bool:
        async with connect_client([shared_playground.member("n3").native_endpoint]) as client:
            return bool((await client.get("through-a-slow-link", serializable=True)).kvs)

    await wait_for(n3_has_the_write)

    await shared_playground.heal()

    recorded = json.loads(shared_playground.record_path.read_text())
    assert recorded["faults"] == {"partition": [], "slow": {}}


async def test_added_learner_catches_up_and_a_removed_member_stops(playground: Playground):
    leader = await playground.wait_for_leader()

    learner = await playground.add_node(learner=True)

    async def learner_caught_up() -> bool:
        statuses = await statuses_by_name(playground)
        return (
            statuses[learner].role == "learner"
            and statuses[learner].applied_index >= statuses[leader].raft_index
        )

    await wait_for(learner_caught_up)
    removed = next(name for name in ("n1", "n2", "n3") if name != leader)
    removed_pid = playground.member(removed).pid

    await playground.remove_node(removed)

    assert removed not in playground.members
    assert not process_exists(removed_pid)
    async with connect_client(playground.native_endpoints()) as client:
        members = (await client.member_list()).members
    assert sorted((member.name, member.isLearner) for member in members) == sorted(
        [(name, name == learner) for name in playground.members]
    )


async def test_a_refused_membership_change_fails_with_etcds_text(shared_playground: Playground):
    n1 = shared_playground.member("n1")

    with pytest.raises(PlaygroundError) as unknown_id:
        await shared_playground._call_cluster(lambda client: client.member_remove(0x1234))
    with pytest.raises(PlaygroundError) as used_peer_url:
        await shared_playground._call_cluster(lambda client: client.member_add([n1.peer_url]))

    assert str(unknown_id.value) == "the cluster: etcdserver: member not found"
    assert str(used_peer_url.value) == "the cluster: etcdserver: Peer URLs already exists"

    assert await shared_playground.wait_for_leader(everyone=True) in shared_playground.members
    async with connect_client(shared_playground.native_endpoints()) as client:
        members = (await client.member_list()).members
    assert sorted(member.name for member in members) == ["n1", "n2", "n3"]


async def test_remove_node_drops_a_member_the_cluster_already_removed(playground: Playground):
    leader = await playground.wait_for_leader()
    removed = next(name for name in playground.members if name != leader)
    record = playground.member(removed)
    others = [m.native_endpoint for m in playground.members.values() if m.name != removed]
    async with connect_client(others) as client:
        await client.member_remove(record.id)  # as a MemberRemove whose reply was lost

    await playground.remove_node(removed)

    assert removed not in playground.members
    assert not process_exists(record.pid)
    recorded = json.loads(playground.record_path.read_text())
    assert [member["name"] for member in recorded["members"]] == list(playground.members)
    async with connect_client(playground.native_endpoints()) as client:
        members = (await client.member_list()).members
    assert sorted(member.name for member in members) == sorted(playground.members)


async def test_add_node_adopts_a_member_added_although_the_reply_was_lost(
    playground: Playground, monkeypatch: pytest.MonkeyPatch
):
    member_add = Client.member_add

    async def add_then_lose_the_reply(client: Client, peer_urls: list[str], **flags: bool):
        await member_add(client, peer_urls, **flags)
        raise DeadlineExceeded()

    monkeypatch.setattr(Client, "member_add", add_then_lose_the_reply)

    added = await playground.add_node(learner=True)

    recorded = json.loads(playground.record_path.read_text())
    assert [member["name"] for member in recorded["members"]] == ["n1", "n2", "n3", added]

    async def started_as_the_learner_the_cluster_lists() -> bool:
        async with connect_client(playground.native_endpoints()) as client:
            members = (await client.member_list()).members
        listed = sorted((member.name, member.isLearner) for member in members)
        role = (await statuses_by_name(playground))[added].role
        return role == "learner" and listed == sorted(
            [("n1", False), ("n2", False), ("n3", False), (added, True)]
        )

    await wait_for(started_as_the_learner_the_cluster_lists)


async def test_add_node_whose_request_was_lost_records_nothing_and_says_what_to_check(
    shared_playground: Playground, monkeypatch: pytest.MonkeyPatch
):
    async def lose_the_request(client: Client, peer_urls: list[str], **flags: bool):
        raise DeadlineExceeded()

    monkeypatch.setattr(Client, "member_add", lose_the_request)

    with pytest.raises(PlaygroundError) as refused:
        await shared_playground.add_node()

    assert str(refused.value).startswith("the cluster: context deadline exceeded; ")
    assert "member list" in str(refused.value) and "member remove" in str(refused.value)
    assert list(shared_playground.members) == ["n1", "n2", "n3"]
    recorded = json.loads(shared_playground.record_path.read_text())
    assert [member["name"] for member in recorded["members"]] == ["n1", "n2", "n3"]


async def test_two_playgrounds_side_by_side_do_not_collide(tmp_path: Path):
    first = Playground(tmp_path / "first", members=1, **FAST)
    second = Playground(tmp_path / "second", members=1, **FAST)
    try:
        await first.start()
        await second.start()
        async with connect_client(first.native_endpoints()) as client:
            await client.put("only-in-first", "yes")
        async with connect_client(second.native_endpoints()) as client:
            missing = (await client.get("only-in-first")).kvs
    finally:
        with trio.CancelScope(shield=True):
            await first.stop()
            await second.stop()

    first_ports = {(m.client_port, m.peer_port, m.native_port) for m in first.members.values()}
    second_ports = {(m.client_port, m.peer_port, m.native_port) for m in second.members.values()}
    assert not {port for ports in first_ports for port in ports} & {
        port for ports in second_ports for port in ports
    }
    assert first.token != second.token
    assert missing == []


async def test_down_stops_every_member_and_up_brings_the_data_back(playground: Playground):
    pids = [playground.member(name).pid for name in playground.members]
    async with connect_client(playground.native_endpoints()) as client:
        await client.put("survives", "down and up")
    await playground.pause("n2")

    await playground.stop()

    assert not any(process_exists(pid) for pid in pids)
    assert json.loads(playground.record_path.read_text())["state"] == "stopped"
    assert {status.state for status in await playground.statuses()} == {"down"}

    await playground.start()

    async with connect_client(playground.native_endpoints()) as client:
        assert (await client.get("survives")).kvs[0].value == b"down and up"


async def test_operations_fail_with_one_plain_line(shared_playground: Playground):
    with pytest.raises(PlaygroundError, match="no member named 'n9'"):
        await shared_playground.kill("n9")
    with pytest.raises(PlaygroundError, match="member n1 is not paused"):
        await shared_playground.resume("n1")
    with pytest.raises(PlaygroundError, match="member n2 is in two groups"):
        await shared_playground.partition([["n1", "n2"], ["n2", "n3"]])


def test_attach_shows_a_member_whose_pid_was_reused_as_down(tmp_path: Path):
    data_dir = tmp_path / "n1"
    record = {
        "version": 1,
        "state": "running",
        "token": "etcd-console-test",
        "heartbeat_interval_ms": 100,
        "election_timeout_ms": 1000,
        "members": [
            {
                "name": "n1",
                "data_dir": str(data_dir),
                "client_port": 1,
                "peer_port": 2,
                "native_port": 3,
                "args": ["--data-dir", str(data_dir)],
                "pid": os.getpid(),
                "id": 1,
                "learner": False,
            }
        ],
        "faults": {"partition": [], "slow": {}},
    }
    (tmp_path / "playground.json").write_text(json.dumps(record))

    assert Playground.attach(tmp_path).state("n1") == "down"


@pytest.fixture
def cli_directory(tmp_path: Path):
    directory = tmp_path / "cli-playground"
    yield directory
    if (directory / "playground.json").exists():
        trio.run(Playground.attach(directory).stop)


# The members `up` starts outlive the command by design; Python warns when it lets go of them.
@pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning")
def test_cli_up_status_play_and_down(cli_directory: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["up", "--dir", str(cli_directory), "--members", "1"]) == 0
    assert "leader: n1" in capsys.readouterr().out

    assert main(["status", "--dir", str(cli_directory)]) == 0
    table = capsys.readouterr().out
    assert any("n1" in line and "up" in line and "leader" in line for line in table.splitlines())

    assert main(["play", "--dir", str(cli_directory)]) == 0
    shown = capsys.readouterr().out
    assert "already running" in shown
    assert f"etcd-console repl --dir {cli_directory}" in shown

    assert main(["down", "--dir", str(cli_directory)]) == 0
    assert "stopped" in capsys.readouterr().out
    assert Playground.attach(cli_directory).state("n1") == "down"


@pytest.mark.parametrize("members", ["0", "8"])
def test_cli_refuses_a_member_count_outside_1_to_7(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], members: str
):
    assert main(["up", "--dir", str(tmp_path), "--members", members]) == 1

    error = capsys.readouterr().err
    assert error == f"etcd-console: --members must be between 1 and 7, got {members}\n"


def test_cli_status_without_a_playground_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["status", "--dir", str(tmp_path)]) == 1

    assert capsys.readouterr().err == (
        f"etcd-console: no playground in {tmp_path}: start one with etcd-console up\n"
    )


async def test_the_member_added_to_a_one_member_cluster_leads_once_the_first_is_removed(
    tmp_path: Path,
):
    playground = Playground(tmp_path / "two", members=1, **FAST)
    try:
        await playground.start()
        added = await playground.add_node()
        await playground.remove_node("n1")

        assert await playground.wait_for_leader(within=WAIT) == added
        async with await Client.connect(playground.native_endpoints()) as client:
            await client.put(b"still", b"here")
            assert (await client.get(b"still")).kvs[0].value == b"here"
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()


def _stopped_record(directory: Path, tls: bool) -> None:
    data_dir = directory / "n1"
    member = {
        "name": "n1", "data_dir": str(data_dir), "client_port": 1, "peer_port": 2,
        "native_port": 3, "args": ["--data-dir", str(data_dir)], "tls": tls,
    }  # fmt: skip
    record = {
        "version": 1, "state": "stopped", "token": "etcd-console-test",
        "heartbeat_interval_ms": 100, "election_timeout_ms": 1000, "members": [member],
        "faults": {"partition": [], "slow": {}}, "tls": tls,
    }  # fmt: skip
    (directory / "playground.json").write_text(json.dumps(record))


def test_a_tls_playground_is_remembered_with_https_urls_and_its_client_certificate(
    tmp_path: Path,
):
    _stopped_record(tmp_path, tls=True)

    playground = Playground.attach(tmp_path)

    assert playground.client_urls() == ["https://127.0.0.1:1"]
    assert playground.member("n1").peer_url == "https://127.0.0.1:2"
    tls = playground.client_tls()
    assert tls is not None and tls.cert == str(tmp_path / "certs" / "client.pem")


@pytest.mark.parametrize(("recorded", "asked", "says"), [
    (False, True, "runs with no TLS: start it without --tls"),
    (True, False, "runs with TLS: start it with --tls"),
])  # fmt: skip
async def test_starting_a_playground_again_keeps_its_tls_or_says_so(
    tmp_path: Path, recorded: bool, asked: bool, says: str
):
    _stopped_record(tmp_path, tls=recorded)

    with pytest.raises(PlaygroundError) as refused:
        await Playground(tmp_path, tls=asked).start()

    assert says in str(refused.value)
    assert Playground.attach(tmp_path).state("n1") == "down"


async def test_an_auth_playground_needs_tls(tmp_path: Path):
    with pytest.raises(PlaygroundError) as refused:
        await Playground(tmp_path / "playground", members=1, auth=True, **FAST).start()

    assert "--auth needs --tls" in str(refused.value)
    assert not (tmp_path / "playground" / "playground.json").exists()


async def test_an_auth_playground_has_a_root_user_its_client_certificate_names(tmp_path: Path):
    """`--tls --auth`: auth is on, root has no password, and the playground's own clients are
    root through their certificate's CN; started again, it stays so."""
    directory = tmp_path / "playground"
    playground = Playground(directory, members=1, tls=True, auth=True, **FAST)
    try:
        await playground.start()
        tls = playground.client_tls()
        async with connect_client(playground.native_endpoints(), tls=tls) as client:
            assert (await client.user_list()).users == ["root"]
            assert (await client.user_get("root")).roles == ["root"]
            await client.put(b"secured", b"yes")
            with pytest.raises(errors.NoPasswordUser):
                await client.authenticate("root", "guess")
        await playground.stop()
        with pytest.raises(PlaygroundError) as refused:
            await Playground(directory, auth=False).start()
        assert "runs with auth on: start it with --auth" in str(refused.value)

        again = Playground(directory)
        await again.start()
        async with connect_client(again.native_endpoints(), tls=again.client_tls()) as client:
            assert (await client.get(b"secured")).kvs[0].value == b"yes"
            assert (await client.user_list()).users == ["root"]
    finally:
        with trio.CancelScope(shield=True):
            await Playground.attach(directory).stop()
