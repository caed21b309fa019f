"""The recorder keeps every call: answered ones with their response, and ones that failed or
ran out of time as indeterminate, with what ended them."""

from __future__ import annotations

import math

import trio

from checker.model.history import OpKind, Request, Response, ResponseKind
from console.chaos.recorder import Recorder

PUT = Request(OpKind.PUT, "k", "v1")


async def test_an_answered_call_is_recorded_with_its_response_and_times() -> None:
    recorder = Recorder()

    async def answer() -> Response:
        return Response(revision=7)

    op = await recorder.call(3, PUT, answer, time_limit=1.0)
    assert op.response == Response(revision=7)
    assert op.client_id == 3 and op.request == PUT
    assert op.invoked_ns <= (op.completed_ns or 0)
    assert recorder.history.operations == [op]
    assert (recorder.counts.operations, recorder.counts.indeterminate) == (1, 0)


async def test_a_call_that_raises_is_kept_as_indeterminate_with_its_error() -> None:
    recorder = Recorder()

    async def fail() -> Response:
        raise ConnectionError("transport is closing")

    op = await recorder.call(0, PUT, fail, time_limit=1.0)
    assert op.indeterminate and op.end_ns == math.inf
    assert op.error == "transport is closing"
    assert recorder.counts.indeterminate == 1


async def test_a_call_that_outlives_its_timeout_is_kept_as_indeterminate() -> None:
    recorder = Recorder()

    async def hang() -> Response:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    op = await recorder.call(0, PUT, hang, time_limit=0.01)
    assert op.indeterminate
    assert op.error == "timed out after 0.01 s"


async def test_operation_ids_follow_the_order_calls_complete_in() -> None:
    recorder = Recorder()

    async def answer() -> Response:
        return Response(revision=2)

    first = await recorder.call(0, PUT, answer, time_limit=1.0)
    second = await recorder.call(1, PUT, answer, time_limit=1.0)
    assert (first.op_id, second.op_id) == (1, 2)


def test_watch_responses_are_numbered_per_watcher_across_streams() -> None:
    recorder = Recorder()
    recorder.watch_response("n1/native", 0, ResponseKind.CREATED, 1)
    recorder.watch_response("n2/grpc", 0, ResponseKind.CREATED, 1)
    recorder.watch_response("n1/native", 1, ResponseKind.PROGRESS, 5)
    indexes = [(r.watcher_id, r.stream, r.index) for r in recorder.history.watch_responses]
    assert indexes == [("n1/native", 0, 0), ("n2/grpc", 0, 0), ("n1/native", 1, 1)]
