"""Watch streams served by one member see the writes made through another, in order."""

from __future__ import annotations

import trio

from node.messages.key_value import EventType
from node.messages.kv import DeleteRangeRequest, PutRequest
from tests.server.harness import Cluster, cluster_configs


async def _events_by_watch(stream, wanted: dict[int, int]) -> dict[int, list]:
    """Receive until each watch id has its wanted number of events."""
    events: dict[int, list] = {watch_id: [] for watch_id in wanted}
    with trio.fail_after(10):
        while any(len(events[w]) < n for w, n in wanted.items()):
            for response in await stream.receive():
                if response.watch_id in events:
                    events[response.watch_id].extend(response.events)
    return events


async def test_a_watch_on_one_member_sees_writes_through_another_in_order(tmp_path):
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, cluster_configs(tmp_path, 3))
        await cluster.start_all()
        leader = await cluster.leader()
        watching, writer = cluster.followers(leader)
        first = await writer.put(PutRequest(key=b"w/00", value=b"before the watch"))
        stream = watching.new_watch_stream()
        history = stream.watch(b"w/", b"w0", start_revision=first.revision)
        one_key = stream.watch(b"w/01", prev_kv=True)
        for i in range(1, 11):
            await writer.put(PutRequest(key=f"w/{i:02}".encode(), value=str(i).encode()))
        await writer.delete_range(DeleteRangeRequest(key=b"w/01"))

        events = await _events_by_watch(stream, {history: 12, one_key: 2})
        assert [(e.type, e.kv.key) for e in events[history]] == [
            (EventType.PUT, f"w/{i:02}".encode()) for i in range(11)
        ] + [(EventType.DELETE, b"w/01")]
        revisions = [e.kv.mod_revision for e in events[history]]
        assert revisions == list(range(first.revision, first.revision + 12))
        put, delete = events[one_key]
        assert (put.type, put.kv.value) == (EventType.PUT, b"1")
        assert (delete.type, delete.prev_kv.value) == (EventType.DELETE, b"1")
        stream.close()
        assert await stream.receive() == []
        nursery.cancel_scope.cancel()
