"""Replies turned into what etcdctl 3.4 prints: its simple lines, its tables, etcd's JSON.

Each `render_*` function takes a reply (a node.client Response) and returns a `Rendered`:
the simple lines, the JSON-able value `-w json` prints (etcd's shape: proto field names,
zero values left out, bytes in base64, the header first), and a table where etcdctl has one.
IDs print in hexadecimal as etcdctl prints them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from node.client import Response, as_dict, prefix_end

EVENT_TYPES = {0: "PUT", 1: "DELETE"}
_RESPONSE_OPS = {
    "response_range": "ResponseRange",
    "response_put": "ResponsePut",
    "response_delete_range": "ResponseDeleteRange",
    "response_txn": "ResponseTxn",
}
_MEMBER_HEADER = ("ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER")
_STATUS_HEADER = (
    "ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM",
    "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS",
)  # fmt: skip
_HASH_HEADER = ("ENDPOINT", "HASH", "COMPACT REVISION")


@dataclass(slots=True)
class Rendered:
    """A command's output in every format, before the user's -w picks one."""

    lines: list[str]
    """etcdctl's simple format."""
    value: Any = None
    """The JSON-able value -w json prints."""
    table: list[str] | None = None
    """The -w table drawing, for commands etcdctl draws one for."""
    prefers_table: bool = False
    """Whether the table is also the default text output (member list, status)."""

    def lines_for(self, write_out: str) -> list[str]:
        """The lines to print for output format text (the default), simple, json or table."""
        if write_out == "json":
            return [json.dumps(self.value, separators=(",", ":"), ensure_ascii=False)]
        if self.table is not None and (
            write_out == "table" or (write_out == "text" and self.prefers_table)
        ):
            return self.table
        return self.lines


def text_of(data: bytes) -> str:
    """Bytes from the cluster as printable text (undecodable bytes escaped)."""
    return data.decode("utf-8", errors="backslashreplace")


def etcd_json(value: Any) -> Any:
    """A reply body as etcd's JSON encoding shows it (omitempty, base64 bytes, header first)."""
    if isinstance(value, Response):
        value = as_dict(value)
    if isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda item: item[0] != "header")
        return {name: etcd_json(field) for name, field in ordered if not _is_empty(field)}
    if isinstance(value, list):
        return [etcd_json(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, str | bytes | list) and not value


def _flat_header(reply: Response) -> dict[str, Any]:
    """The header's fields at top level, as clientv3's lease replies embed it."""
    return etcd_json(reply.header)


def kv_lines(kv: Response, *, value_only: bool = False) -> list[str]:
    """A key-value as etcdctl prints it: the key line, then the value line."""
    value = text_of(kv.value)
    return [value] if value_only else [text_of(kv.key), value]


# -- keys ----------------------------------------------------------------------------------------


def render_put(reply: Response) -> Rendered:
    """put: OK, then the previous key-value if asked and there was one."""
    lines = ["OK"]
    if reply.prev_kv:
        lines += kv_lines(reply.prev_kv)
    return Rendered(lines, etcd_json(reply))


def render_range(
    reply: Response, *, value_only: bool = False, count_only: bool = False
) -> Rendered:
    """get: key and value lines per key (or only values, or only the count)."""
    if count_only:
        return Rendered([str(reply.count)], etcd_json(reply))
    lines = [line for kv in reply.kvs for line in kv_lines(kv, value_only=value_only)]
    return Rendered(lines, etcd_json(reply))


def render_delete(reply: Response) -> Rendered:
    """del: the number of keys deleted, then the deleted key-values if asked."""
    lines = [str(reply.deleted)]
    for kv in reply.prev_kvs:
        lines += kv_lines(kv)
    return Rendered(lines, etcd_json(reply))


def render_txn(reply: Response) -> Rendered:
    """txn: SUCCESS or FAILURE, then each response after an empty line."""
    lines = ["SUCCESS" if reply.succeeded else "FAILURE"]
    for op in reply.responses:
        kind, response = _response_op(op)
        lines.append("")
        if kind == "response_put":
            lines += render_put(response).lines
        elif kind == "response_range":
            lines += render_range(response).lines
        elif kind == "response_delete_range":
            lines += render_delete(response).lines
        else:
            lines += render_txn(response).lines
    return Rendered(lines, _txn_json(reply))


def _response_op(op: Response) -> tuple[str, Response]:
    kind = next(name for name in op if name in _RESPONSE_OPS and op[name] is not None)
    return kind, op[kind]


def _txn_json(reply: Response) -> dict[str, Any]:
    value = etcd_json(reply)
    responses = []
    for op in reply.responses:
        kind, response = _response_op(op)
        body = _txn_json(response) if kind == "response_txn" else etcd_json(response)
        responses.append({"Response": {_RESPONSE_OPS[kind]: body}})
    if responses:
        value["responses"] = responses
    return value


def render_compact(revision: int, reply: Response) -> Rendered:
    """compact: the revision compacted."""
    return Rendered([f"compacted revision {revision}"], etcd_json(reply))


# -- watches -------------------------------------------------------------------------------------


def render_watch(response: Response) -> Rendered:
    """One WatchResponse: per event its type, the previous key-value if any, the key-value."""
    lines: list[str] = []
    for event in response.events:
        lines.append(EVENT_TYPES.get(event.type, str(event.type)))
        if event.prev_kv:
            lines += kv_lines(event.prev_kv)
        lines += kv_lines(event.kv)
    value = {
        "Header": etcd_json(response.header),
        "Events": [etcd_json(event) for event in response.events],
        "CompactRevision": response.compact_revision,
        "Canceled": response.canceled,
        "Created": response.created,
    }
    return Rendered(lines, value)


# -- leases --------------------------------------------------------------------------------------


def render_lease_grant(reply: Response) -> Rendered:
    """lease grant: the new lease's hex ID and TTL."""
    value = {**_flat_header(reply), "ID": reply.ID, "TTL": reply.TTL, "Error": reply.error}
    return Rendered([f"lease {reply.ID:016x} granted with TTL({reply.TTL}s)"], value)


def render_lease_revoke(lease_id: int, reply: Response) -> Rendered:
    """lease revoke."""
    return Rendered([f"lease {lease_id:016x} revoked"], etcd_json(reply))


def render_time_to_live(reply: Response, *, keys: bool) -> Rendered:
    """lease timetolive: granted and remaining TTL, and the attached keys if asked."""
    value = {
        **_flat_header(reply),
        "id": reply.ID,
        "ttl": reply.TTL,
        "granted-ttl": reply.grantedTTL,
        "keys": [etcd_json(key) for key in reply.keys] if keys else None,
    }
    if reply.TTL == -1:
        return Rendered([f"lease {reply.ID:016x} already expired"], value)
    line = f"lease {reply.ID:016x} granted with TTL({reply.grantedTTL}s), remaining({reply.TTL}s)"
    if keys:
        line += f", attached keys([{' '.join(text_of(key) for key in reply.keys)}])"
    return Rendered([line], value)


def render_leases(reply: Response) -> Rendered:
    """lease list: how many, then each hex ID."""
    lines = [f"found {len(reply.leases)} leases", *(f"{lease.ID:016x}" for lease in reply.leases)]
    value = {**_flat_header(reply), "leases": [{"id": lease.ID} for lease in reply.leases]}
    return Rendered(lines, value)


def render_keep_alive(reply: Response) -> Rendered:
    """One renewal of lease keep-alive."""
    value = {**_flat_header(reply), "ID": reply.ID, "TTL": reply.TTL}
    return Rendered([f"lease {reply.ID:016x} keepalived with TTL({reply.TTL})"], value)


def keep_alive_ended(lease_id: int) -> Rendered:
    """What lease keep-alive prints when the lease is gone."""
    line = f"lease {lease_id:016x} expired or revoked."
    return Rendered([line], {"ID": lease_id, "expired": True})


# -- locks and elections -------------------------------------------------------------------------


def render_leader_kv(reply: Response) -> Rendered:
    """An election leader's key and value (elect, observe), from a reply carrying `kv`."""
    return Rendered(kv_lines(reply.kv), etcd_json(reply))


# -- cluster -------------------------------------------------------------------------------------


def _member_row(member: Response) -> tuple[str, ...]:
    return (
        f"{member.ID:x}",
        "started" if member.name else "unstarted",
        member.name,
        ",".join(member.peerURLs),
        ",".join(member.clientURLs),
        str(bool(member.isLearner)).lower(),
    )


def render_member_list(reply: Response) -> Rendered:
    """member list: one line per member, or etcdctl's table."""
    rows = [_member_row(member) for member in reply.members]
    lines = [", ".join(row) for row in rows]
    return Rendered(lines, etcd_json(reply), draw_table(_MEMBER_HEADER, rows), prefers_table=True)


def render_member_added(reply: Response, name: str) -> Rendered:
    """member add: the new ID and the settings the new member must start with."""
    added = reply.member
    cluster = ",".join(
        f"{name if member.ID == added.ID else member.name}={url}"
        for member in reply.members
        for url in member.peerURLs
    )
    lines = [
        f"Member {added.ID:16x} added to cluster {reply.header.cluster_id:16x}",
        "",
        f'ETCD_NAME="{name}"',
        f'ETCD_INITIAL_CLUSTER="{cluster}"',
        f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{",".join(added.peerURLs)}"',
        'ETCD_INITIAL_CLUSTER_STATE="existing"',
    ]
    return Rendered(lines, etcd_json(reply))


def render_member_removed(member_id: int, reply: Response) -> Rendered:
    """member remove."""
    line = f"Member {member_id:16x} removed from cluster {reply.header.cluster_id:16x}"
    return Rendered([line], etcd_json(reply))


def render_member_promoted(member_id: int, reply: Response) -> Rendered:
    """member promote."""
    line = f"Member {member_id:16x} promoted in cluster {reply.header.cluster_id:16x}"
    return Rendered([line], etcd_json(reply))


def render_statuses(results: Sequence[tuple[str, Response | str]]) -> Rendered:
    """status: each endpoint's Status (or why it gave none), as etcdctl endpoint status."""
    rows = []
    failures = []
    value = []
    for endpoint, status in results:
        if isinstance(status, str):
            failures.append(f"Failed to get the status of endpoint {endpoint} ({status})")
            continue
        rows.append(
            (
                endpoint,
                f"{status.header.member_id:x}",
                status.version,
                human_bytes(status.dbSize),
                str(status.leader == status.header.member_id).lower(),
                str(bool(status.isLearner)).lower(),
                str(status.raftTerm),
                str(status.raftIndex),
                str(status.raftAppliedIndex),
                ", ".join(status.errors),
            )
        )
        value.append({"Endpoint": endpoint, "Status": etcd_json(status)})
    lines = [", ".join(row) for row in rows] + failures
    table = (draw_table(_STATUS_HEADER, rows) if rows else []) + failures
    return Rendered(lines, value, table, prefers_table=True)


def render_hashes(results: Sequence[tuple[str, Response | str]]) -> Rendered:
    """hash: each endpoint's KV hash, as etcdctl endpoint hashkv."""
    rows = []
    failures = []
    value = []
    for endpoint, reply in results:
        if isinstance(reply, str):
            failures.append(f"Failed to get the hash of endpoint {endpoint} ({reply})")
            continue
        rows.append((endpoint, str(reply.hash), str(reply.compact_revision)))
        value.append({"Endpoint": endpoint, "HashKV": etcd_json(reply)})
    lines = [f"{endpoint}, {hash_}" for endpoint, hash_, _ in rows] + failures
    table = (draw_table(_HASH_HEADER, rows) if rows else []) + failures
    return Rendered(lines, value, table)


def draw_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows drawn as etcdctl's -w table: ruled, header centred, cells aligned right."""
    rows = list(rows)
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+"

    def line(cells: Sequence[str], align: str) -> str:
        padded = (f" {cell:{align}{width}} " for cell, width in zip(cells, widths, strict=True))
        return "|" + "|".join(padded) + "|"

    return [rule, line(header, "^"), rule, *(line(row, ">") for row in rows), rule]


def human_bytes(size: int) -> str:
    """A size as etcdctl prints a db size (go-humanize's SI bytes: 25 kB)."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exponent = 0
    scaled = float(size)
    while scaled >= 1000 and exponent < len(units) - 1:
        scaled /= 1000
        exponent += 1
    rounded = int(scaled * 10 + 0.5) / 10
    return (
        f"{rounded:.1f} {units[exponent]}" if rounded < 10 else f"{rounded:.0f} {units[exponent]}"
    )


# -- auth ----------------------------------------------------------------------------------------

PERMISSION_TYPES = {"read": 0, "write": 1, "readwrite": 2}
"""etcdctl's permission type words, as authpb.Permission.Type values."""
_READS, _WRITES = (0, 2), (1, 2)


def render_auth_message(line: str, reply: Response) -> Rendered:
    """An Auth command that answers one line ("User alice created", "Role r1 updated", ...)."""
    return Rendered([line], etcd_json(reply))


def render_names(reply: Response, field: str) -> Rendered:
    """user list, role list: one name a line."""
    return Rendered(list(getattr(reply, field)), etcd_json(reply))


def render_user(name: str, reply: Response, roles: Sequence[tuple[str, Response]] = ()) -> Rendered:
    """user get: the user and its roles; with --detail each role's permissions instead."""
    if roles:
        lines = [f"User: {name}"]
        for role, perms in roles:
            lines += ["", *render_role(role, perms).lines]
        return Rendered(lines, etcd_json(reply))
    return Rendered([f"User: {name}", " ".join(["Roles:", *reply.roles])], etcd_json(reply))


def permission_range_text(key: bytes, range_end: bytes, prefix_end: bytes) -> str:
    """A permission's keys as etcdctl prints them: k, [a, c), [p/, p0) (prefix p/), [z, <open
    ended>."""
    if not range_end:
        return text_of(key)
    if range_end == b"\x00":
        return f"[{text_of(key)}, <open ended>"
    text = f"[{text_of(key)}, {text_of(range_end)})"
    return f"{text} (prefix {text_of(key)})" if range_end == prefix_end else text


def render_role(name: str, reply: Response) -> Rendered:
    """role get: the role's READ then WRITE grants, as etcdctl lists them."""
    lines = [f"Role {name}", "KV Read:"]
    perms = list(reply.perm)
    for wanted, title in ((_READS, None), (_WRITES, "KV Write:")):
        if title:
            lines.append(title)
        for perm in perms:
            if perm.permType in wanted:
                key, end = perm.key, perm.range_end
                lines.append("\t" + permission_range_text(key, end, prefix_end(key)))
    return Rendered(lines, etcd_json(reply))


def revoked_range_text(key: bytes, range_end: bytes) -> str:
    """role revoke-permission's line: of key k, or of range [a, c) / [z, <open ended>."""
    if not range_end:
        return f"Permission of key {text_of(key)} is revoked"
    if range_end == b"\x00":
        return f"Permission of range [{text_of(key)}, <open ended> is revoked"
    return f"Permission of range [{text_of(key)}, {text_of(range_end)}) is revoked"
