"""Recordings of a session: every member's trace and state events, logs and the commands typed,
as gzip-compressed JSON lines after a header line that names the format and its version.

One object per line: the header `{"format": "etcd-console-recording", "version": 1,
"started": t, "members": [...]}`, then events in `etcd-console trace`'s form (`member`, `t`,
`kind`, fields; log lines are kind `log`, state events their kind, a typed command kind
`command` with `line`, `ok` and its output `lines`, an injected fault kind `fault`, a member's
events missing from the recording (its queue dropped some while the recorder fell behind, or
its stream ended) kind `gap`, and in a chaos run's recording each violation its checks found,
kind `violation`). Events may
be written in the order they arrived; readers sort them by time. A file that is not one (a
foreign format, a newer version), is cut short, or is damaged is refused with a
RecordingError saying which, never read in part.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import orjson

from console.timeline import GAP, TraceEvent, dropped_text
from node.client import ClientTls, as_dict, connect_client
from node.messages import errors
from node.messages.member_events import ALL_TRACE, STATE_KINDS

FORMAT = "etcd-console-recording"
VERSION = 1
COMMAND = "command"
"""The kind of a command typed during the session."""
VIOLATION = "violation"
"""The kind of a violation a chaos run found, at the moment it happened (fields `check`,
`revision`, `text`)."""
VIOLATIONS_LANE = "violations"
"""The member name (a timeline lane of its own) of violation events."""
_GZIP_MAGIC = b"\x1f\x8b"
RECORDED_KINDS = (*sorted(STATE_KINDS), ALL_TRACE)
"""What a recording asks each member for: its state events, logs and every trace event."""
RECONNECT_SECONDS = 1.0
_FAILURES = (errors.EtcdError, OSError, TimeoutError, anyio.BrokenResourceError)


class RecordingError(Exception):
    """The file is not a recording this etcd-console reads; one line saying why."""


@dataclass(slots=True)
class Recording:
    """A recording read back: its header and every event, oldest first."""

    header: dict[str, Any]
    events: list[TraceEvent] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        """The members' names, as the header lists them, then any others the events name."""
        names = list(self.header.get("members") or [])
        for event in self.events:
            if event.kind not in (COMMAND, VIOLATION) and event.member not in names:
                names.append(event.member)
        return names


def header_line(members: Iterable[str], started: float | None = None) -> str:
    """The first line of a recording."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "started": time.time() if started is None else started,
        "members": list(members),
    }
    return json.dumps(header) + "\n"


def event_line(event: TraceEvent) -> str:
    """One event as a recording's line."""
    return orjson.dumps(event.line(), default=str, option=orjson.OPT_NON_STR_KEYS).decode() + "\n"


def open_for_writing(path: str | Path) -> TextIO:
    """A text stream that writes gzip-compressed lines to `path`."""
    return gzip.open(path, "wt", encoding="utf-8", compresslevel=6)


class RecordingWriter:
    """Writes one session to a file: the header at once, then each event as it comes."""

    def __init__(self, path: str | Path, members: Iterable[str]) -> None:
        self.path = Path(path)
        self._out = open_for_writing(self.path)
        self._out.write(header_line(members))
        self.events = 0

    def write(self, event: TraceEvent) -> None:
        """Append one event."""
        self._out.write(event_line(event))
        self.events += 1

    def command(self, line: str, ok: bool, lines: list[str], when: float | None = None) -> None:
        """Append a command typed during the session (at `when`, default now), with what it
        printed."""
        fields = {"line": line, "ok": ok, "lines": lines}
        self.write(TraceEvent("console", time.time() if when is None else when, COMMAND, fields))

    def close(self) -> None:
        """Finish the file (a gzip stream without its end is refused as truncated)."""
        self._out.close()


def append_events(path: str | Path, events: Iterable[TraceEvent]) -> None:
    """Add `events` to a finished recording, as a gzip member of its own (readers take the
    members as one stream; events are sorted by time when read)."""
    with gzip.open(path, "at", encoding="utf-8", compresslevel=6) as out:
        out.writelines(event_line(event) for event in events)


async def record_members(
    writer: RecordingWriter,
    members: Callable[[], dict[str, str]],
    tls: ClientTls | None = None,
) -> None:
    """Write every event of each member `members()` names (name -> native endpoint; asked
    again every second, so that members added later are recorded too; dialing with `tls`)
    until cancelled; a member that cannot be reached is tried again every second."""
    followed: set[str] = set()
    async with anyio.create_task_group() as group:
        while True:
            for name, endpoint in members().items():
                if name not in followed:
                    followed.add(name)
                    group.start_soon(_record_member, writer, name, endpoint, tls)
            await anyio.sleep(RECONNECT_SECONDS)  # new members: the playground's record is polled


async def _record_member(
    writer: RecordingWriter, name: str, endpoint: str, tls: ClientTls | None
) -> None:
    while True:
        dropped, streaming = 0, False
        try:
            async with (
                connect_client([endpoint], timeout=2.0, tls=tls) as client,
                client.events(RECORDED_KINDS) as events,
            ):
                streaming = True
                async for event in events:
                    if event.dropped > dropped:
                        text = dropped_text(event.dropped - dropped, "the recorder fell behind")
                        writer.write(TraceEvent(name, event.time, GAP, {"text": text}))
                        dropped = event.dropped
                    fields = as_dict(event.fields)
                    member = fields.pop("member", name)
                    writer.write(TraceEvent(member, event.time, event.kind, fields))
        except* _FAILURES:
            pass  # down for now: a fault, or a restart
        if streaming:
            text = "events missing from here on: its event stream ended"
            writer.write(TraceEvent(name, time.time(), GAP, {"text": text}))
        await anyio.sleep(RECONNECT_SECONDS)


def read_recording(path: str | Path) -> Recording:
    """Read a whole recording; RecordingError if it is foreign, truncated or corrupted."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecordingError(f"{path}: cannot read it: {error.strerror or error}") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise RecordingError(
                f"{path}: the recording is truncated (its compressed stream ends early)"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise RecordingError(f"{path}: the recording is corrupted ({error})") from None
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> Recording:
    lines = data.split(b"\n")
    try:
        header = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{path}: not an etcd-console recording (no {FORMAT} header line)")
    version = header.get("version")
    if version != VERSION:
        raise RecordingError(
            f"{path}: recording format version {version!r}; "
            f"this etcd-console reads version {VERSION}"
        )
    if lines[-1]:
        raise RecordingError(f"{path}: the recording is truncated (line {len(lines)} is cut short)")
    recording = Recording(header)
    events = recording.events
    for number, line in enumerate(lines[1:-1], start=2):
        try:
            events.append(TraceEvent.from_line(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise RecordingError(f"{path}: the recording is corrupted at line {number}") from None
    events.sort(key=lambda event: event.t)
    return recording
