"""The text of a transaction's parts: etcdctl's compare lines and the one-line `txn` form.

A compare is written as etcdctl's `txn -i` reads it: `TARGET("KEY") OP "OPERAND"`, with
TARGET one of value/val, version/ver, create/c, mod/m, lease and OP one of = != < >. Numbers
may also be written bare (`version("k") > 0`); a lease operand is a hex ID as etcdctl prints
it. The one-line form is `COMPARES : SUCCESS-OPS [: FAILURE-OPS]` with `;` between the items
of a part; `:` and `;` inside quotes belong to the item.
"""

from __future__ import annotations

import json
import re
from typing import Any

from node.client import compare

_TARGETS = {
    "value": "value",
    "val": "value",
    "version": "version",
    "ver": "version",
    "create": "create_revision",
    "c": "create_revision",
    "mod": "mod_revision",
    "m": "mod_revision",
    "lease": "lease",
}
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMPARE = re.compile(
    rf"^\s*(?P<target>\w+)\(\s*(?P<key>{_QUOTED})\s*\)\s*(?P<op>!=|==|=|<|>)\s*"
    rf"(?P<operand>{_QUOTED}|\S+)\s*$"
)


class TxnSyntaxError(ValueError):
    """A compare or one-line txn that cannot be read; the message is etcdctl's where it has one."""


def parse_compare(line: str) -> dict[str, Any]:
    """A txn Compare body from one compare line, as etcdctl's `txn -i` writes it."""
    text = _unwrap_single_quotes(line.strip())
    match = _COMPARE.match(text)
    if match is None:
        raise TxnSyntaxError(f"malformed comparison: {line.strip()}")
    target = _TARGETS.get(match["target"])
    if target is None:
        raise TxnSyntaxError(
            f"malformed comparison: {line.strip()} (unknown target {match['target']})"
        )
    key = _unquote(match["key"])
    operand = match["operand"]
    if operand.startswith('"'):
        operand = _unquote(operand)
    op = "=" if match["op"] == "==" else match["op"]
    if target == "value":
        return compare(key, target, op, operand)
    try:
        number = int(operand, 16) if target == "lease" else int(operand)
    except ValueError:
        raise TxnSyntaxError(f"invalid txn compare request: {line.strip()}") from None
    return compare(key, target, op, number)


def split_unquoted(text: str, separator: str) -> list[str]:
    """`text` cut at each `separator` character that is outside single or double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote:
        raise TxnSyntaxError(f"unterminated quote in: {text.strip()}")
    parts.append("".join(current))
    return parts


def split_one_line_txn(text: str) -> tuple[list[str], list[str], list[str]]:
    """The compares, success ops and failure ops of `COMPARES : SUCCESS [: FAILURE]`."""
    parts = split_unquoted(text, ":")
    if not 2 <= len(parts) <= 3:
        raise TxnSyntaxError(
            "a one-line txn is COMPARES : SUCCESS-OPS [: FAILURE-OPS], items separated by ';'"
        )
    parts += [""] * (3 - len(parts))
    compares, success, failure = (
        [item.strip() for item in split_unquoted(part, ";") if item.strip()] for part in parts
    )
    return compares, success, failure


def _unwrap_single_quotes(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].strip()
    return text


def _unquote(quoted: str) -> str:
    try:
        return json.loads(quoted)
    except ValueError:
        raise TxnSyntaxError(f"malformed comparison: bad quoted string {quoted}") from None
