"""`inspect wal`: a WAL's segments and every record in them, with entries decoded into the
requests they carry (etcd's etcd-dump-logs), read without the WAL's lock and without repair."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from node.inspect.requests import REQUEST_KIND_NAMES, describe_request, request_kind_name
from node.inspect.rows import InspectError, Row
from node.raft import ConfChange, Entry, EntryType, HardState, MalformedRecord
from node.raft.describe import describe_conf_change, describe_entry, describe_hard_state
from node.server.cluster import ConfChangeContext
from node.server.member_storage import DataPaths, decode_wal_metadata
from node.server.raft_request import RaftRequest
from node.wal.reader import SegmentEnd, SegmentScan, scan_wal
from node.wal.record import Record, RecordKind, WalSnapshot
from node.wal.segment import RecordSpan

RECORD_TYPES = ("metadata", "crc", "hardstate", "snapshot")
ENTRY_TYPES = ("normal", "confchange")
TYPES = RECORD_TYPES + ENTRY_TYPES + tuple(REQUEST_KIND_NAMES.values())
"""What `--types` takes: record kinds, entry kinds, and the kinds of request an entry carries."""

_ETCD_TYPE_NAMES = {
    "configchange": "confchange",
    "irrput": "put",
    "irrdeleterange": "delete-range",
    "irrtxn": "txn",
    "irrcompaction": "compaction",
    "irrleasegrant": "lease-grant",
    "irrleaserevoke": "lease-revoke",
    "irrleasecheckpoint": "lease-checkpoint",
}
"""etcd-dump-logs' `-entry-type` names, taken too."""

_RECORD_NAMES = {
    RecordKind.METADATA: "metadata",
    RecordKind.ENTRY: "entry",
    RecordKind.HARD_STATE: "hardstate",
    RecordKind.CRC: "crc",
    RecordKind.SNAPSHOT: "snapshot",
}


def parse_types(text: str) -> frozenset[str]:
    """The set `--types a,b,c` names; InspectError for a name that is none of TYPES."""
    chosen = set()
    for raw in text.split(","):
        name = raw.strip().lower().replace("_", "-")
        name = _ETCD_TYPE_NAMES.get(name, name)
        if name not in TYPES:
            known = ", ".join(TYPES)
            raise InspectError(f"unknown record type {raw.strip()!r}; types are: {known}")
        chosen.add(name)
    return frozenset(chosen)


@dataclass(slots=True)
class WalFilter:
    """Which records to show: entries within [start_index, end_index], and only `types`."""

    start_index: int = 0
    end_index: int | None = None
    types: frozenset[str] | None = None

    def shows(self, names: tuple[str, ...], index: int | None) -> bool:
        if index is not None and (
            index < self.start_index or (self.end_index is not None and index > self.end_index)
        ):
            return False
        return self.types is None or any(name in self.types for name in names)


def inspect_wal(paths: DataPaths, shown: WalFilter) -> Iterator[Row]:
    """Rows for each segment and each record the filter lets through, then a summary."""
    counts: Counter[str] = Counter()
    last_index = 0
    state = HardState()
    for scan in scan_wal(paths.wal):
        yield _segment_row(scan)
        for record, span in zip(scan.records, scan.spans, strict=True):
            names, index, text, fields = _describe_record(record)
            if record.kind is RecordKind.ENTRY:
                counts[names[-1]] += 1
                last_index = record.value.index
            elif record.kind is RecordKind.HARD_STATE:
                state = record.value
            if shown.shows(names, index):
                yield _record_row(scan, span, text, fields)
        if scan.ending is SegmentEnd.TORN:
            yield Row(
                f"  @{scan.end}  torn tail: the bytes from here on form no whole record (a "
                "record being written now, or one a crash cut off: the member cuts it off when "
                "it opens the WAL)",
                {"row": "torn_tail", "segment": scan.name.filename, "offset": scan.end},
            )
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    yield Row(
        f"entries: {sum(counts.values())}" + (f" ({summary})" if summary else "")
        + f"; last index {last_index}; last hard state {describe_hard_state(state)}",
        {
            "row": "summary",
            "entries": sum(counts.values()),
            "by_type": dict(counts),
            "last_index": last_index,
            "hard_state": dataclasses.asdict(state),
        },
    )


def _segment_row(scan: SegmentScan) -> Row:
    ending = {
        SegmentEnd.FILE_END: "ends at the end of the file",
        SegmentEnd.ZEROS: f"records end at offset {scan.end}, preallocated zeros after",
        SegmentEnd.TORN: f"records end at offset {scan.end}, a torn tail after",
        SegmentEnd.DAMAGE: f"records end at offset {scan.end}, damaged bytes after",
    }[scan.ending]
    return Row(
        f"segment {scan.name.filename}  seq {scan.name.seq}  first index {scan.name.index}  "
        f"{scan.file_size} bytes  {len(scan.records)} records, {ending}",
        {
            "row": "segment",
            "segment": scan.name.filename,
            "seq": scan.name.seq,
            "first_index": scan.name.index,
            "size": scan.file_size,
            "records": len(scan.records),
            "records_end": scan.end,
            "ending": scan.ending.name.lower(),
        },
    )


def _record_row(scan: SegmentScan, span: RecordSpan, text: str, fields: dict[str, Any]) -> Row:
    size = span.end - span.offset
    return Row(
        f"  @{span.offset:<8} crc {span.crc:08x}  {size:>5} bytes  {text}",
        {
            "row": "record",
            "segment": scan.name.filename,
            "offset": span.offset,
            "bytes": size,
            "crc": f"{span.crc:08x}",
            **fields,
        },
    )


def _describe_record(record: Record) -> tuple[tuple[str, ...], int | None, str, dict[str, Any]]:
    """(the type names it answers to, its index if it has one, its text, its JSON fields)."""
    kind = record.kind
    name = _RECORD_NAMES[kind]
    if kind is RecordKind.ENTRY:
        return _describe_entry(record.value)
    if kind is RecordKind.HARD_STATE:
        hs: HardState = record.value
        fields = {"type": name, **dataclasses.asdict(hs)}
        return (name,), None, f"hardstate {describe_hard_state(hs)}", fields
    if kind is RecordKind.SNAPSHOT:
        marker: WalSnapshot = record.value
        text = f"snapshot marker term {marker.term} index {marker.index}"
        return (name,), marker.index, text, {"type": name, "term": marker.term,
                                             "index": marker.index}
    if kind is RecordKind.CRC:
        return (name,), None, f"crc {record.value:08x} (the chain so far)", {
            "type": name, "value": f"{record.value:08x}"}
    try:
        member_id, cluster_id = decode_wal_metadata(record.value)
    except Exception:
        return (name,), None, f"metadata {record.value!r:.60}", {"type": name}
    return (name,), None, f"metadata member {member_id:x} cluster {cluster_id:x}", {
        "type": name, "member_id": f"{member_id:x}", "cluster_id": f"{cluster_id:x}"}


def _describe_entry(entry: Entry) -> tuple[tuple[str, ...], int, str, dict[str, Any]]:
    fields: dict[str, Any] = {"type": "entry", "term": entry.term, "index": entry.index}
    if entry.type == EntryType.CONF_CHANGE:
        fields["entry_type"] = "confchange"
        try:
            change = ConfChange.decode(entry.data)
        except MalformedRecord as exc:
            return ("confchange",), entry.index, describe_entry(entry), {**fields,
                                                                         "error": str(exc)}
        fields["change"] = {"type": change.type.name, "node_id": f"{change.node_id:x}"}
        text = (f"{entry.term}/{entry.index} EntryConfChange {describe_conf_change(change)}"
                f" ({change.type.name} {change.node_id:x})")
        if change.context:
            try:
                context = ConfChangeContext.decode(change.context)
            except MalformedRecord:
                pass
            else:
                member = context.member
                text += f" peer_urls={','.join(member.peer_urls)}"
                text += " learner" if member.is_learner else ""
                text += " promote" if context.is_promote else ""
                fields["member"] = dataclasses.asdict(member)
        return ("confchange",), entry.index, text, fields
    fields["entry_type"] = "normal"
    if not entry.data:
        text = f"{entry.term}/{entry.index} EntryNormal (empty: a new leader's first entry)"
        return ("normal",), entry.index, text, fields
    try:
        request = RaftRequest.decode(entry.data)
    except MalformedRecord as exc:
        text = describe_entry(entry) + f" (undecodable: {exc})"
        return ("normal",), entry.index, text, {**fields, "error": str(exc)}
    kind = request_kind_name(request.body)
    fields["request_id"] = f"{request.id:x}"
    fields["request"] = {"kind": kind, **dataclasses.asdict(request.body)}
    text = f"{entry.term}/{entry.index} EntryNormal {describe_request(request.body)}"
    return ("normal", kind), entry.index, text, fields
