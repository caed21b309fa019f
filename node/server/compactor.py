"""Auto compaction on the leader, as etcd 3.4's compactor package.

periodic: keep history for a retention period: the revision is sampled every tenth of the
period (at most every 6 minutes), and every sample that is a full period old becomes a
compaction. revision: every 5 minutes compact at the current revision minus the retention.
Only the leader proposes; the compaction goes through raft like a client's.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta

import trio

from node.messages import errors

logger = logging.getLogger(__name__)

REVISION_CHECK_INTERVAL = 300.0
MAX_SAMPLE_INTERVAL = 360.0


class AutoCompactor:
    """Runs while the member lives; does nothing unless the member leads."""

    def __init__(
        self,
        retention: timedelta | int,
        *,
        current_revision: Callable[[], int],
        compacted_revision: Callable[[], int],
        is_leader: Callable[[], bool],
        compact: Callable[[int], Awaitable[None]],
    ) -> None:
        self._retention = retention
        self._current_revision = current_revision
        self._compacted_revision = compacted_revision
        self._is_leader = is_leader
        self._compact = compact

    @property
    def enabled(self) -> bool:
        """False when the retention is zero (auto compaction off)."""
        retention = self._retention
        return bool(retention.total_seconds() if isinstance(retention, timedelta) else retention)

    async def run(self) -> None:
        """Compact as the retention says until cancelled (returns at once when off)."""
        if not self.enabled:
            return
        if isinstance(self._retention, timedelta):
            await self._run_periodic(self._retention.total_seconds())
        else:
            await self._run_revision(self._retention)

    async def _run_periodic(self, period: float) -> None:
        interval = min(period / 10, MAX_SAMPLE_INTERVAL)
        samples: deque[tuple[float, int]] = deque()
        while True:
            now = trio.current_time()
            samples.append((now, self._current_revision()))
            target = 0
            while samples and now - samples[0][0] >= period:
                target = samples.popleft()[1]
            if target:
                await self._maybe_compact(target)
            await trio.sleep(interval)

    async def _run_revision(self, retention: int) -> None:
        while True:
            await trio.sleep(REVISION_CHECK_INTERVAL)
            await self._maybe_compact(self._current_revision() - retention)

    async def _maybe_compact(self, revision: int) -> None:
        if revision <= self._compacted_revision() or not self._is_leader():
            return
        try:
            await self._compact(revision)
        except errors.EtcdError as exc:
            logger.warning("auto compaction at revision %d failed: %s", revision, exc.message)
            return
        logger.info("auto compaction: compacted the key space at revision %d", revision)
