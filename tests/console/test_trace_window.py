"""The `trace` console command's window: which events it prints, and how.

Demos 15 to 18 run it against real members; these check its choices on events written here.
"""

from __future__ import annotations

import time

from console.trace_window import TracedEvent, TraceWindow


def sent(member: str, t: float, text: str, type_: str, **more: object) -> TracedEvent:
    ids = {"n1": "a1", "n2": "b2"}
    fields: dict[str, object] = {"member_id": ids[member], "type": type_, "text": text}
    fields.update(more)
    return TracedEvent(member, t, "msg_send", fields)


def test_trace_shows_the_previous_command_without_heartbeats_and_with_names():
    window = TraceWindow(started=True)
    window.begin_command()
    start = time.time()
    window.events.extend(
        [
            sent("n1", start + 0.001, "a1->b2 MsgHeartbeat Term:2 Log:0/0", "MsgHeartbeat"),
            TracedEvent("n1", start + 0.002, "ready", {"member_id": "a1", "seq": 4, "messages": 1}),
            TracedEvent("n1", start + 0.003, "advance", {"member_id": "a1", "seq": 4}),
            sent(
                "n1", start + 0.004, "a1->b2 MsgApp Term:2 Log:2/7 Commit:7", "MsgApp",
                index=7, entries=1, bytes=30,
            ),
            sent(
                "n2", start + 0.005, "b2->a1 MsgHeartbeatResp Term:2 Log:0/0 Context:\"x\"",
                "MsgHeartbeatResp", context="78",
            ),
            TracedEvent(
                "n2", start + 0.006, "wal_save",
                {"member_id": "b2", "entries": 1, "first_index": 8, "last_index": 8, "bytes": 30,
                 "sync": True, "duration_ms": 1.5},
            ),
        ]
    )  # fmt: skip

    lines = [line.split(None, 1)[1] for line in window.lines()]

    assert lines == [
        "n1   send n1->n2 MsgApp Term:2 Log:2/7 Commit:7 Entries:[8] (30 bytes)",
        'n2   send n2->n1 MsgHeartbeatResp Term:2 Log:0/0 Context:"x"',
        "n2   wal save entries 8, 30 bytes, fsync 1.50ms",
    ]
    assert len(window.lines(everything=True)) == 6
    assert [line.split(None, 1)[1] for line in window.lines(kinds=["wal_save"])] == [lines[-1]]
    assert window.lines(members=["n3"]) == ["(no trace events)"]


def test_trace_reaches_back_over_the_last_commands_asked_for():
    window = TraceWindow(started=True)
    window.starts.extend([100.0, 200.0])  # two commands began, at these times
    window.events.append(TracedEvent("n1", 150.0, "log_compact", {"index": 3}))

    assert window.lines() == ["(no trace events)"]
    assert window.lines(commands=2)[0].endswith("n1   log compact index=3")
    assert window.lines(commands=50) == window.lines(commands=2)
