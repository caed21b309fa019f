"""The timeline panel under load: synthetic trace events of a 7-member cluster at a steady rate
(1,000 events/s by default) fed into a running dashboard panel, redrawn ten times a second as
the dashboard does. Reports events taken in per second, the cost of taking one in, and the
redraw time (median, 95th percentile, max) of the chart.

    .venv/bin/python benchmarks/timeline_redraw.py [--rate 1000] [--seconds 10] [--members 7]
                                                   [--size 160x50]

The events are what a leader under a write load sends: a MsgApp to every follower and each
follower's MsgAppResp (each a send and a receive), heartbeats, and each member's Ready,
WAL save and apply of the batch, in the proportions of `etcd-console trace` on a busy
playground. The pilot round trip (status line, render, compositor, and the wait for Textual
to go idle) is mostly Textual's own: compare it with a run at --rate 10.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from textual.app import App, ComposeResult

from console.timeline import Timeline, TraceEvent
from console.tui.timeline_panel import TimelinePanel


def synthetic_events(members: int, start: float, rate: float) -> Iterator[TraceEvent]:
    """An endless stream of trace events as a busy leader (n1) and its followers make them,
    stamped `1/rate` seconds apart from `start`."""
    names = [f"n{i + 1}" for i in range(members)]
    ids = {name: f"{i + 1:x}" for i, name in enumerate(names)}
    t, index, step = start, 0, 1.0 / rate

    def event(member: str, kind: str, **fields: object) -> TraceEvent:
        nonlocal t
        t += step
        return TraceEvent(member, t, kind, {"member_id": ids[member], **fields})

    while True:
        index += 1
        yield event("n1", "ready", seq=index, entries=1, entries_first=index, entries_last=index)
        yield event("n1", "wal_save", entries=1, first_index=index, last_index=index, sync=True)
        for follower in names[1:]:
            message = {
                "type": "MsgApp", "from": ids["n1"], "to": ids[follower], "term": 2,
                "log_term": 2, "index": index - 1, "entries": 1, "commit": index - 1,
            }  # fmt: skip
            yield event("n1", "msg_send", **message)
            yield event(follower, "msg_recv", **message)
            reply = {
                "type": "MsgAppResp", "from": ids[follower], "to": ids["n1"], "term": 2,
                "log_term": 0, "index": index, "entries": 0, "commit": 0,
            }  # fmt: skip
            yield event(follower, "msg_send", **reply)
            yield event("n1", "msg_recv", **reply)
        if index % 10 == 0:
            for follower in names[1:]:
                beat = {
                    "type": "MsgHeartbeat", "from": ids["n1"], "to": ids[follower], "term": 2,
                    "log_term": 0, "index": 0, "entries": 0, "commit": index,
                }  # fmt: skip
                yield event("n1", "msg_send", **beat)
                yield event(follower, "msg_recv", **beat)
        for member in names:
            yield event(member, "apply", first_index=index, last_index=index, entries=1)


class ChartBench(App[None]):
    """Only the timeline panel, styled as in the dashboard, fed at the given rate."""

    CSS_PATH = Path(__file__).parents[1] / "console" / "tui" / "dashboard.tcss"

    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    def compose(self) -> ComposeResult:
        yield TimelinePanel(self.timeline)


async def measure(rate: float, seconds: float, members: int, size: tuple[int, int]) -> None:
    timeline = Timeline()
    app = ChartBench(timeline)
    add_seconds = 0.0
    redraws: list[float] = []
    frames: list[float] = []
    async with app.run_test(size=size) as pilot:
        panel = app.query_one(TimelinePanel)
        chart = panel.chart
        events = synthetic_events(members, time.time(), rate)
        began = time.perf_counter()
        fed = 0
        next_redraw = began
        while (now := time.perf_counter()) - began < seconds:
            due = int((now - began) * rate)
            batch_start = time.perf_counter()
            while fed < due:
                timeline.add(next(events))
                fed += 1
            add_seconds += time.perf_counter() - batch_start
            if now >= next_redraw:
                frame_start = time.perf_counter()
                panel.pull()
                await pilot.pause()
                frames.append(time.perf_counter() - frame_start)
                redraws.append(chart.redraw_seconds)
                next_redraw += 0.1
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - began
    redraws.sort()
    frames.sort()
    print(
        f"{members} members, {size[0]}x{size[1]}: {fed} events in {elapsed:.1f} s "
        f"= {fed / elapsed:.0f} events/s taken in ({rate:.0f}/s offered); "
        f"{add_seconds / max(fed, 1) * 1e6:.1f} us per event taken in; "
        f"{len(timeline.rows)} rows kept, {len(timeline.shown)} shown"
    )
    for what, times in (("chart render", redraws), ("pilot round trip (all of a frame)", frames)):
        p95 = times[max(int(len(times) * 0.95) - 1, 0)]
        print(
            f"{what} ({len(times)} at 10/s): median {statistics.median(times) * 1000:.2f} ms, "
            f"p95 {p95 * 1000:.2f} ms, max {times[-1] * 1000:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--members", type=int, default=7)
    parser.add_argument("--size", default="160x50")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    asyncio.run(measure(args.rate, args.seconds, args.members, (width, height)))


if __name__ == "__main__":
    main()
