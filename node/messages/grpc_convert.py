"""Protobuf messages to wire bodies and back, for the gRPC door and the client's gRPC link.

The service layer speaks wire bodies: dicts keyed by the proto field names of etcd's
messages, bytes as bytes, enums as their numbers, nested messages as dicts, repeated fields
as lists, a oneof as the one member that is set. A field left out of a body has its proto3
default, so a message becomes a body holding only the fields set in it, and a body becomes a
message with every field it leaves out (or gives as None) at its default. The client reads
replies as the native door sends them, every field present: `message_to_full_body`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Body = dict[str, Any]
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
M = TypeVar("M", bound=Message)


class BodyMismatch(Exception):
    """A body that the message cannot hold: an unknown field or a value of the wrong type."""


def message_to_body(message: Message) -> Body:
    """The fields set in `message`, by proto name; nested and repeated messages as bodies."""
    body: Body = {}
    for field, value in message.ListFields():
        if field.type == _MESSAGE:
            if field.is_repeated:
                body[field.name] = [message_to_body(item) for item in value]
            else:
                body[field.name] = message_to_body(value)
        elif field.is_repeated:
            body[field.name] = list(value)
        else:
            body[field.name] = value
    return body


def message_to_full_body(message: Message) -> Body:
    """Every field of `message` by proto name, defaults included, as the native door sends a
    reply: an unset nested message is None, a oneof holds only its member that is set."""
    body: Body = {}
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and message.WhichOneof(oneof.name) != field.name:
            continue
        value = getattr(message, field.name)
        if field.type != _MESSAGE:
            body[field.name] = list(value) if field.is_repeated else value
        elif field.is_repeated:
            body[field.name] = [message_to_full_body(item) for item in value]
        elif message.HasField(field.name):
            body[field.name] = message_to_full_body(value)
        else:
            body[field.name] = None
    return body


def body_to_message(message_class: type[M], body: Body) -> M:
    """A `message_class` holding the body's fields; None or a missing field is the default.

    The generated constructor walks the descriptors itself, building nested messages from
    nested bodies, so the whole conversion runs in the protobuf runtime.
    """
    try:
        return message_class(**body)
    except (ValueError, TypeError) as error:
        raise BodyMismatch(f"{message_class.DESCRIPTOR.full_name}: {error}") from None
