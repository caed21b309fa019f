"""Request bodies the client builds: keys, range options, txn compares and operations.

Bodies are wire maps with the proto field names of etcd's v3 messages. Keys and values may be
given as str (encoded as UTF-8) or bytes. The compare and op builders mirror clientv3's
`Compare(Value(key), "=", v)` and `OpPut(key, v)` for use in `Client.txn`.
"""

from __future__ import annotations

from typing import Any

from node.messages.kv import SortOrder, SortTarget

Bytes = str | bytes
"""A key or value: str is encoded as UTF-8."""


_COMPARE_RESULTS = {"=": 0, "==": 0, ">": 1, "<": 2, "!=": 3}
_COMPARE_TARGETS = {"version": 0, "create_revision": 1, "mod_revision": 2, "value": 3, "lease": 4}


def to_bytes(data: Bytes) -> bytes:
    """A key or value as bytes."""
    return data.encode() if isinstance(data, str) else bytes(data)


def prefix_end(prefix: bytes) -> bytes:
    """The range_end covering every key that starts with `prefix` (etcd's GetPrefixRangeEnd).

    The last byte below 0xff is incremented and what follows dropped; a prefix of only 0xff
    bytes (or none) gives b"\\0", meaning "to the end of the key space".
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def key_range(key: Bytes, range_end: Bytes = b"", prefix: bool = False) -> tuple[bytes, bytes]:
    """(key, range_end) for a request on one key, a range, or every key with a prefix.

    With prefix=True an empty key means every key, as clientv3's WithPrefix.
    """
    begin = to_bytes(key)
    if not prefix:
        return begin, to_bytes(range_end)
    if not begin:
        return b"\0", b"\0"
    return begin, prefix_end(begin)


def range_body(
    key: Bytes,
    range_end: Bytes = b"",
    *,
    prefix: bool = False,
    revision: int = 0,
    limit: int = 0,
    serializable: bool = False,
    keys_only: bool = False,
    count_only: bool = False,
    sort_order: SortOrder | int = SortOrder.NONE,
    sort_target: SortTarget | int = SortTarget.KEY,
    min_mod_revision: int = 0,
    max_mod_revision: int = 0,
    min_create_revision: int = 0,
    max_create_revision: int = 0,
) -> dict[str, Any]:
    """A RangeRequest body."""
    begin, end = key_range(key, range_end, prefix)
    return {
        "key": begin,
        "range_end": end,
        "limit": limit,
        "revision": revision,
        "sort_order": int(sort_order),
        "sort_target": int(sort_target),
        "serializable": serializable,
        "keys_only": keys_only,
        "count_only": count_only,
        "min_mod_revision": min_mod_revision,
        "max_mod_revision": max_mod_revision,
        "min_create_revision": min_create_revision,
        "max_create_revision": max_create_revision,
    }


def put_body(
    key: Bytes,
    value: Bytes = b"",
    *,
    lease: int = 0,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> dict[str, Any]:
    """A PutRequest body."""
    return {
        "key": to_bytes(key),
        "value": to_bytes(value),
        "lease": lease,
        "prev_kv": prev_kv,
        "ignore_value": ignore_value,
        "ignore_lease": ignore_lease,
    }


def delete_body(
    key: Bytes, range_end: Bytes = b"", *, prefix: bool = False, prev_kv: bool = False
) -> dict[str, Any]:
    """A DeleteRangeRequest body."""
    begin, end = key_range(key, range_end, prefix)
    return {"key": begin, "range_end": end, "prev_kv": prev_kv}


def compare(
    key: Bytes, target: str, result: str, operand: Bytes | int, range_end: Bytes = b""
) -> dict[str, Any]:
    """A txn Compare: `target` of `key` compared by `result` ("=", "!=", ">", "<") to operand.

    target is one of "version", "create_revision", "mod_revision", "value", "lease".
    """
    if target not in _COMPARE_TARGETS:
        raise ValueError(f"compare target must be one of {sorted(_COMPARE_TARGETS)}: {target!r}")
    if result not in _COMPARE_RESULTS:
        raise ValueError(f"compare result must be one of {sorted(_COMPARE_RESULTS)}: {result!r}")
    if target == "value":
        if isinstance(operand, int):
            raise ValueError(f"a value compare takes bytes or a string, not {operand!r}")
        value: bytes | int = to_bytes(operand)
    elif isinstance(operand, int):
        value = operand
    else:
        raise ValueError(f"a {target} compare takes an integer, not {operand!r}")
    return {
        "result": _COMPARE_RESULTS[result],
        "target": _COMPARE_TARGETS[target],
        "key": to_bytes(key),
        "range_end": to_bytes(range_end),
        target: value,
    }


def compare_value(key: Bytes, result: str, value: Bytes) -> dict[str, Any]:
    """clientv3's Compare(Value(key), result, value)."""
    return compare(key, "value", result, value)


def compare_version(key: Bytes, result: str, version: int) -> dict[str, Any]:
    """clientv3's Compare(Version(key), result, version); version 0 means "does not exist"."""
    return compare(key, "version", result, version)


def compare_create_revision(key: Bytes, result: str, revision: int) -> dict[str, Any]:
    """clientv3's Compare(CreateRevision(key), result, revision)."""
    return compare(key, "create_revision", result, revision)


def compare_mod_revision(key: Bytes, result: str, revision: int) -> dict[str, Any]:
    """clientv3's Compare(ModRevision(key), result, revision)."""
    return compare(key, "mod_revision", result, revision)


def compare_lease(key: Bytes, result: str, lease: int) -> dict[str, Any]:
    """clientv3's Compare(LeaseValue(key), result, lease)."""
    return compare(key, "lease", result, lease)


def op_get(key: Bytes, range_end: Bytes = b"", **options: Any) -> dict[str, Any]:
    """A txn RequestOp reading, with the options of `Client.get`."""
    return {"request_range": range_body(key, range_end, **options)}


def op_put(key: Bytes, value: Bytes = b"", **options: Any) -> dict[str, Any]:
    """A txn RequestOp writing, with the options of `Client.put`."""
    return {"request_put": put_body(key, value, **options)}


def op_delete(key: Bytes, range_end: Bytes = b"", **options: Any) -> dict[str, Any]:
    """A txn RequestOp deleting, with the options of `Client.delete`."""
    return {"request_delete_range": delete_body(key, range_end, **options)}


def op_txn(
    compare: list[dict[str, Any]] | None = None,
    success: list[dict[str, Any]] | None = None,
    failure: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A nested txn as a RequestOp."""
    return {"request_txn": txn_body(compare, success, failure)}


def txn_body(
    compare: list[dict[str, Any]] | None = None,
    success: list[dict[str, Any]] | None = None,
    failure: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A TxnRequest body."""
    return {
        "compare": list(compare or ()),
        "success": list(success or ()),
        "failure": list(failure or ()),
    }
