"""Watch scenarios against the real KVStore on an LMDB backend."""

from __future__ import annotations

import pytest

from node.messages.key_value import EventType
from node.messages.kv import DeleteRangeRequest, PutRequest
from node.messages.watch import WatchFilter
from node.mvcc.backend import Backend
from node.mvcc.kvstore import KVStore
from node.mvcc.watchable_store import WatchableStore
from node.mvcc.watcher import (
    DUPLICATE_WATCH_ID,
    EMPTY_WATCHER_RANGE,
    PROGRESS_WATCH_ID,
    WatchResponse,
    WatchStream,
)
from tests.server.served import served_delete_range, served_put


@pytest.fixture
def backend(tmp_path):
    backend = Backend(tmp_path / "db")
    yield backend
    backend.close()


@pytest.fixture
def kv(backend):
    return KVStore(backend)


@pytest.fixture
def store(kv):
    return WatchableStore(kv)


def put(kv: KVStore, key: bytes, value: bytes = b"v") -> int:
    return served_put(kv, PutRequest(key=key, value=value)).revision


def delete(kv: KVStore, key: bytes, range_end: bytes = b"") -> int:
    return served_delete_range(kv, DeleteRangeRequest(key=key, range_end=range_end)).revision


def settle(store: WatchableStore, stream: WatchStream) -> list[WatchResponse]:
    """Everything the stream gets once the owner has run its sync loops until idle."""
    responses = stream.poll()
    while True:
        more = store.sync_victims() | store.sync_watchers()
        got = stream.poll()
        responses += got
        if not more and not got:
            return responses


def changes(responses: list[WatchResponse], watch_id: int) -> list[tuple]:
    """(type, key, value, mod_revision) of every event the watcher got, in order."""
    return [
        (e.type, e.kv.key, e.kv.value, e.kv.mod_revision)
        for r in responses
        if r.watch_id == watch_id
        for e in r.events
    ]


PUT, DELETE = EventType.PUT, EventType.DELETE


def test_created_response_comes_first_with_the_current_revision(kv, store):
    rev = put(kv, b"a")
    stream = store.new_stream()
    wid = stream.watch(b"a")
    assert wid == 0
    assert stream.poll() == [WatchResponse(0, [], rev, created=True)]


def test_synced_watcher_sees_puts_and_deletes_of_its_key_and_no_other(kv, store):
    stream = store.new_stream()
    wid = stream.watch(b"foo")
    r1 = put(kv, b"foo", b"1")
    put(kv, b"foobar", b"x")
    put(kv, b"fo", b"x")
    r2 = delete(kv, b"foo")
    responses = stream.poll()[1:]
    assert changes(responses, wid) == [(PUT, b"foo", b"1", r1), (DELETE, b"foo", b"", r2)]
    assert [r.revision for r in responses] == [r1, r2]


def test_put_events_carry_the_whole_key_value(kv, store):
    stream = store.new_stream()
    stream.watch(b"k")
    first = put(kv, b"k", b"1")
    second = put(kv, b"k", b"2")
    kvs = [r.events[0].kv for r in stream.poll()[1:]]
    assert [(k.create_revision, k.mod_revision, k.version) for k in kvs] == [
        (first, first, 1),
        (first, second, 2),
    ]
    assert kvs[0].key == b"k" and kvs[1].value == b"2"


def test_prefix_watch_sees_only_keys_under_the_prefix(kv, store):
    stream = store.new_stream()
    wid = stream.watch(b"dir/", b"dir0")
    put(kv, b"dir")
    r1 = put(kv, b"dir/a")
    r2 = put(kv, b"dir/b/c")
    put(kv, b"dir0")
    put(kv, b"e")
    assert changes(stream.poll(), wid) == [(PUT, b"dir/a", b"v", r1), (PUT, b"dir/b/c", b"v", r2)]


def test_from_key_watch_sees_every_key_from_its_key_on(kv, store):
    stream = store.new_stream()
    wid = stream.watch(b"m", b"\0")
    put(kv, b"a")
    put(kv, b"m")
    put(kv, b"zzz")
    assert [key for _, key, _, _ in changes(stream.poll(), wid)] == [b"m", b"zzz"]


def test_empty_key_with_from_key_end_watches_the_whole_key_space(kv, store):
    stream = store.new_stream()
    wid = stream.watch(b"", b"\0")
    put(kv, b"\0")
    put(kv, b"a")
    assert [key for _, key, _, _ in changes(stream.poll(), wid)] == [b"\0", b"a"]


def test_noput_and_nodelete_filters_drop_those_events(kv, store):
    stream = store.new_stream()
    deletes_only = stream.watch(b"k", filters=[WatchFilter.NOPUT])
    puts_only = stream.watch(b"k", filters=[WatchFilter.NODELETE])
    r1 = put(kv, b"k")
    r2 = delete(kv, b"k")
    responses = stream.poll()
    assert changes(responses, deletes_only) == [(DELETE, b"k", b"", r2)]
    assert changes(responses, puts_only) == [(PUT, b"k", b"v", r1)]
    assert all(r.events for r in responses if not r.created)


def test_prev_kv_holds_the_value_before_each_change(kv, store):
    put(kv, b"k", b"old")
    stream = store.new_stream()
    wid = stream.watch(b"k", prev_kv=True)
    put(kv, b"k", b"new")
    delete(kv, b"k")
    put(kv, b"k", b"again")
    events = [e for r in stream.poll() if r.watch_id == wid for e in r.events]
    assert [e.prev_kv.value if e.prev_kv else None for e in events] == [b"old", b"new", None]


def test_prev_kv_is_left_out_when_the_revision_before_is_compacted(kv, store):
    put(kv, b"k", b"old")
    stream = store.new_stream()
    stream.watch(b"k", prev_kv=True)
    rev = put(kv, b"k", b"new")
    put(kv, b"other")
    kv.compact(rev + 1)
    event = stream.poll()[1].events[0]
    assert event.kv.value == b"new" and event.prev_kv is None


def test_events_of_one_transaction_arrive_together_in_one_response(kv, store):
    put(kv, b"a/gone")
    stream = store.new_stream()
    wid = stream.watch(b"a/", b"a0")
    with kv.write() as txn:
        txn.put(b"a/1", b"x")
        txn.put(b"a/2", b"y")
        txn.delete_range(b"a/gone")
    responses = stream.poll()[1:]
    assert len(responses) == 1
    revision = responses[0].revision
    assert changes(responses, wid) == [
        (PUT, b"a/1", b"x", revision),
        (PUT, b"a/2", b"y", revision),
        (DELETE, b"a/gone", b"", revision),
    ]


def test_watch_from_the_past_catches_up_then_follows_live_writes_without_gap(kv):
    store = WatchableStore(kv, batch_revisions=3)
    first = put(kv, b"k", b"0")
    for i in range(1, 10):
        put(kv, b"k", b"%d" % i)
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=first)
    received = stream.poll()
    written = 10
    while store.sync_watchers():
        put(kv, b"k", b"%d" % written)
        written += 1
        received += stream.poll()
    for i in range(written, written + 3):
        put(kv, b"k", b"%d" % i)
    received += settle(store, stream)
    values = [value for _, _, value, _ in changes(received, wid)]
    assert values == [b"%d" % i for i in range(written + 3)]
    revisions = [rev for *_, rev in changes(received, wid)]
    assert revisions == sorted(set(revisions))
    assert store.stats().synced == 1


def test_catch_up_response_revision_is_how_far_the_watcher_has_seen(kv):
    store = WatchableStore(kv, batch_revisions=2)
    first = put(kv, b"k")
    put(kv, b"other")
    put(kv, b"other")
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=first)
    store.sync_watchers()
    caught = [r for r in stream.poll() if r.watch_id == wid and r.events]
    assert [(r.revision, len(r.events)) for r in caught] == [(first + 1, 1)]


def test_compacted_start_revision_gets_one_compacted_response_and_ends(kv, store):
    first = put(kv, b"k")
    put(kv, b"k")
    compacted = put(kv, b"k")
    kv.compact(compacted)
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=first)
    assert store.sync_watchers() is False
    created, ended = stream.poll()
    assert created.created
    assert (ended.watch_id, ended.compact_revision, ended.canceled, ended.events) == (
        wid,
        compacted,
        True,
        [],
    )
    put(kv, b"k")
    assert settle(store, stream) == []
    assert stream.watchers == []


def test_a_watch_from_the_compaction_revision_itself_gets_what_compaction_kept(kv, store):
    put(kv, b"k", b"old")
    kept = put(kv, b"k", b"kept")
    kv.compact(kept)
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=kept)
    assert [rev for *_, rev in changes(settle(store, stream), wid)] == [kept]


def test_a_watch_from_before_the_compaction_revision_is_compacted(kv, store):
    put(kv, b"k")
    deleted = delete(kv, b"k")
    kv.compact(deleted)
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=deleted - 1)
    store.sync_watchers()
    ended = stream.poll()[-1]
    assert (ended.watch_id, ended.compact_revision) == (wid, deleted)


def test_a_watch_just_after_the_compaction_revision_catches_up(kv, store):
    put(kv, b"k")
    compacted = delete(kv, b"k")
    kv.compact(compacted)
    later = put(kv, b"k")
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=compacted + 1)
    assert [rev for *_, rev in changes(settle(store, stream), wid)] == [later]


def test_watchers_catching_up_together_each_start_at_their_own_revision(kv, store):
    revisions = [put(kv, b"k", b"%d" % i) for i in range(5)]
    stream = store.new_stream()
    early = stream.watch(b"k", start_revision=revisions[0])
    late = stream.watch(b"k", start_revision=revisions[3])
    received = settle(store, stream)
    assert [rev for *_, rev in changes(received, early)] == revisions
    assert [rev for *_, rev in changes(received, late)] == revisions[3:]


def test_slow_consumer_does_not_block_writes_and_later_gets_every_event(kv, backend):
    store = WatchableStore(kv, queue_capacity=64)
    slow = store.new_stream()
    wid = slow.watch(b"k")
    fast = store.new_stream()
    fast_id = fast.watch(b"k")
    slow.poll()
    fast_received = []
    revisions = []
    with backend.batch():
        for i in range(10_000):
            revisions.append(put(kv, b"k", b"%d" % i))
            fast_received += fast.poll()
    assert slow.pending == 64
    assert store.stats().victims == 1
    assert [rev for *_, rev in changes(fast_received, fast_id)] == revisions
    received = settle(store, slow)
    assert [rev for *_, rev in changes(received, wid)] == revisions
    assert store.stats().victims == 0 and store.stats().synced == 2


def test_cancel_queues_a_canceled_response_and_stops_events(kv, store):
    stream = store.new_stream()
    wid = stream.watch(b"k")
    put(kv, b"k")
    assert stream.cancel(wid) is True
    rev = put(kv, b"k")
    responses = stream.poll()
    assert responses[-1] == WatchResponse(wid, [], rev - 1, canceled=True)
    assert len(changes(responses, wid)) == 1
    assert stream.cancel(wid) is False
    assert store.stats().synced == 0


def test_a_taken_watch_id_is_refused_with_etcds_reason(kv, store):
    stream = store.new_stream()
    assert stream.watch(b"a", watch_id=1) == 1
    assert stream.watch(b"b", watch_id=1) == -1
    assert stream.watch(b"c") == 0
    assert stream.watch(b"d") == 2
    refused = stream.poll()[1]
    assert (refused.watch_id, refused.created, refused.canceled, refused.cancel_reason) == (
        -1,
        True,
        True,
        DUPLICATE_WATCH_ID,
    )
    assert DUPLICATE_WATCH_ID == "mvcc: duplicate watch ID provided on the WatchStream"


def test_an_empty_range_is_refused(kv, store):
    stream = store.new_stream()
    assert stream.watch(b"b", b"a") == -1
    assert stream.poll()[0].cancel_reason == EMPTY_WATCHER_RANGE == "mvcc: watcher range is empty"


def test_progress_request_on_a_synced_stream_reports_the_current_revision(kv, store):
    stream = store.new_stream()
    stream.watch(b"a")
    stream.watch(b"b")
    rev = put(kv, b"other")
    stream.request_progress()
    assert stream.poll()[-1] == WatchResponse(PROGRESS_WATCH_ID, [], rev)


def test_progress_request_waits_until_every_watcher_has_caught_up(kv):
    store = WatchableStore(kv, batch_revisions=2)
    first = put(kv, b"k")
    for _ in range(4):
        put(kv, b"k")
    stream = store.new_stream()
    stream.watch(b"live")
    wid = stream.watch(b"k", start_revision=first)
    stream.request_progress()
    stream.request_progress()
    received = settle(store, stream)
    progress = [r for r in received if r.watch_id == PROGRESS_WATCH_ID]
    assert progress == [WatchResponse(PROGRESS_WATCH_ID, [], kv.current_revision)]
    assert received[-1] is progress[0]
    assert len(changes(received, wid)) == 5


def test_progress_request_after_catch_up_with_no_matching_events(kv, store):
    start = put(kv, b"unrelated")
    stream = store.new_stream()
    stream.watch(b"k", start_revision=start)
    stream.request_progress()
    assert [r.watch_id for r in stream.poll()] == [0]
    store.sync_watchers()
    assert stream.poll() == [WatchResponse(PROGRESS_WATCH_ID, [], start)]


def test_progress_request_waits_for_a_watcher_starting_in_the_future(kv, store):
    now = put(kv, b"k")
    stream = store.new_stream()
    stream.watch(b"k", start_revision=now + 2)
    stream.poll()
    stream.request_progress()
    put(kv, b"other")
    assert stream.poll() == []
    reached = put(kv, b"other")
    assert stream.poll() == [WatchResponse(PROGRESS_WATCH_ID, [], reached)]


def test_progress_request_on_a_stream_without_watchers_gets_nothing(store):
    stream = store.new_stream()
    stream.request_progress()
    assert stream.poll() == []


def test_progress_notify_reaches_idle_watchers_only(kv, store):
    stream = store.new_stream()
    idle = stream.watch(b"idle", progress_notify=True)
    busy = stream.watch(b"busy", progress_notify=True)
    stream.watch(b"quiet")
    stream.poll()
    rev = put(kv, b"busy")
    store.notify_progress()
    responses = stream.poll()
    assert responses == [
        WatchResponse(busy, responses[0].events, rev),
        WatchResponse(idle, [], rev),
    ]
    store.notify_progress()
    assert {r.watch_id for r in stream.poll()} == {idle, busy}


def test_fragmenting_splits_a_large_response_into_marked_parts(kv):
    store = WatchableStore(kv, max_response_bytes=100_000)
    stream = store.new_stream()
    wid = stream.watch(b"big/", b"big0", fragment=True)
    whole = stream.watch(b"big/", b"big0")
    stream.poll()
    with kv.write() as txn:
        for i in range(5):
            txn.put(b"big/%d" % i, b"x" * 40_000)
    responses = stream.poll()
    parts = [r for r in responses if r.watch_id == wid]
    assert [r.fragment for r in parts] == [True, True, False]
    assert [len(r.events) for r in parts] == [2, 2, 1]
    assert len({r.revision for r in parts}) == 1
    assert changes(parts, wid) == changes(responses, whole)
    assert [r.fragment for r in responses if r.watch_id == whole] == [False]


def test_on_ready_fires_when_the_queue_goes_from_empty_to_non_empty(kv, store):
    stream = store.new_stream()
    woken = []
    stream.on_ready = lambda: woken.append(stream.pending)
    stream.watch(b"k")
    put(kv, b"k")
    assert woken == [1]
    stream.poll()
    put(kv, b"k")
    assert woken == [1, 1]


def test_close_removes_every_watcher_of_the_stream(kv, store):
    stream = store.new_stream()
    stream.watch(b"a")
    first = put(kv, b"a")
    stream.watch(b"a", start_revision=first)
    stream.close()
    put(kv, b"a")
    stats = store.stats()
    assert (stats.streams, stats.synced, stats.unsynced) == (0, 0, 0)


def test_future_start_revision_waits_for_that_revision(kv, store):
    now = put(kv, b"k")
    stream = store.new_stream()
    wid = stream.watch(b"k", start_revision=now + 3)
    put(kv, b"k")
    put(kv, b"k")
    later = put(kv, b"k")
    assert [rev for *_, rev in changes(stream.poll(), wid)] == [later]


def test_many_watchers_keep_each_write_cheap(kv, backend, store):
    stream = store.new_stream()
    for i in range(2000):
        stream.watch(b"key/%04d" % i)
        stream.watch(b"dir/%04d/" % i, b"dir/%04d0" % i)
    before = store.stats().routing_probes
    with backend.batch():
        for i in range(0, 2000, 20):
            put(kv, b"key/%04d" % i)
            put(kv, b"dir/%04d/x" % i)
    probes_per_write = (store.stats().routing_probes - before) / 200
    assert probes_per_write < 40
    assert len([r for r in stream.poll() if r.events]) == 200


def test_stats_count_watchers_by_state_and_events_delivered(kv):
    store = WatchableStore(kv, queue_capacity=2)
    first = put(kv, b"k")
    stream = store.new_stream()
    stream.watch(b"k")
    stream.watch(b"k", start_revision=first)
    for _ in range(3):
        put(kv, b"k")
    stats = store.stats()
    assert (stats.synced, stats.unsynced, stats.victims) == (0, 1, 1)
    settle(store, stream)
    stats = store.stats()
    assert (stats.synced, stats.unsynced, stats.victims) == (2, 0, 0)
    assert stats.events_delivered == 3 + 4


def test_restore_sends_synced_watchers_to_catch_up_on_the_new_key_space(kv, store, tmp_path):
    stream = store.new_stream()
    wid = stream.watch(b"k")
    put(kv, b"k", b"1")
    newer = Backend(tmp_path / "snapshot")
    newer_kv = KVStore(newer)
    for value in (b"1", b"2"):
        put(newer_kv, b"k", value)
    store.restore(newer_kv)
    received = settle(store, stream)
    assert [value for _, _, value, _ in changes(received, wid)] == [b"1", b"2"]
    put(newer_kv, b"k", b"3")
    assert [value for _, _, value, _ in changes(stream.poll(), wid)] == [b"3"]
    newer.close()


def test_restore_keeps_idle_watchers_clear_of_the_new_key_spaces_compaction(kv, store, tmp_path):
    stream = store.new_stream()
    wid = stream.watch(b"k")
    newer = Backend(tmp_path / "snapshot")
    newer_kv = KVStore(newer)
    for index in (kv, newer_kv):
        for _ in range(4):
            put(index, b"other")
    newer_kv.compact(newer_kv.current_revision - 1)
    written = put(newer_kv, b"k")
    store.restore(newer_kv)
    received = settle(store, stream)
    assert [r.compact_revision for r in received] == [0, 0]
    assert [rev for *_, rev in changes(received, wid)] == [written]
    newer.close()
