"""The watchable store: routes every committed change of the key space to the watchers of it.

Modelled on etcd 3.4's mvcc/watchable_store.go, as plain synchronous code that an async owner
drives. Every watcher is in exactly one of three places:

- synced: it has been handed every change up to the current revision; each write's changes
  reach it from `kv.on_commit` through a key index (a dict plus an interval tree), so a write
  costs the same with ten watchers or ten thousand;
- unsynced: it still owes changes from the past (a start revision behind the current one);
  `sync_watchers()`, called by the owner (etcd: every 100 ms), reads them from the backend
  through `kv.events_between` in windows of at most `batch_revisions` revisions and moves it
  to synced once caught up. A watcher whose next revision is below the compaction revision
  gets one response with compact_revision set and ends. As in etcd 3.4, one whose next
  revision equals the compaction revision is served what compaction kept at it (its
  deletions at exactly that revision are gone).
- victim: its stream's queue was full, so it holds the one response it could not deliver and
  takes no new changes; `sync_victims()` (the owner calls it while victims remain; etcd:
  every 10 ms) delivers that response once there is room, and the watcher goes back to
  unsynced (or synced, if nothing happened meanwhile) to read from the backend what it
  missed, so what it holds never grows.

A watcher is thus handed each of its changes exactly once, in revision order, with one
revision's changes always in one response, and a slow consumer never holds up a write.
Not thread-safe: one owner calls everything from one thread.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.messages import errors
from node.messages.key_value import Event, KeyValue
from node.mvcc.watcher import PROGRESS_WATCH_ID, Watcher, WatchResponse, WatchStream
from node.mvcc.watcher_group import WatcherGroup

if TYPE_CHECKING:
    from node.mvcc.kvstore import KVStore

QUEUE_CAPACITY = 1024
"""Event responses a stream queues before its watchers become victims (etcd's chanBufLen)."""

WATCHERS_PER_SYNC = 512
"""Unsynced watchers served by one sync round (etcd's maxWatchersPerSync)."""

BATCH_REVISIONS = 1000
"""Revisions read from the backend for one catch-up response (etcd's watchBatchMaxRevs)."""

MAX_RESPONSE_BYTES = (3 << 19) + (512 << 10)
"""Estimated size at which a fragmenting watcher's response is split: etcd's default max
request bytes (1.5 MiB) plus its gRPC overhead allowance (512 KiB), as its watch server."""


@dataclass(slots=True)
class WatchStats:
    """Counters for observability: where the watchers are and how much has flowed."""

    streams: int
    synced: int
    unsynced: int
    victims: int
    events_delivered: int
    responses_delivered: int
    routing_probes: int
    """Index steps spent finding the watchers of changes (the cost a write pays per change)."""


class WatchableStore:
    """Watch machinery over a KVStore: registers on `kv.on_commit` and hands out streams."""

    def __init__(
        self,
        kv: KVStore,
        *,
        queue_capacity: int = QUEUE_CAPACITY,
        batch_revisions: int = BATCH_REVISIONS,
        watchers_per_sync: int = WATCHERS_PER_SYNC,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.kv = kv
        self._queue_capacity = queue_capacity
        self._batch_revisions = batch_revisions
        self._watchers_per_sync = watchers_per_sync
        self._max_response_bytes = max_response_bytes
        self._synced = WatcherGroup[Watcher]()
        self._unsynced = WatcherGroup[Watcher]()
        self._victims: dict[Watcher, WatchResponse] = {}
        self._streams: set[WatchStream] = set()
        self._progress_deferred: set[WatchStream] = set()
        self._catch_up_probes = 0
        self._events_delivered = 0
        self._responses_delivered = 0
        kv.on_commit.append(self._on_commit)

    def new_stream(self) -> WatchStream:
        """A new consumer: a set of watchers sharing one bounded response queue."""
        stream = WatchStream(self, self._queue_capacity, self._max_response_bytes)
        self._streams.add(stream)
        return stream

    def close(self) -> None:
        """Stop receiving the key space's changes."""
        if self._on_commit in self.kv.on_commit:
            self.kv.on_commit.remove(self._on_commit)

    def stats(self) -> WatchStats:
        """The current counters (watchers by state, what has been delivered, routing cost)."""
        return WatchStats(
            streams=len(self._streams),
            synced=len(self._synced),
            unsynced=len(self._unsynced),
            victims=len(self._victims),
            events_delivered=self._events_delivered,
            responses_delivered=self._responses_delivered,
            routing_probes=self._synced.probes + self._catch_up_probes,
        )

    # -- the owner's periodic duties ------------------------------------------------------

    def sync_watchers(self) -> bool:
        """One catch-up round for up to `watchers_per_sync` unsynced watchers.

        Each chosen watcher gets at most one response holding its changes from the next
        `batch_revisions` revisions; it joins the synced group once it reaches the current
        revision. Returns whether unsynced watchers remain (call again soon if so).
        """
        if not self._unsynced:
            return False
        current = self.kv.current_revision
        compacted = self.kv.compact_revision
        behind: list[Watcher] = []
        for watcher in list(itertools.islice(self._unsynced, self._watchers_per_sync)):
            if watcher.min_rev < compacted:
                self._end_compacted(watcher, compacted, current)
            else:
                behind.append(watcher)
        behind.sort(key=lambda w: w.min_rev)
        start = 0
        while start < len(behind):
            low = behind[start].min_rev
            high = min(current + 1, low + self._batch_revisions)
            stop = start
            while stop < len(behind) and behind[stop].min_rev < high:
                stop += 1
            self._catch_up(behind[start:stop], low, high, current)
            start = stop
        self.send_deferred_progress()
        return bool(self._unsynced)

    def sync_victims(self) -> bool:
        """Retry the responses victims hold; returns whether victims remain."""
        if not self._victims:
            return False
        current = self.kv.current_revision
        for watcher, response in list(self._victims.items()):
            if watcher.stream.offer(watcher, response):
                del self._victims[watcher]
                self._resume(watcher, current)
        self.send_deferred_progress()
        return bool(self._victims)

    def notify_progress(self) -> None:
        """Periodic progress for progress_notify watchers that got no events since last time.

        As etcd's progress ticker (every 10 minutes by default): a synced, idle watcher gets a
        response with no events and the current revision, unless its queue is full.
        """
        current = self.kv.current_revision
        for stream in self._streams:
            for watcher in stream.watchers:
                if not watcher.progress_notify:
                    continue
                if watcher.idle and self._caught_up(watcher, current):
                    stream.offer(watcher, WatchResponse(watcher.id, [], current))
                watcher.idle = True

    def restore(self, kv: KVStore) -> None:
        """Move onto another key space (a restored snapshot): synced watchers re-check it."""
        before = self.kv.current_revision
        self.close()
        self.kv = kv
        kv.on_commit.append(self._on_commit)
        current = kv.current_revision
        for watcher in list(self._synced):
            watcher.min_rev = max(watcher.min_rev, before + 1)
            if watcher.min_rev <= current:
                self._synced.discard(watcher)
                self._unsynced.add(watcher)

    # -- used by WatchStream --------------------------------------------------------------

    @property
    def current_revision(self) -> int:
        """The key space's current revision (the store's key space may be swapped)."""
        return self.kv.current_revision

    def add_watcher(self, watcher: Watcher) -> None:
        """Place a new watcher: synced when it starts after the current revision."""
        current = self.kv.current_revision
        start = watcher.start_revision
        if start <= 0 or start > current:
            watcher.min_rev = max(current + 1, start)
            self._synced.add(watcher)
        else:
            watcher.min_rev = start
            self._unsynced.add(watcher)

    def remove_watcher(self, watcher: Watcher) -> None:
        """Forget a watcher wherever it is (synced, unsynced or victim)."""
        if not (self._synced.discard(watcher) or self._unsynced.discard(watcher)):
            self._victims.pop(watcher, None)

    def forget_stream(self, stream: WatchStream) -> None:
        """Stop serving a closed stream."""
        self._streams.discard(stream)
        self._progress_deferred.discard(stream)

    def send_progress(self, stream: WatchStream) -> bool:
        """Queue a stream-wide progress response if every watcher of it is synced."""
        current = self.kv.current_revision
        watchers = stream.watchers
        if not all(self._caught_up(w, current) for w in watchers):
            return False
        if watchers:
            stream.push(WatchResponse(PROGRESS_WATCH_ID, [], current))
        return True

    def defer_progress(self, stream: WatchStream) -> None:
        """Remember that `stream` wants a progress response once it has caught up."""
        self._progress_deferred.add(stream)

    def send_deferred_progress(self) -> None:
        """Send the progress responses streams asked for while they were catching up."""
        for stream in list(self._progress_deferred):
            if self.send_progress(stream):
                stream.progress_deferred = False
                self._progress_deferred.discard(stream)

    def prev_kv(self, event: Event) -> KeyValue | None:
        """The key's value just before `event`; None if it had none or that is compacted."""
        revision = event.kv.mod_revision - 1
        if revision < 1:
            return None
        try:
            with self.kv.read() as view:
                found = view.range(event.kv.key, revision=revision)
        except errors.Compacted:
            return None
        return found.kvs[0] if found.kvs else None

    def count_delivered(self, responses: list[WatchResponse]) -> None:
        """Account for responses a consumer has taken."""
        self._responses_delivered += len(responses)
        self._events_delivered += sum(len(r.events) for r in responses)

    # -- routing ---------------------------------------------------------------------------

    def _on_commit(self, revision: int, events: list[Event]) -> None:
        if not self._synced:
            return
        batches: dict[Watcher, list[Event]] = {}
        for event in events:
            for watcher in self._synced.watching(event.kv.key):
                if watcher.min_rev <= revision:
                    batches.setdefault(watcher, []).append(event)
        for watcher, batch in batches.items():
            watcher.min_rev = revision + 1
            undelivered = self._deliver(watcher, batch, revision)
            if undelivered is not None:
                self._synced.discard(watcher)
                self._victims[watcher] = undelivered
        if self._progress_deferred:
            self.send_deferred_progress()

    def _catch_up(self, watchers: list[Watcher], low: int, high: int, current: int) -> None:
        """Hand `watchers` (all with low <= min_rev < high) their changes in [min_rev, high)."""
        window = WatcherGroup[Watcher]()
        for watcher in watchers:
            window.add(watcher)
        batches: dict[Watcher, list[Event]] = {}
        for event in self.kv.events_between(low, high):
            for watcher in window.watching(event.kv.key):
                if event.kv.mod_revision >= watcher.min_rev:
                    batches.setdefault(watcher, []).append(event)
        self._catch_up_probes += window.probes
        for watcher in watchers:
            self._unsynced.discard(watcher)
            watcher.min_rev = high
            undelivered = self._deliver(watcher, batches.get(watcher, []), high - 1)
            if undelivered is not None:
                self._victims[watcher] = undelivered
            else:
                self._resume(watcher, current)

    def _deliver(
        self, watcher: Watcher, events: list[Event], revision: int
    ) -> WatchResponse | None:
        """Queue `watcher`'s wanted events; returns the response if the queue was full."""
        wanted = watcher.wanted(events)
        if not wanted:
            return None
        response = WatchResponse(watcher.id, wanted, revision)
        return None if watcher.stream.offer(watcher, response) else response

    def _resume(self, watcher: Watcher, current: int) -> None:
        if watcher.min_rev <= current:
            self._unsynced.add(watcher)
        else:
            self._synced.add(watcher)

    def _end_compacted(self, watcher: Watcher, compacted: int, current: int) -> None:
        self._unsynced.discard(watcher)
        watcher.stream.drop(watcher)
        watcher.stream.push(
            WatchResponse(watcher.id, [], current, compact_revision=compacted, canceled=True)
        )

    def _caught_up(self, watcher: Watcher, current: int) -> bool:
        """Synced, and not waiting for a start revision still ahead (etcd's progress check)."""
        return watcher in self._synced and current >= watcher.start_revision
