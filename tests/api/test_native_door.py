"""The native door of a real member, spoken to frame by frame: what a misbehaving client gets.

Every case checks the member answers with a clear error, keeps serving (on the same connection
when the framing is still intact) and has written nothing.
"""

from __future__ import annotations

import trio

from node.messages import native_protocol as protocol

from .native_cluster import native_cluster


class RawConnection:
    """A client that writes frames by hand and reads the member's envelopes."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._decoder = protocol.FrameDecoder(protocol.MAX_RECEIVE_BYTES)
        self._pending: list = []

    @classmethod
    async def open(cls, endpoint: str) -> RawConnection:
        host, port = endpoint.rsplit(":", 1)
        return cls(await trio.open_tcp_stream(host, int(port)))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive(self) -> protocol.Message | protocol.End | protocol.Failure:
        with trio.fail_after(10):
            while not self._pending:
                data = await self.stream.receive_some(65536)
                assert data, "the member closed the connection"
                self._pending += [protocol.decode_response(p) for p in self._decoder.feed(data)]
        return self._pending.pop(0)

    async def call(self, call_id: int, method: str, body: dict):
        await self.send(protocol.encode_call(call_id, method, body))
        return await self.receive()


async def _revision(connection: RawConnection) -> int:
    reply = await connection.call(999, "KV.Range", {"key": b"any"})
    return reply.body["header"]["revision"]


async def test_a_put_and_a_range_through_raw_frames(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        put = await connection.call(1, "KV.Put", {"key": b"k", "value": b"v"})
        got = await connection.call(2, "KV.Range", {"key": b"k"})
    assert put.id == 1
    assert put.body["header"]["member_id"] == member.server.member_id
    assert got.id == 2
    assert [(kv["key"], kv["value"]) for kv in got.body["kvs"]] == [(b"k", b"v")]
    assert got.body["header"]["revision"] == put.body["header"]["revision"]


async def test_many_pipelined_calls_are_all_answered_by_their_ids(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        await connection.send(
            b"".join(
                protocol.encode_call(i, "KV.Put", {"key": b"k%d" % i, "value": b"v"})
                for i in range(1, 51)
            )
        )
        replies = [await connection.receive() for _ in range(50)]
        count = await connection.call(100, "KV.Range", {"key": b"k", "range_end": b"l"})
    assert sorted(r.id for r in replies) == list(range(1, 51))
    assert all(isinstance(r, protocol.Message) for r in replies)
    assert count.body["count"] == 50


async def test_a_garbage_frame_gets_an_error_and_the_connection_goes_on(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        before = await _revision(connection)
        await connection.send(protocol.LENGTH.pack(5) + b"\xff\xfe\x00\x01\x02")
        failure = await connection.receive()
        put = await connection.call(3, "KV.Put", {"key": b"k", "value": b"v"})
    assert failure == protocol.Failure(None, "INVALID_ARGUMENT", failure.message)
    assert "malformed frame" in failure.message
    assert put.body["header"]["revision"] == before + 1


async def test_an_oversize_request_is_refused_by_id_and_the_connection_goes_on(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        before = await _revision(connection)
        huge = bytes(protocol.DEFAULT_MAX_FRAME_BYTES + 1)
        await connection.send(protocol.encode_call(7, "KV.Put", {"key": b"k", "value": huge}))
        failure = await connection.receive()
        after = await _revision(connection)
    assert failure == protocol.Failure(7, "INVALID_ARGUMENT", "etcdserver: request is too large")
    assert after == before


async def test_a_request_over_max_request_bytes_is_too_large_and_writes_nothing(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        before = await _revision(connection)
        value = bytes(protocol.DEFAULT_MAX_REQUEST_BYTES + 1)
        failure = await connection.call(8, "KV.Put", {"key": b"k", "value": value})
        after = await _revision(connection)
    assert failure == protocol.Failure(8, "INVALID_ARGUMENT", "etcdserver: request is too large")
    assert after == before


async def test_a_huge_length_prefix_is_refused_and_the_member_keeps_serving(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        await connection.send(b"\xff\xff\xff\xff" + b"not a frame")
        failure = await connection.receive()
        fresh = await RawConnection.open(member.endpoint)
        put = await fresh.call(1, "KV.Put", {"key": b"k", "value": b"v"})
    assert (failure.code, failure.message) == (
        "INVALID_ARGUMENT",
        "etcdserver: request is too large",
    )
    assert isinstance(put, protocol.Message)


async def test_an_unknown_method_is_unimplemented(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        no_method = await connection.call(1, "KV.Frobnicate", {})
        no_service = await connection.call(2, "Frob.Nicate", {})
        still_fine = await connection.call(3, "Maintenance.Status", {})
    assert no_method == protocol.Failure(
        1, "UNIMPLEMENTED", "unknown method Frobnicate for service KV"
    )
    assert no_service == protocol.Failure(2, "UNIMPLEMENTED", "unknown service Frob")
    assert still_fine.body["leader"] == member.server.member_id


async def test_wrong_body_types_name_the_field_and_write_nothing(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        before = await _revision(connection)
        text_key = await connection.call(1, "KV.Put", {"key": "k", "value": b"v"})
        bad_lease = await connection.call(2, "KV.Put", {"key": b"k", "lease": "7"})
        typo = await connection.call(3, "KV.Put", {"key": b"k", "valu": b"v"})
        after = await _revision(connection)
    assert text_key == protocol.Failure(
        1, "INVALID_ARGUMENT", "native: PutRequest.key must be bytes, not str"
    )
    assert bad_lease.message == "native: PutRequest.lease must be an integer, not str"
    assert typo.message == "native: unknown field 'valu' in PutRequest"
    assert after == before


async def test_etcds_own_checks_come_back_with_etcds_text_and_write_nothing(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        before = await _revision(connection)
        empty_key = await connection.call(1, "KV.Put", {"key": b"", "value": b"v"})
        empty_range = await connection.call(2, "KV.Range", {"key": b""})
        future = await connection.call(3, "KV.Range", {"key": b"k", "revision": before + 10})
        duplicate = await connection.call(
            4,
            "KV.Txn",
            {
                "success": [
                    {"request_put": {"key": b"k", "value": b"1"}},
                    {"request_put": {"key": b"k", "value": b"2"}},
                ]
            },
        )
        bad_urls = await connection.call(5, "Cluster.MemberAdd", {"peerURLs": ["not a url"]})
        after = await _revision(connection)
    assert empty_key == protocol.Failure(1, "INVALID_ARGUMENT", "etcdserver: key is not provided")
    assert empty_range == protocol.Failure(2, "INVALID_ARGUMENT", "etcdserver: key is not provided")
    assert future == protocol.Failure(
        3, "OUT_OF_RANGE", "etcdserver: mvcc: required revision is a future revision"
    )
    assert duplicate == protocol.Failure(
        4, "INVALID_ARGUMENT", "etcdserver: duplicate key given in txn request"
    )
    assert bad_urls == protocol.Failure(
        5, "INVALID_ARGUMENT", "etcdserver: given member URLs are invalid"
    )
    assert after == before


async def test_a_watch_stream_is_multiplexed_and_ends_on_the_clients_end_frame(tmp_path):
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        await connection.send(
            protocol.encode_call(10, "Watch.Watch", {"create_request": {"key": b"w"}})
        )
        created = await connection.receive()
        await connection.send(protocol.encode_call(11, "KV.Put", {"key": b"w", "value": b"1"}))
        event, reply = sorted(
            [await connection.receive(), await connection.receive()],
            key=lambda envelope: envelope.id,
        )
        await connection.send(protocol.encode_end(10))
        await connection.send(protocol.encode_call(12, "KV.Put", {"key": b"w", "value": b"2"}))
        after_end = await connection.receive()
    assert created.id == 10 and created.body["created"] is True
    assert reply.id == 11
    assert [e["kv"]["value"] for e in event.body["events"]] == [b"1"]
    assert after_end.id == 12


async def test_watchers_of_one_key_on_one_stream_each_get_their_own_response(tmp_path):
    """One put to several watchers of a stream: each response names its watcher, and only
    the prev_kv watcher's event carries the previous value."""
    async with native_cluster(tmp_path) as (member,):
        connection = await RawConnection.open(member.endpoint)
        await connection.send(
            protocol.encode_call(10, "Watch.Watch", {"create_request": {"key": b"w"}})
        )
        for create in ({"key": b"w", "prev_kv": True}, {"key": b"w"}):
            await connection.send(protocol.encode_message(10, {"create_request": create}))
        created = [(await connection.receive()).body["watch_id"] for _ in range(3)]
        events: dict[int, list] = {watch_id: [] for watch_id in created}
        for call_id, value in ((11, b"1"), (12, b"2")):
            await connection.send(
                protocol.encode_call(call_id, "KV.Put", {"key": b"w", "value": value})
            )
            for _ in range(4):  # the put's reply and one response per watcher
                envelope = await connection.receive()
                if envelope.id == 10:
                    events[envelope.body["watch_id"]] += envelope.body["events"]
    plain, with_prev, other = created
    for watch_id in created:
        assert [e["kv"]["value"] for e in events[watch_id]] == [b"1", b"2"]
    assert [e.get("prev_kv") for e in events[plain] + events[other]] == [None] * 4
    assert [(e["prev_kv"] or {}).get("value") for e in events[with_prev]] == [None, b"1"]
