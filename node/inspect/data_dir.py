"""Finding a member's WAL, snapshot and backend directories from the path an inspector got."""

from __future__ import annotations

from pathlib import Path

from node.inspect.rows import InspectError
from node.server.member_storage import DataPaths


def member_data_paths(path: str | Path) -> DataPaths:
    """The DataPaths of `path`, a member's data directory or its `member` directory."""
    path = Path(path)
    if not path.exists():
        raise InspectError(f"{path}: no such directory")
    if not path.is_dir():
        raise InspectError(f"{path} is no member data directory (it is a file)")
    if (path / "member").is_dir():
        return DataPaths(path)
    if path.name == "member" and any((path / part).is_dir() for part in ("wal", "snap")):
        return DataPaths(path.parent)
    raise InspectError(
        f"{path} is no member data directory: it has no member/ directory (member/wal, "
        "member/snap and member/backend are what a member keeps)"
    )
