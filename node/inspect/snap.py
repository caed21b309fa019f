"""`inspect snap`: a member's snapshot files with the term, index and membership each holds,
and the WAL marker that makes each usable for a restart; broken and received ones named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from node.inspect.rows import Row
from node.raft.describe import describe_conf_state
from node.server.member_storage import DataPaths
from node.wal.errors import WalError
from node.wal.reader import scan_wal
from node.wal.record import RecordKind
from node.wal.snapshotter import (
    BROKEN_SUFFIX,
    SNAPSHOT_SUFFIX,
    read_snapshot_file,
    snapshot_term_index,
)

_RECEIVED_SUFFIX = ".snap.db"


def inspect_snap(paths: DataPaths) -> Iterator[Row]:
    """One row per file in the snapshot directory, newest snapshot last."""
    if not paths.snap.is_dir():
        yield Row(f"no snapshot directory: {paths.snap}", {"row": "none", "dir": str(paths.snap)})
        return
    markers, wal_problem = _wal_markers(paths)
    if wal_problem:
        yield Row(f"WAL markers unknown: {wal_problem}", {"row": "wal_error",
                                                          "error": wal_problem})
    files = sorted(paths.snap.iterdir())
    snapshots = [path for path in files if snapshot_term_index(path) is not None]
    for path in snapshots:
        yield _snapshot_row(path, markers, wal_problem is not None)
    for path in files:
        if path.name.endswith(SNAPSHOT_SUFFIX + BROKEN_SUFFIX):
            yield _broken_row(path)
        elif path.name.endswith(_RECEIVED_SUFFIX):
            yield Row(
                f"{path.name}  {path.stat().st_size} bytes  a backend received from the leader "
                "with a snapshot, not yet installed",
                {"row": "received_backend", "file": path.name, "size": path.stat().st_size},
            )
    if not snapshots:
        yield Row("no snapshot files yet", {"row": "none", "dir": str(paths.snap)})


def _wal_markers(paths: DataPaths) -> tuple[dict[tuple[int, int], str], str | None]:
    """(term, index) -> where its WAL marker is; or why the WAL could not be read."""
    found: dict[tuple[int, int], str] = {}
    try:
        for scan in scan_wal(paths.wal):
            for record, span in zip(scan.records, scan.spans, strict=True):
                if record.kind is RecordKind.SNAPSHOT:
                    marker = record.value
                    found[(marker.term, marker.index)] = f"{scan.name.filename} @{span.offset}"
    except (WalError, OSError) as exc:
        return found, str(exc)
    return found, None


def _snapshot_row(path: Path, markers: dict[tuple[int, int], str], wal_unknown: bool) -> Row:
    term, index = snapshot_term_index(path) or (0, 0)
    size = path.stat().st_size
    marker = markers.get((term, index))
    if marker is not None:
        marker_text = f"WAL marker {marker}"
    elif wal_unknown:
        marker_text = "WAL marker unknown"
    else:
        marker_text = "no WAL marker (a restart cannot use it)"
    fields = {"row": "snapshot", "file": path.name, "term": term, "index": index, "size": size,
              "wal_marker": marker}
    try:
        snapshot = read_snapshot_file(path)
    except WalError as exc:
        return Row(f"{path.name}  {size} bytes  unreadable: {exc}",
                   {**fields, "error": str(exc)})
    conf = snapshot.metadata.conf_state
    fields.update(voters=[f"{v:x}" for v in conf.voters],
                  learners=[f"{v:x}" for v in conf.learners], data_bytes=len(snapshot.data))
    return Row(
        f"{path.name}  term {term}  index {index}  {describe_conf_state(conf)}  {size} bytes "
        f"(data {len(snapshot.data)} bytes)  {marker_text}",
        fields,
    )


def _broken_row(path: Path) -> Row:
    term_index = snapshot_term_index(path.with_name(path.name.removesuffix(BROKEN_SUFFIX)))
    term, index = term_index or (0, 0)
    size = path.stat().st_size
    return Row(
        f"{path.name}  term {term}  index {index}  {size} bytes  broken: its member found it "
        "damaged and set it aside",
        {"row": "broken", "file": path.name, "term": term, "index": index, "size": size},
    )
