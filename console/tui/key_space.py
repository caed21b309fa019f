"""The key space as a tree on `/`, read lazily through a data source, and a key's history.

Listing the children of a prefix skips over each sub-directory with one range starting past
it, so a directory holding 100,000 keys costs one request, not a scan of all of them. A key's
history is read with ranges at earlier revisions until its creation or the compaction point.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.tui.records import KeyRecord
from console.tui.source import PAGE_SIZE, DataSource
from node.client import prefix_end
from node.messages.errors import Compacted

SEPARATOR = b"/"
HISTORY_LIMIT = 50
"""Versions of a key the details show at most."""
_WHOLE_SPACE = b"\0"


@dataclass(slots=True)
class KeyChild:
    """One child of a prefix in the tree: a key, or a directory of keys (ending in `/`)."""

    label: str
    path: bytes
    """The full key, or for a directory the full prefix."""
    is_directory: bool


@dataclass(slots=True)
class ChildPage:
    """Children of a prefix in key order, and where the next page starts (None: no more)."""

    children: list[KeyChild]
    resume: bytes | None


@dataclass(slots=True)
class KeyHistory:
    """A key's versions, newest first, and why the list ends there."""

    versions: list[KeyRecord]
    ends: str


def _label(data: bytes) -> str:
    return data.decode(errors="replace")


async def list_children(
    source: DataSource, prefix: bytes, resume: bytes | None = None, count: int = PAGE_SIZE
) -> ChildPage:
    """Up to `count` children of `prefix`, starting at `resume` (None: the first).

    Children are labelled from the prefix's last `/` on, so the keys found under a partial
    name like `users/al` read `alice`, `alan/`.
    """
    end = prefix_end(prefix) if prefix else _WHOLE_SPACE
    cursor = resume if resume is not None else (prefix or _WHOLE_SPACE)
    label_start = prefix.rfind(SEPARATOR) + 1
    children: list[KeyChild] = []
    while len(children) < count:
        page = await source.keys(cursor, end, PAGE_SIZE)
        jumped = False
        for key in page.keys:
            slash = key.find(SEPARATOR, len(prefix))
            if slash < 0:
                children.append(KeyChild(_label(key[label_start:]) or "(this key)", key, False))
                cursor = key + b"\0"
            else:
                directory = key[: slash + 1]
                children.append(KeyChild(_label(directory[label_start:]), directory, True))
                cursor = prefix_end(directory)
                jumped = True
            if jumped or len(children) == count or cursor == _WHOLE_SPACE:
                break
        if cursor == _WHOLE_SPACE or not page.keys or (not jumped and not page.more):
            return ChildPage(children, None)
    return ChildPage(children, cursor)


async def key_history(
    source: DataSource, current: KeyRecord, limit: int = HISTORY_LIMIT
) -> KeyHistory:
    """`current` and its earlier versions, read with a range at each earlier revision."""
    versions = [current]
    while len(versions) < limit:
        oldest = versions[-1]
        if oldest.mod_revision <= oldest.create_revision:
            return KeyHistory(versions, f"created at revision {oldest.create_revision}")
        try:
            earlier = await source.get(current.key, oldest.mod_revision - 1)
        except Compacted:
            return KeyHistory(versions, "older revisions are compacted")
        if earlier is None:
            return KeyHistory(versions, f"created at revision {oldest.create_revision}")
        versions.append(earlier)
    return KeyHistory(versions, f"the {limit} newest versions shown")
