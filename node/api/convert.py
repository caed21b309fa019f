"""Wire bodies to request dataclasses and replies back, matched by etcd's proto field names.

A body's keys are exactly the field names of etcd's v3 messages (`key`, `range_end`, `ID`,
`peerURLs`, ...). The server's dataclasses use the same names in snake_case (`id`,
`peer_urls`), so a field is found by its proto name or that name in snake_case; the proto
name of a dataclass field comes from the generated descriptors (node/messages/gen) of the message
with the class's name. Conversion checks every type on the way in, so a bad body is refused
with a message naming the field before anything reaches the server.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from enum import IntEnum
from functools import cache
from typing import Any, TypeVar

from node.messages import errors
from node.messages.gen.authpb import auth_pb2
from node.messages.gen.etcdserverpb import rpc_pb2
from node.messages.gen.mvccpb import kv_pb2
from node.messages.gen.v3electionpb import v3election_pb2
from node.messages.gen.v3lockpb import v3lock_pb2

_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1
_PROTO_MODULES = (rpc_pb2, kv_pb2, auth_pb2, v3lock_pb2, v3election_pb2)
_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")

T = TypeVar("T")


class InvalidBody(errors.EtcdError):
    """A request body whose fields do not fit the message: unknown names or wrong types."""

    code = "INVALID_ARGUMENT"
    message = "native: invalid request body"


def snake_case(proto_name: str) -> str:
    """A proto field name as a Python attribute: peerURLs -> peer_urls, TTL -> ttl."""
    return _CAMEL_HUMP.sub(r"\1_\2", proto_name).lower()


def _proto_field_names(message_name: str) -> list[str]:
    for module in _PROTO_MODULES:
        descriptor = module.DESCRIPTOR.message_types_by_name.get(message_name)
        if descriptor is not None:
            return [f.name for f in descriptor.fields]
    return []


@cache
def wire_names(cls: type) -> dict[str, str]:
    """Each dataclass field of `cls` -> its name on the wire (the proto field name)."""
    by_attribute = {}
    for proto_name in _proto_field_names(cls.__name__):
        by_attribute[proto_name] = proto_name
        by_attribute[snake_case(proto_name)] = proto_name
    return {f.name: by_attribute.get(f.name, f.name) for f in dataclasses.fields(cls)}


class _Mismatch(Exception):
    """A value that does not fit its field; `path` grows as it rises through the message."""

    def __init__(self, reason: str, path: str = "", named: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.named = named

    def within(self, step: str) -> _Mismatch:
        self.path = step + self.path
        return self


Decoder = Callable[[Any], Any]


@cache
def _wire_fields(cls: type) -> dict[str, tuple[str, Decoder]]:
    """Wire name -> (attribute, decoder of its type) for decoding bodies into `cls`."""
    hints = typing.get_type_hints(cls)
    return {wire: (attr, _decoder(hints[attr])) for attr, wire in wire_names(cls).items()}


def _encoder(kind: type) -> Callable[[Any], Any]:
    if dataclasses.is_dataclass(kind):
        names = tuple(wire_names(kind).items())
        return lambda value: {wire: to_wire(getattr(value, attr)) for attr, wire in names}
    if issubclass(kind, IntEnum | int):
        return int
    if issubclass(kind, list | tuple):
        return lambda value: [to_wire(item) for item in value]
    if issubclass(kind, dict):
        return lambda value: {key: to_wire(item) for key, item in value.items()}
    if issubclass(kind, bytearray | memoryview):
        return bytes

    def refuse(value: Any) -> Any:
        raise TypeError(f"cannot put {type(value).__name__} on the wire")

    return refuse


_PLAIN = frozenset({bytes, str, bool, int, float, type(None)})
_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def to_wire(value: Any) -> Any:
    """A reply dataclass (or any value inside one) as plain cbor-ready values."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    encoder = _ENCODERS.get(kind)
    if encoder is None:
        encoder = _ENCODERS[kind] = _encoder(kind)
    return encoder(value)


def from_wire(cls: type[T], body: Any) -> T:
    """The dataclass `cls` from a wire body; InvalidBody names the first field that is wrong."""
    try:
        return _decode_message(cls, body)
    except _Mismatch as mismatch:
        if not mismatch.named:
            raise InvalidBody(f"native: {mismatch.reason}") from None
        raise InvalidBody(f"native: {cls.__name__}{mismatch.path} {mismatch.reason}") from None


def _decode_message(cls: type, body: Any) -> Any:
    if type(body) is not dict:
        raise _Mismatch(f"must be a map, not {_type_name(body)}")
    fields = _wire_fields(cls)
    values = {}
    for name, raw in body.items():
        spec = fields.get(name)
        if spec is None:
            raise _Mismatch(f"unknown field {name!r} in {cls.__name__}", named=False)
        attribute, decode = spec
        try:
            values[attribute] = decode(raw)
        except _Mismatch as mismatch:
            raise mismatch.within(f".{name}") from None
    return cls(**values)


def _exactly(kind: type, noun: str) -> Decoder:
    def decode(raw: Any) -> Any:
        if type(raw) is not kind:
            raise _Mismatch(f"must be {noun}, not {_type_name(raw)}")
        return raw

    return decode


def _integer(raw: Any) -> int:
    if type(raw) is not int:
        raise _Mismatch(f"must be an integer, not {_type_name(raw)}")
    if not _MIN_INT <= raw <= _MAX_INT:
        raise _Mismatch("is out of range")
    return raw


def _number(raw: Any) -> float:
    if type(raw) not in (int, float):
        raise _Mismatch(f"must be a number, not {_type_name(raw)}")
    return float(raw)


def _anything(raw: Any) -> Any:
    return raw


def _unsupported(raw: Any) -> Any:
    raise _Mismatch("cannot be given on the wire")


@cache
def _decoder(hint: Any) -> Decoder:
    """A function checking and converting one wire value of type `hint`."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if len(options) != 1:
            return _unsupported
        inner = _decoder(options[0])
        return lambda raw: None if raw is None else inner(raw)
    if origin is list:
        return _list_decoder(_decoder(typing.get_args(hint)[0]))
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return _enum_decoder(hint)
    simple = {
        bytes: _exactly(bytes, "bytes"),
        bool: _exactly(bool, "a boolean"),
        str: _exactly(str, "a string"),
        int: _integer,
        float: _number,
    }
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda raw: _decode_message(hint, raw)
    return _anything if hint is Any else _unsupported


def _list_decoder(item: Decoder) -> Decoder:
    def decode(raw: Any) -> list:
        if type(raw) is not list:
            raise _Mismatch(f"must be a list, not {_type_name(raw)}")
        decoded = []
        for index, value in enumerate(raw):
            try:
                decoded.append(item(value))
            except _Mismatch as mismatch:
                raise mismatch.within(f"[{index}]") from None
        return decoded

    return decode


def _enum_decoder(enum: type[IntEnum]) -> Decoder:
    members = {int(member): member for member in enum}

    def decode(raw: Any) -> IntEnum:
        if type(raw) is not int or raw not in members:
            raise _Mismatch(f"must be one of {sorted(members)}")
        return members[raw]

    return decode


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
