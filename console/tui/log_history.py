"""The recent past of a member's log, read from the JSON lines of its `<data-dir>/node.log`,
so the logs panel opens on what the member logged before the dashboard followed its stream."""

from __future__ import annotations

import json
import os
from pathlib import Path

from console.tui.records import LogLine

LOG_FILE = "node.log"
"""Where a member writes its log, one JSON object a line, in its data directory."""
HISTORY_LINES = 200
"""Lines of the past the panel opens on."""
_TAIL_BYTES = 256 * 1024


def read_log_tail(data_dir: str | os.PathLike[str], limit: int = HISTORY_LINES) -> list[LogLine]:
    """The last `limit` lines of the member's node.log (none if it has none yet)."""
    path = Path(data_dir) / LOG_FILE
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(size - _TAIL_BYTES, 0)
            log.seek(start)
            raw_lines = log.read().split(b"\n")
    except FileNotFoundError:
        return []
    if start > 0:
        raw_lines = raw_lines[1:]  # the first one is cut
    lines = [line for raw in raw_lines if (line := _parse(raw)) is not None]
    return lines[-limit:]


def _parse(raw: bytes) -> LogLine | None:
    try:
        fields = json.loads(raw)
        return LogLine(
            float(fields["ts"]), str(fields["level"]), str(fields["logger"]), str(fields["msg"])
        )
    except (ValueError, KeyError, TypeError):
        return None  # a line being written, or not one of ours


def merged_with_history(history: list[LogLine], streamed: list[LogLine]) -> list[LogLine]:
    """`history` then the streamed lines it does not hold already: the stream may have begun
    before the file was read, so its first lines can be the file's last ones."""
    def same(a: LogLine, b: LogLine) -> bool:
        return (a.level, a.logger, a.message) == (b.level, b.logger, b.message)

    for overlap in range(min(len(history), len(streamed)), 0, -1):
        tail = history[len(history) - overlap:]
        if all(same(a, b) for a, b in zip(tail, streamed, strict=False)):
            return history + streamed[overlap:]
    return history + streamed
