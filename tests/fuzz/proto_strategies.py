"""Hypothesis strategies for hostile protobuf requests, read from the generated descriptors:
valid messages with extreme field values, raw wire fields of the wrong type, random bytes.
"""

from __future__ import annotations

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

HUGE_BYTES = 3 * 1024 * 1024
"""Above etcd's largest request (--max-request-bytes 1.5 MiB plus gRPC's 512 KiB)."""
LARGE_BYTES = 1024 * 1024 + 600 * 1024
"""Above --max-request-bytes alone: etcd's `request is too large`."""

_INT_RANGES = {
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [value for value in (low, high, 0, 1, -1, 2**31, 2**32, 2**62) if low <= value <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"", b"\0", b"\xff" * 8, b"\x00\xff"]),
        st.sampled_from([LARGE_BYTES, HUGE_BYTES]).map(lambda n: b"k" * n),
    )


def _text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.sampled_from(["", "\0", "/", "root", "\ud7ff"]))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if kind == FieldDescriptor.TYPE_ENUM:
            known = [value.number for value in field.enum_type.values]
            return st.one_of(st.sampled_from(known), _integers(low, high))
        return _integers(low, high)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes()
    if kind == FieldDescriptor.TYPE_STRING:
        return _text()
    raise AssertionError(f"no strategy for field type {kind}")


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """A valid message of `descriptor` whose fields (some left unset) take extreme values."""
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                continue
            nested = st.deferred(lambda f=field: messages(f.message_type, depth + 1))
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(nested, max_size=3)))
            else:
                getattr(message, field.name).CopyFrom(draw(nested))
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(_scalar(field), max_size=4)))
        else:
            setattr(message, field.name, draw(_scalar(field)))
    return message


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@st.composite
def wrong_wire_fields(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """The message's own field numbers with any wire type and payload, maybe cut short: what
    a client with another idea of the schema, or a broken one, sends."""
    numbers = [field.number for field in descriptor.fields] or [1]
    out = bytearray()
    for _ in range(draw(st.integers(1, 4))):
        number = draw(st.one_of(st.sampled_from(numbers), st.integers(1, 2**29 - 1)))
        wire_type = draw(st.integers(0, 7))
        out += _varint(number << 3 | wire_type)
        if wire_type == 0:
            out += _varint(draw(st.integers(0, 2**64 - 1)))
        elif wire_type == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire_type == 2:
            payload = draw(st.binary(max_size=32))
            out += _varint(draw(st.sampled_from([len(payload), len(payload) + 5, 2**32]))) + payload
        elif wire_type == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        else:
            out += draw(st.binary(max_size=8))
    cut = draw(st.integers(0, len(out)))
    return bytes(out[: cut or len(out)])


def request_bytes(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Any of: a valid message with extreme values, wrong wire fields, random bytes."""
    return st.one_of(
        messages(descriptor).map(lambda message: message.SerializeToString()),
        wrong_wire_fields(descriptor),
        st.binary(max_size=200),
    )
