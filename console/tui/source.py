"""The small interface every panel reads a cluster through.

Two sources implement it: `NativeSource` for members of ours (node.client, with each member's
event stream) and `EtcdSource` for a real etcd over gRPC (as far as its Status API tells).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from console.tui.cluster_view import ClusterView, LiveMember
from console.tui.records import KeyPage, KeyRecord, WatchEvent, WatchSpec

PAGE_SIZE = 100
"""Keys one page of the key browser asks for."""

WatchDelivery = Callable[[list[WatchEvent]], None]
"""Called with each batch of events a watch delivers, in order."""


class SourceUnavailable(Exception):
    """The cluster could not be reached for a key or watch call; one line for the user."""


class WatchCanceled(Exception):
    """The cluster canceled a watch (for example: its start revision was compacted)."""


class DataSource(Protocol):
    """Keys, watches and members of one cluster, in the dashboard's own records."""

    label: str
    """What the dashboard is attached to, for its title."""
    streams_logs: bool
    """Whether members send their log lines (ours do; etcd has no such stream)."""
    streams_trace: bool
    """Whether members send trace events for the timeline (ours do; etcd has none)."""

    async def run(self) -> None:
        """Hold the connection the key and watch calls use, until cancelled."""

    async def follow(self, member: LiveMember, cluster: ClusterView) -> None:
        """Keep `member` up to date (reconnecting as needed) until cancelled."""

    async def keys(self, start: bytes, end: bytes, limit: int) -> KeyPage:
        """The keys in [start, end), in order, at most `limit` (keys only: no values)."""

    async def get(self, key: bytes, revision: int = 0) -> KeyRecord | None:
        """The key at `revision` (0: now), or None if it did not exist then; raises
        node.messages.errors.Compacted below the compaction point."""

    async def lease_remaining(self, lease_id: int) -> int:
        """Seconds left on a lease; -1 once it is gone."""

    async def watch(
        self, spec: WatchSpec, created: Callable[[], None], deliver: WatchDelivery
    ) -> None:
        """Watch as `spec` says: call `created` once the cluster has the watch (no later write
        is missed), then hand each batch of events to `deliver`, until cancelled; raises
        WatchCanceled if the cluster ends the watch."""
