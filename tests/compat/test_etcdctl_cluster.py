"""`etcdctl member` and `etcdctl endpoint` against our cluster: the member list, endpoint
status and health of every member, and a membership change done the way an operator does it
with etcd (add a learner, start it, promote it, remove a voter)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.cluster import (
    COMMAND_S,
    ETCDCTL,
    ProcessCluster,
    error_line,
    etcdctl,
    running_cluster,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def ok(endpoints: str, *args: str) -> str:
    result = etcdctl(endpoints, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def member_rows(endpoints: str) -> dict[str, list[str]]:
    """`member list` as name (or, for a member not started, its id) -> its columns."""
    rows = [line.split(", ") for line in ok(endpoints, "member", "list").splitlines()]
    return {row[2] or row[0]: row for row in rows}


def test_member_list_names_every_member_with_its_urls(cluster):
    rows = member_rows(cluster.endpoints)

    assert sorted(rows) == ["m1", "m2", "m3"]
    for member in cluster.members:
        member_id, status, name, peer_urls, client_urls, is_learner = rows[member.name]
        assert re.fullmatch("[0-9a-f]{1,16}", member_id)
        assert (status, name, peer_urls, client_urls, is_learner) == (
            "started",
            member.name,
            member.peer_url,
            member.client_url,
            "false",
        )


def test_endpoint_status_of_the_cluster_shows_each_member_and_one_leader(cluster):
    ids = {row[0] for row in member_rows(cluster.endpoints).values()}

    lines = ok(cluster.endpoints, "endpoint", "status", "--cluster").splitlines()

    rows = [line.split(", ") for line in lines]
    assert sorted(row[0] for row in rows) == sorted(m.client_url for m in cluster.members)
    assert {row[1] for row in rows} == ids
    assert {row[2] for row in rows} == {"3.4.27"}
    assert sorted(row[4] for row in rows) == ["false", "false", "true"]
    assert {row[5] for row in rows} == {"false"}
    assert len({row[6] for row in rows}) == 1  # one raft term


def test_endpoint_health_of_the_cluster_reports_every_member_healthy(cluster):
    result = etcdctl(cluster.endpoints, "endpoint", "health", "--cluster")

    assert result.returncode == 0
    lines = result.stderr.splitlines()  # etcdctl 3.4 prints health on stderr

    assert sorted(line.split(" is healthy: ")[0] for line in lines) == sorted(
        m.client_url for m in cluster.members
    )
    assert all(
        re.search(r" is healthy: successfully committed proposal: took = \S+$", line)
        for line in lines
    )


def promote_once_in_sync(endpoints: str, member_id: str) -> subprocess.CompletedProcess[str]:
    """`member promote`, repeated while etcd's answer is that the learner is not in sync yet."""
    deadline = time.monotonic() + COMMAND_S
    while True:
        result = etcdctl(endpoints, "member", "promote", member_id)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        assert error_line(result) == (
            "Error: etcdserver: can only promote a learner member which is in sync with leader"
        )
        time.sleep(0.1)


def add_once_healthy(endpoints: str, *args: str) -> str:
    """`member add`, repeated while etcd refuses it because a voter has not been connected to
    every other for its health interval yet (etcd 3.4 does the same right after a start)."""
    deadline = time.monotonic() + COMMAND_S
    while True:
        result = etcdctl(endpoints, "member", "add", *args)
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stderr
            return result.stdout
        assert error_line(result) == "Error: etcdserver: unhealthy cluster"
        time.sleep(0.1)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    """Three members of our own, for a test that changes the membership."""
    with running_cluster(tmp_path / "membership", 3) as started:
        yield started


def test_a_learner_is_added_started_promoted_and_a_voter_removed(own_cluster):
    # Requests go to voters only: a learner refuses all but Status and serializable reads.
    cluster = own_cluster
    voters = cluster.endpoints
    ok(voters, "put", "before", "the change")
    learner = cluster.joining_member("m4")

    added = add_once_healthy(voters, "m4", f"--peer-urls={learner.peer_url}", "--learner")

    # etcdctl prints ids with %16x: an id with fewer hex digits is padded with spaces.
    match = re.match(r"Member +([0-9a-f]+) added to cluster +([0-9a-f]+)\n", added)
    assert match is not None
    learner_id, cluster_id = match.groups()
    assert 'ETCD_NAME="m4"\n' in added
    assert f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{learner.peer_url}"\n' in added
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"\n' in added
    listed = re.search(r'ETCD_INITIAL_CLUSTER="([^"]*)"', added)
    assert listed is not None
    assert sorted(listed.group(1).split(",")) == sorted(cluster.initial_cluster().split(","))
    assert member_rows(voters)[learner_id][1:] == ["unstarted", "", learner.peer_url, "", "true"]

    learner.start()
    # a new process, its catch-up and its publication through raft: slow on a loaded machine
    wait_until(lambda: member_rows(voters).get("m4", [""])[1:2] == ["started"], 3 * COMMAND_S)
    promoted = promote_once_in_sync(voters, learner_id)
    assert promoted.stdout == f"Member {learner_id:>16} promoted in cluster {cluster_id:>16}\n"
    assert member_rows(voters)["m4"][5] == "false"

    voter = cluster.member("m1")
    voter_id = member_rows(voters)["m1"][0]
    assert ok(voters, "member", "remove", voter_id) == (
        f"Member {voter_id:>16} removed from cluster {cluster_id:>16}\n"
    )
    assert voter.process is not None
    assert voter.process.wait(timeout=20) == 0  # a removed member stops itself
    cluster.remove(voter)

    assert sorted(member_rows(cluster.endpoints)) == ["m2", "m3", "m4"]
    # m1 may have been leading: the rest elect a new leader first, as in etcd 3.4.
    cluster.wait_for_leader(cluster.members)
    ok(cluster.endpoints, "put", "after", "the change")
    assert ok(learner.endpoint, "get", "before", "--print-value-only") == "the change\n"
    assert ok(learner.endpoint, "get", "after", "--print-value-only") == "the change\n"


@pytest.mark.parametrize("asked", ["leader", "follower"])
def test_a_removed_leader_hands_leadership_on_first_so_a_write_right_after_succeeds(
    own_cluster, asked
):
    # As etcd's graceful stop does, and etcd-io/raft leaves as a TODO for a removed leader:
    # the removal commits in a new leader's term, so the rest never wait an election timeout.
    cluster = own_cluster
    ids = {name: int(row[0], 16) for name, row in member_rows(cluster.endpoints).items()}
    leader_id = cluster.wait_for_leader(cluster.members)
    leader = next(m for m in cluster.members if ids[m.name] == leader_id)
    others = [m for m in cluster.members if m is not leader]
    term_before = leader.status(timeout=COMMAND_S).raftTerm
    asked_endpoint = leader.endpoint if asked == "leader" else others[0].endpoint

    removed = json.loads(ok(asked_endpoint, "member", "remove", f"{leader_id:x}", "-w", "json"))

    # The member asked answers once it applied the removal: by then a new leader, elected in
    # a later term, had committed it (left alone, the removed leader commits it in its own).
    assert removed["header"]["raft_term"] > term_before
    assert sorted(member["name"] for member in removed["members"]) == sorted(
        m.name for m in others
    )
    remaining = ",".join(m.endpoint for m in others)
    ok(remaining, "put", "right", "after the removal")
    assert leader.process is not None
    assert leader.process.wait(timeout=20) == 0  # a removed member stops itself
    cluster.remove(leader)
    new_leader = cluster.wait_for_leader(others)
    assert new_leader in {ids[m.name] for m in others}
    assert ok(remaining, "get", "right", "--print-value-only") == "after the removal\n"
