"""The store against a plain model: a list of (revision, key, value or None) and a compaction
point, under random puts, deletes, txns, compactions, reads at any revision and reopens.

MVCC_MODEL_EXAMPLES=<n> raises the number of generated sequences for a soak run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from node.messages import errors
from node.messages.key_value import EventType, KeyValue
from node.messages.kv import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
)
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from tests.server.served import served_delete_range, served_put, served_range, served_txn

KEYS = [b"a", b"b", b"c", b"d", b"e"]
key_names = st.sampled_from(KEYS)
values = st.binary(max_size=3)
range_ends = st.sampled_from([b"", b"\0", b"c", b"e", b"z"])


def live_at(history: list[tuple[int, bytes, bytes | None]], revision: int) -> dict:
    """key -> KeyValue for every key alive at `revision`, replaying the model's history."""
    alive: dict[bytes, KeyValue] = {}
    for rev, key, value in history:
        if rev > revision:
            break
        if value is None:
            alive.pop(key, None)
        elif key in alive:
            old = alive[key]
            alive[key] = KeyValue(key, old.create_revision, rev, old.version + 1, value)
        else:
            alive[key] = KeyValue(key, rev, rev, 1, value)
    return alive


def in_range(key: bytes, start: bytes, range_end: bytes) -> bool:
    if not range_end:
        return key == start
    if range_end == b"\0":
        return key >= start
    return start <= key < range_end


class KeySpaceModel(RuleBasedStateMachine):
    """Drives a real KVStore and the plain model side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mvcc-model-"))
        self.kv = KVStore(Backend(self.dir, map_size=1 << 26), compaction_batch_limit=3)
        self.history: list[tuple[int, bytes, bytes | None]] = []
        self.current = 1
        self.compacted = 0

    def teardown(self) -> None:
        self.kv.backend.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _alive(self) -> dict[bytes, KeyValue]:
        return live_at(self.history, self.current)

    @rule(key=key_names, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        resp = served_put(self.kv, PutRequest(key, value, prev_kv=True))
        self.current += 1
        assert resp.revision == self.current
        assert resp.prev_kv == self._alive().get(key)
        self.history.append((self.current, key, value))

    @rule(key=key_names, range_end=range_ends)
    def delete_range(self, key: bytes, range_end: bytes) -> None:
        doomed = sorted(k for k in self._alive() if in_range(k, key, range_end))
        resp = served_delete_range(self.kv, DeleteRangeRequest(key, range_end))
        assert resp.deleted == len(doomed)
        if doomed:
            self.current += 1
            self.history.extend((self.current, k, None) for k in doomed)
        assert resp.revision == self.current

    @rule(
        guard_key=key_names,
        guard_version=st.integers(0, 3),
        then_puts=st.lists(st.tuples(key_names, values), max_size=3, unique_by=lambda kv: kv[0]),
        else_deletes=st.lists(key_names, max_size=2),
    )
    def txn(
        self,
        guard_key: bytes,
        guard_version: int,
        then_puts: list[tuple[bytes, bytes]],
        else_deletes: list[bytes],
    ) -> None:
        request = TxnRequest(
            [Compare(CompareResult.EQUAL, CompareTarget.VERSION, guard_key, version=guard_version)],
            [RequestOp(request_put=PutRequest(k, v)) for k, v in then_puts],
            [RequestOp(request_delete_range=DeleteRangeRequest(k)) for k in else_deletes],
        )
        alive = self._alive()
        holds = (alive[guard_key].version if guard_key in alive else 0) == guard_version
        resp = served_txn(self.kv, request)
        assert resp.succeeded is holds
        if holds:
            changes = list(then_puts)
        else:
            changes = [(k, None) for k in dict.fromkeys(else_deletes) if k in alive]
        if changes:
            self.current += 1
            self.history.extend((self.current, k, v) for k, v in changes)
        assert resp.revision == self.current

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        revision = data.draw(st.integers(0, self.current + 2))
        if revision <= self.compacted:
            expected: type[Exception] | None = errors.Compacted
        elif revision > self.current:
            expected = errors.FutureRevision
        else:
            expected = None
        try:
            self.kv.compact(revision)
        except errors.EtcdError as refused:
            assert type(refused) is expected
            return
        assert expected is None
        self.compacted = revision

    @rule(data=st.data(), key=key_names, range_end=range_ends, limit=st.integers(0, 3))
    def read(self, data: st.DataObject, key: bytes, range_end: bytes, limit: int) -> None:
        revision = data.draw(st.integers(0, self.current + 2))
        request = RangeRequest(key, range_end, limit=limit, revision=revision)
        if revision > self.current:
            expected: type[Exception] | None = errors.FutureRevision
        elif 0 < revision < self.compacted:
            expected = errors.Compacted
        else:
            expected = None
        try:
            resp = served_range(self.kv, request)
        except errors.EtcdError as refused:
            assert type(refused) is expected
            return
        assert expected is None
        alive = live_at(self.history, revision or self.current)
        wanted = [alive[k] for k in sorted(alive) if in_range(k, key, range_end)]
        assert resp.count == len(wanted)
        assert resp.kvs == (wanted[:limit] if limit else wanted)
        assert resp.more == (0 < limit < len(wanted))
        assert resp.revision == self.current

    @rule(data=st.data())
    def replay_events(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(0, self.current + 1))
        if start < self.compacted:
            try:
                self.kv.events_between(start, self.current + 1)
            except errors.Compacted:
                return
            raise AssertionError("compacted history was replayed")
        if start == self.compacted:
            return  # the compaction point keeps only each key's latest change
        events = self.kv.events_between(start, self.current + 1)
        got = [
            (e.kv.mod_revision, e.kv.key, None if e.type is EventType.DELETE else e.kv.value)
            for e in events
        ]
        assert got == [change for change in self.history if change[0] >= start]

    @rule()
    def reopen(self) -> None:
        hashed = self.kv.hash_kv()
        self.kv.backend.close()
        self.kv = KVStore(Backend(self.dir, map_size=1 << 26), compaction_batch_limit=3)
        assert self.kv.hash_kv() == hashed

    @invariant()
    def revisions_match(self) -> None:
        assert self.kv.current_revision == self.current
        assert self.kv.compact_revision == self.compacted


KeySpaceModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("MVCC_MODEL_EXAMPLES", "50")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestKeySpaceModel = KeySpaceModel.TestCase
