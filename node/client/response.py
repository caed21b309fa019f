"""Replies as the client hands them out: the wire body with attribute access by etcd's names.

A reply's fields are exactly the proto field names of etcd's v3 messages (`resp.header.revision`,
`resp.kvs[0].value`, `resp.TTL`, `resp.keys`), so etcd's documentation describes them. A reply
has no public methods, so that no field name is ever shadowed; `as_dict` gives the plain body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class Response:
    """A reply body (or a nested message in it) from a member; fields read as attributes."""

    __slots__ = ("_fields",)

    def __init__(self, body: dict[str, Any]) -> None:
        self._fields = {name: _wrapped(value) for name, value in body.items()}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(
                f"reply has no field {name!r}; it has {sorted(self._fields)}"
            ) from None

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Response):
            return self._fields == other._fields
        if isinstance(other, dict):
            return as_dict(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Response({self._fields!r})"


def as_dict(response: Response) -> dict[str, Any]:
    """The plain body of a reply, nested replies included."""
    return {name: _plain(value) for name, value in response._fields.items()}


def _wrapped(value: Any) -> Any:
    if isinstance(value, dict):
        return Response(value)
    if isinstance(value, list):
        return [_wrapped(item) for item in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Response):
        return as_dict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
