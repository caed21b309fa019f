"""`etcdctl lock` and `etcdctl elect` against our cluster: one holder at a time, the next in
line takes over when the holder lets go. (etcdctl builds both from clientv3's concurrency
recipes: sessions on a kept-alive lease, txns on create revisions, and watches.)"""

from __future__ import annotations

import pytest

from tests.compat.cluster import ETCDCTL, ProcessCluster, RunningEtcdctl, etcdctl, wait_until

pytestmark = pytest.mark.skipif(
    ETCDCTL is None, reason="etcdctl is not installed (Debian package etcd-client)"
)


def keys_under(cluster: ProcessCluster, name: str) -> list[str]:
    result = etcdctl(cluster.endpoints, "get", f"{name}/", "--prefix", "--keys-only")
    return result.stdout.split()


def test_a_lock_has_one_holder_and_passes_to_the_waiter_on_release(cluster, prefix):
    name = prefix.rstrip("/")
    with RunningEtcdctl(cluster.endpoints, "lock", name) as first:
        [first_key] = first.read_lines(1)
        assert first_key.startswith(f"{name}/")

        with RunningEtcdctl(cluster.endpoints, "lock", name) as second:
            wait_until(lambda: len(keys_under(cluster, name)) == 2)
            assert not second.has_printed()

            assert first.interrupt() == 0
            [second_key] = second.read_lines(1)
            assert second_key.startswith(f"{name}/")
            assert second_key != first_key
            assert keys_under(cluster, name) == [second_key]

            assert second.interrupt() == 0
    assert keys_under(cluster, name) == []


def test_an_election_has_one_leader_and_observers_see_each_leader(cluster, prefix):
    name = prefix.rstrip("/")
    with RunningEtcdctl(cluster.endpoints, "elect", name, "one") as first:
        [first_key, first_value] = first.read_lines(2)
        assert (first_key.startswith(f"{name}/"), first_value) == (True, "one")

        with (
            RunningEtcdctl(cluster.endpoints, "elect", name, "two") as second,
            RunningEtcdctl(cluster.endpoints, "elect", "--listen", name) as observer,
        ):
            assert observer.read_lines(2) == [first_key, "one"]
            wait_until(lambda: len(keys_under(cluster, name)) == 2)
            assert not second.has_printed()

            assert first.interrupt() == 0
            [second_key, second_value] = second.read_lines(2)
            assert (second_key != first_key, second_value) == (True, "two")
            assert observer.read_lines(2) == [second_key, "two"]
