"""Fixtures for the compatibility tests: one shared 3-member cluster of our processes, and a
real etcd to compare what etcdctl prints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.cluster import ETCD, ETCDCTL, ProcessCluster, running_cluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes a minute or more (etcdctl check perf); still in the default run"
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    """Three of our members, shared by the tests that do not change the membership."""
    if ETCDCTL is None:
        pytest.skip("etcdctl is not installed (Debian package etcd-client)")
    with running_cluster(tmp_path_factory.mktemp("ours"), 3) as started:
        yield started


@pytest.fixture(scope="session")
def real_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    """A one-member real etcd 3.4 started with the same flags, to compare etcdctl's output."""
    if ETCD is None or ETCDCTL is None:
        pytest.skip("etcd and etcdctl are not installed (Debian packages etcd-server, etcd-client)")
    with running_cluster(tmp_path_factory.mktemp("real"), 1, (ETCD,)) as started:
        yield started


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of this test's own, so tests sharing a cluster do not meet."""
    return f"{request.node.name}/"
