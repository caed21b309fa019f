"""etcdctl watch asks for a leader (clientv3.WithRequireLeader): on a member cut off from the
rest of its cluster it ends with etcd's `no leader` error instead of waiting forever. The same
scenarios run against three of our members and three real etcd 3.4 members; the other two are
paused with SIGSTOP, which cuts the third off on both alike."""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Iterator

import pytest

from tests.compat.cluster import (
    COMMAND_S,
    ETCD,
    ETCDCTL,
    OUR_MEMBER,
    MemberProcess,
    ProcessCluster,
    RunningEtcdctl,
    etcdctl,
    running_cluster,
    wait_until,
)

WATCH_CANCELED_BY_NO_LEADER = (
    "watch was canceled (etcdserver: no leader)\nError: watch is canceled by the server\n"
)
"""What etcdctl 3.4 prints on stderr when the member ends its watch for want of a leader."""
EXIT_INTERRUPTED = 5
"""etcdctl's ExitInterrupted."""

IMPLEMENTATIONS = {"ours": OUR_MEMBER, "real etcd": (ETCD,)}


@pytest.fixture(scope="module", params=list(IMPLEMENTATIONS))
def three_members(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessCluster]:
    """Three members of ours, then three of the real etcd, shared by this module's tests."""
    command = IMPLEMENTATIONS[request.param]
    if ETCDCTL is None or None in command:
        pytest.skip("etcd and etcdctl are not installed (Debian packages etcd-server, etcd-client)")
    directory = tmp_path_factory.mktemp(request.param.replace(" ", "-"))
    with running_cluster(directory, 3, command) as cluster:
        yield cluster


def follower_of(cluster: ProcessCluster) -> MemberProcess:
    leader = cluster.wait_for_leader(cluster.members)
    return next(m for m in cluster.members if m.status().header.member_id != leader)


@contextlib.contextmanager
def cut_off(cluster: ProcessCluster, lone: MemberProcess) -> Iterator[None]:
    """Pause every member but `lone`; resume them on the way out and wait for a leader."""
    others = [m for m in cluster.members if m is not lone and m.process is not None]
    for member in others:
        member.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for member in others:
            member.process.send_signal(signal.SIGCONT)
        cluster.wait_for_leader(cluster.members)


def test_etcdctl_watch_ends_with_no_leader_once_its_member_is_cut_off(three_members):
    lone = follower_of(three_members)
    key = f"require-leader/open-{uuid.uuid4().hex[:8]}"
    # from revision 1: the put is seen even if it lands before etcdctl's watch is created
    with RunningEtcdctl(lone.endpoint, "watch", key, "--rev", "1") as watch:
        etcdctl(lone.endpoint, "put", key, "v")
        seen = watch.read_lines(3)

        with cut_off(three_members, lone):
            status = watch.process.wait(timeout=COMMAND_S)

        stderr = watch.stderr_so_far()
    assert seen == ["PUT", key, "v"]
    assert (status, stderr) == (EXIT_INTERRUPTED, WATCH_CANCELED_BY_NO_LEADER)


def test_etcdctl_watch_on_a_member_without_leader_fails_at_once(three_members):
    lone = follower_of(three_members)
    with cut_off(three_members, lone):
        wait_until(lambda: lone.status().leader == 0)

        watch = etcdctl(lone.endpoint, "watch", "require-leader/new")

    assert (watch.returncode, watch.stderr) == (EXIT_INTERRUPTED, WATCH_CANCELED_BY_NO_LEADER)
