"""Model-based test: every watcher sees exactly the model's changes after its start revision.

A hypothesis state machine drives the real KVStore and WatchableStore with random writes,
transactions, compactions, watches opened at random revisions over random keys and ranges,
cancels, polls, progress requests and sync rounds, with tiny queues and catch-up windows so
victims and windowed catch-up happen often. Every response is checked as it is polled:

- a response with revision R for a watcher means it now holds exactly the model's changes
  for it up to R (so nothing is skipped, duplicated, reordered or split across responses);
- a progress response with revision R means that holds for its watcher (or, stream-wide,
  for all the stream's watchers);
- a compacted response comes only for a watcher whose next revision was compacted
  (below the compaction revision, as etcd: one starting at it gets what compaction kept);
- prev_kv is the model's value before the change (absent only when compacted away).

And whenever the owner's loops have run dry, each live watcher has all its changes.
`MVCC_MODEL_EXAMPLES` raises the number of examples for soak runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from node.messages.key_value import EventType, KeyValue
from node.messages.kv import DeleteRangeRequest, PutRequest, RequestOp, TxnRequest
from node.messages.watch import WatchFilter
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.mvcc.watchable_store import WatchableStore
from node.mvcc.watcher import PROGRESS_WATCH_ID, WatchResponse, watch_range
from tests.server.served import served_delete_range, served_put, served_txn

KEYS = [b"a", b"a/1", b"a/2", b"b", b"c"]
RANGE_ENDS = [b"", b"", b"a0", b"b", b"c", b"\0"]
STREAMS = 2

keys = st.sampled_from(KEYS)
values = st.sampled_from([b"x", b"y", b"zz"])


@dataclass(frozen=True)
class Change:
    """One change of the model's history, as a watcher should see it."""

    type: EventType
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass
class Watch:
    stream: int
    id: int
    key: bytes
    end: bytes | None
    start: int
    no_put: bool
    no_delete: bool
    prev_kv: bool
    seen_through: int
    received: list[Change] = field(default_factory=list)
    live: bool = True
    announced: bool = False
    ending: bool = False

    def holds(self, key: bytes) -> bool:
        if self.end is None:
            return key == self.key
        return self.key <= key and (self.end == b"" or key < self.end)

    def wants(self, change: Change) -> bool:
        if change.mod_revision < self.start or not self.holds(change.key):
            return False
        return not (self.no_put if change.type is EventType.PUT else self.no_delete)


class WatchModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="watch-model-")
        self.backend = Backend(self.dir, map_size=64 << 20)
        self.kv = KVStore(self.backend)
        self.store = WatchableStore(
            self.kv, queue_capacity=1, batch_revisions=3, watchers_per_sync=3
        )
        self.streams = [self.store.new_stream() for _ in range(STREAMS)]
        self.revision = self.kv.current_revision
        self.compacted = 0
        self.compactions: set[int] = set()
        self.live: dict[bytes, KeyValue] = {}
        self.history: list[Change] = []
        self.values_at: dict[bytes, list[tuple[int, KeyValue | None]]] = {}
        self.watches: dict[tuple[int, int], Watch] = {}

    def teardown(self) -> None:
        self.backend.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model's key space ------------------------------------------------------------

    def _model_put(self, key: bytes, value: bytes, revision: int) -> None:
        old = self.live.get(key)
        kv = KeyValue(
            key,
            old.create_revision if old else revision,
            revision,
            old.version + 1 if old else 1,
            value,
        )
        self.live[key] = kv
        self.values_at.setdefault(key, []).append((revision, kv))
        self.history.append(
            Change(EventType.PUT, key, value, kv.create_revision, revision, kv.version)
        )

    def _model_delete(self, key: bytes, revision: int) -> None:
        del self.live[key]
        self.values_at[key].append((revision, None))
        self.history.append(Change(EventType.DELETE, key, b"", 0, revision, 0))

    def _in_range(self, key: bytes, range_end: bytes) -> list[bytes]:
        start, end = watch_range(key, range_end)
        if end is None:
            return [key] if key in self.live else []
        return sorted(k for k in self.live if start <= k and (end == b"" or k < end))

    def _value_before(self, key: bytes, revision: int) -> KeyValue | None:
        found = None
        for at, kv in self.values_at.get(key, []):
            if at >= revision:
                break
            found = kv
        return found

    # -- writes -------------------------------------------------------------------------

    @initialize(key=keys, value=values)
    def first_put(self, key: bytes, value: bytes) -> None:
        self.put(key, value)

    @initialize(key=keys, prev_kv=st.booleans())
    def first_watches(self, key: bytes, prev_kv: bool) -> None:
        self.watch(0, b"", b"\0", 0, False, set(), prev_kv)
        self.watch(1, key, b"\0", 0, True, set(), prev_kv)

    @rule(key=keys, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        revision = served_put(self.kv, PutRequest(key=key, value=value)).revision
        assert revision == self.revision + 1
        self.revision = revision
        self._model_put(key, value, revision)

    @rule(key=keys, range_end=st.sampled_from(RANGE_ENDS))
    def delete_range(self, key: bytes, range_end: bytes) -> None:
        if range_end and range_end != b"\0" and range_end <= key:
            return
        doomed = self._in_range(key, range_end)
        resp = served_delete_range(self.kv, DeleteRangeRequest(key=key, range_end=range_end))
        assert resp.deleted == len(doomed)
        if doomed:
            self.revision += 1
            for doomed_key in doomed:
                self._model_delete(doomed_key, self.revision)
        assert resp.revision == self.revision == self.kv.current_revision

    @rule(
        ops=st.lists(
            st.tuples(keys, st.booleans(), values), min_size=1, max_size=3, unique_by=lambda t: t[0]
        )
    )
    def txn(self, ops: list[tuple[bytes, bool, bytes]]) -> None:
        request = TxnRequest(
            success=[
                RequestOp(request_put=PutRequest(key=key, value=value))
                if is_put
                else RequestOp(request_delete_range=DeleteRangeRequest(key=key))
                for key, is_put, value in ops
            ]
        )
        resp = served_txn(self.kv, request)
        changed = any(is_put or key in self.live for key, is_put, _ in ops)
        if changed:
            self.revision += 1
            for key, is_put, value in ops:
                if is_put:
                    self._model_put(key, value, self.revision)
                elif key in self.live:
                    self._model_delete(key, self.revision)
        assert resp.revision == self.revision == self.kv.current_revision

    @precondition(lambda self: self.revision > self.compacted + 1)
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        revision = data.draw(st.integers(self.compacted + 1, self.revision), label="compact at")
        self.kv.compact(revision)
        self.compacted = revision
        self.compactions.add(revision)

    # -- watches ------------------------------------------------------------------------

    @rule(
        stream=st.integers(0, STREAMS - 1),
        key=keys,
        range_end=st.sampled_from(RANGE_ENDS),
        back=st.integers(-2, 12),
        from_now=st.booleans(),
        filters=st.sets(st.sampled_from(WatchFilter)),
        prev_kv=st.booleans(),
    )
    def watch(self, stream, key, range_end, back, from_now, filters, prev_kv) -> None:
        start_revision = 0 if from_now else max(1, self.revision - back)
        watch_id = self.streams[stream].watch(
            key, range_end, start_revision, filters=filters, prev_kv=prev_kv, progress_notify=True
        )
        start, end = watch_range(key, range_end)
        if end and start >= end:
            assert watch_id == -1
            return
        assert watch_id >= 0
        effective = self.revision + 1 if from_now else max(start_revision, 1)
        self.watches[(stream, watch_id)] = Watch(
            stream,
            watch_id,
            start,
            end,
            effective,
            WatchFilter.NOPUT in filters,
            WatchFilter.NODELETE in filters,
            prev_kv,
            seen_through=effective - 1,
        )

    @precondition(lambda self: any(w.live and not w.ending for w in self.watches.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        live = sorted(k for k, w in self.watches.items() if w.live and not w.ending)
        stream, watch_id = data.draw(st.sampled_from(live), label="cancel")
        watch = self.watches[(stream, watch_id)]
        if self.streams[stream].cancel(watch_id):
            watch.live = False
        else:
            # the store has ended it for compaction; its compacted response is on the way
            assert watch.start <= self.compacted
            watch.ending = True

    @rule(stream=st.integers(0, STREAMS - 1))
    def request_progress(self, stream: int) -> None:
        self.streams[stream].request_progress()

    @rule()
    def notify_progress(self) -> None:
        self.store.notify_progress()

    # -- the owner's loops and the consumers --------------------------------------------

    @rule()
    def sync_watchers(self) -> None:
        self.store.sync_watchers()

    @rule()
    def sync_victims(self) -> None:
        self.store.sync_victims()

    @rule(stream=st.integers(0, STREAMS - 1))
    def poll(self, stream: int) -> None:
        for response in self.streams[stream].poll():
            self._check(stream, response)

    @rule()
    def run_until_idle(self) -> None:
        for _ in range(10_000):
            busy = self.store.sync_victims() | self.store.sync_watchers()
            polled = False
            for index, stream in enumerate(self.streams):
                for response in stream.poll():
                    polled = True
                    self._check(index, response)
            if not busy and not polled:
                break
        else:
            raise AssertionError("the watch loops never went idle")
        for watch in self.watches.values():
            if watch.live:
                assert self._holds(watch, self.revision)
        assert self.store.stats().unsynced == self.store.stats().victims == 0

    # -- checks ---------------------------------------------------------------------------

    def _expected(self, watch: Watch, through: int) -> list[Change]:
        return [c for c in self.history if c.mod_revision <= through and watch.wants(c)]

    def _holds(self, watch: Watch, through: int) -> bool:
        """The watcher holds exactly its changes up to `through`.

        As in etcd, a watcher may catch up from the compaction revision itself and is then
        served what compaction kept there: deletions at exactly a compaction revision may be
        gone, so they are left out of the comparison (and only they).
        """
        expected = self._expected(watch, through)
        if watch.received == expected:
            return True

        def kept(changes: list[Change]) -> list[Change]:
            return [
                c
                for c in changes
                if not (c.type == EventType.DELETE and c.mod_revision in self.compactions)
            ]

        return kept(watch.received) == kept(expected)

    def _check(self, stream: int, response: WatchResponse) -> None:
        if response.watch_id == PROGRESS_WATCH_ID:
            if response.created:
                return
            assert response.revision <= self.revision
            for watch in self.watches.values():
                if watch.stream == stream and watch.live and watch.announced:
                    assert self._holds(watch, response.revision)
            return
        watch = self.watches[(stream, response.watch_id)]
        if response.created:
            assert not watch.received and not response.canceled
            watch.announced = True
            return
        if response.compact_revision:
            assert response.canceled and watch.live
            assert watch.seen_through < response.compact_revision <= self.compacted
            assert self._holds(watch, watch.seen_through)
            watch.live = False
            return
        if response.canceled:
            assert not watch.live
            return
        if not response.events:
            assert self._holds(watch, response.revision)
            return
        assert response.revision > watch.seen_through
        for event in response.events:
            change = Change(
                event.type,
                event.kv.key,
                event.kv.value,
                event.kv.create_revision,
                event.kv.mod_revision,
                event.kv.version,
            )
            watch.received.append(change)
            if watch.prev_kv:
                self._check_prev_kv(change, event.prev_kv)
            else:
                assert event.prev_kv is None
        watch.seen_through = response.revision
        assert self._holds(watch, response.revision)

    def _check_prev_kv(self, change: Change, prev_kv: KeyValue | None) -> None:
        before = self._value_before(change.key, change.mod_revision)
        if prev_kv is None:
            assert before is None or change.mod_revision - 1 < self.compacted
        else:
            assert prev_kv == before


TestWatchModel = WatchModel.TestCase
TestWatchModel.settings = settings(
    max_examples=int(os.environ.get("MVCC_MODEL_EXAMPLES", "150")),
    stateful_step_count=50,
    deadline=None,
)
