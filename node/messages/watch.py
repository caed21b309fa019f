"""The Watch service's request messages, shaped as etcdserverpb's (the server takes their
fields as arguments of WatchStream.watch/cancel/request_progress, so only the doors need them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class WatchFilter(IntEnum):
    """etcd's WatchCreateRequest.FilterType: which kinds of event a watcher does not want."""

    NOPUT = 0
    NODELETE = 1


@dataclass(slots=True)
class WatchCreateRequest:
    """Watch [key, range_end) from start_revision (0: from the next change)."""

    key: bytes = b""
    range_end: bytes = b""
    start_revision: int = 0
    progress_notify: bool = False
    filters: list[WatchFilter] = field(default_factory=list)
    prev_kv: bool = False
    watch_id: int = 0
    fragment: bool = False


@dataclass(slots=True)
class WatchCancelRequest:
    watch_id: int = 0


@dataclass(slots=True)
class WatchProgressRequest:
    pass


@dataclass(slots=True)
class WatchRequest:
    """One message of a watch stream: exactly one of the three is set."""

    create_request: WatchCreateRequest | None = None
    cancel_request: WatchCancelRequest | None = None
    progress_request: WatchProgressRequest | None = None
