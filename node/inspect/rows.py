"""What an inspector yields: one row of output, as readable text and as JSON fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any


class InspectError(Exception):
    """Input an inspector cannot read (no data directory, an unknown filter): a clear message."""


@dataclass(slots=True)
class Row:
    """One line of an inspector's output; `fields` always names its kind under "row"."""

    text: str
    fields: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.fields, default=_json_value, sort_keys=False)


def show_bytes(data: bytes) -> str:
    """Bytes as text for JSON: UTF-8, undecodable bytes as \\xNN escapes."""
    return data.decode("utf-8", "backslashreplace")


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return show_bytes(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
