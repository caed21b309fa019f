"""The member's Prometheus metrics, under etcd 3.4's names, types, help texts and buckets.

Each member has its own registry (several members may share a process in tests). What the
member measures as it works (WAL fsync and backend commit durations, peer round trips, leader
changes, failed proposals, gRPC calls handled) is pushed into histograms and counters here;
what it already knows (leader, commit and applied index, proposals in flight, backend size,
versions) is read when /metrics is scraped, so the hot paths pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

# etcd (Go's client_golang) exports no `_created` series beside its counters and histograms.
disable_created_metrics()

DISK_DURATION_BUCKETS = tuple(0.001 * 2**i for i in range(14))
"""etcd's buckets for WAL fsync and backend commit: 1 ms to 8.192 s (ExponentialBuckets)."""
PEER_ROUND_TRIP_BUCKETS = tuple(0.0001 * 2**i for i in range(14))
"""etcd's buckets for peer round trips: 0.1 ms to 0.8192 s (ExponentialBuckets)."""


@dataclass(slots=True)
class MemberGauges:
    """What a scrape reads from the member at that moment."""

    has_leader: Callable[[], bool]
    committed_index: Callable[[], int]
    applied_index: Callable[[], int]
    proposals_pending: Callable[[], int]
    db_total_size: Callable[[], int]
    db_size_in_use: Callable[[], int]
    server_version: str
    cluster_version: str


class _GaugeCollector(Collector):
    """etcd's gauges, read from the member at scrape time."""

    def __init__(self, gauges: MemberGauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        g = self._gauges
        yield GaugeMetricFamily(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            value=1 if g.has_leader() else 0,
        )
        yield GaugeMetricFamily(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            value=g.committed_index(),
        )
        yield GaugeMetricFamily(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
            value=g.applied_index(),
        )
        yield GaugeMetricFamily(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            value=g.proposals_pending(),
        )
        yield GaugeMetricFamily(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
            value=g.db_total_size(),
        )
        yield GaugeMetricFamily(
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "Total size of the underlying database logically in use in bytes.",
            value=g.db_size_in_use(),
        )
        server_version = GaugeMetricFamily(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            labels=["server_version"],
        )
        server_version.add_metric([g.server_version], 1)
        yield server_version
        cluster_version = GaugeMetricFamily(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            labels=["cluster_version"],
        )
        cluster_version.add_metric([g.cluster_version], 1)
        yield cluster_version


class MemberMetrics:
    """One member's registry and the series its parts feed as they work."""

    def __init__(self) -> None:
        # No describing at registration: that would read the member before it is built.
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.wal_fsync = Histogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            buckets=DISK_DURATION_BUCKETS,
            registry=r,
        )
        self.backend_commit = Histogram(
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
            buckets=DISK_DURATION_BUCKETS,
            registry=r,
        )
        self.peer_round_trip = Histogram(
            "etcd_network_peer_round_trip_time_seconds",
            "Round-Trip-Time histogram between peers",
            ["To"],
            buckets=PEER_ROUND_TRIP_BUCKETS,
            registry=r,
        )
        self.leader_changes = Counter(
            "etcd_server_leader_changes_seen", "The number of leader changes seen.", registry=r
        )
        self.proposals_failed = Counter(
            "etcd_server_proposals_failed", "The total number of failed proposals seen.",
            registry=r,
        )  # fmt: skip
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            registry=r,
        )
        ProcessCollector(registry=r)

    def read_gauges(self, gauges: MemberGauges) -> None:
        """Serve etcd's gauges from the member's own state at each scrape."""
        self.registry.register(_GaugeCollector(gauges))
