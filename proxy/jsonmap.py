"""Protobuf messages to and from the public JSON.

The public contract writes absent values as `null` (`"output": null`), where proto3's JSON
mapping would leave them out, and writes integers as numbers, where proto3 writes int64 as a
string. The rules here are generic, not per field: a field with presence (`optional` scalars and
message fields, not members of a real oneof) that is unset becomes null; int64 values become
JSON numbers; keys come in the .proto's field order, under its `json_name`s.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_INT64_TYPES = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64,
                FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_SINT64,
                FieldDescriptor.TYPE_FIXED64}


def message_to_json_dict(message: Message) -> dict[str, Any]:
    standard: dict[str, Any] = json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=False)
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        name = field.json_name
        if field.has_presence and not _in_real_oneof(field) and not message.HasField(field.name):
            out[name] = None
        elif field.message_type is not None and field.is_repeated \
                and not field.message_type.GetOptions().map_entry:
            out[name] = [message_to_json_dict(item) for item in getattr(message, field.name)]
        elif field.message_type is not None and not field.message_type.full_name.startswith(
                "google.protobuf.") and message.HasField(field.name):
            out[name] = message_to_json_dict(getattr(message, field.name))
        elif name in standard:
            value = standard[name]
            if field.type in _INT64_TYPES:
                value = [int(v) for v in value] if field.is_repeated else int(value)
            out[name] = value
    return out


def _in_real_oneof(field: Any) -> bool:  # a FieldDescriptor (upb's or Python's)
    """A member of a declared oneof (proto3 `optional` fields sit in synthetic ones)."""
    oneof = field.containing_oneof
    return oneof is not None and not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def json_dict_to_message(data: dict[str, Any], message: Message) -> Message:
    """Parse public JSON into `message`; raises json_format.ParseError naming the bad field."""
    return json_format.ParseDict(data, message, ignore_unknown_fields=False)
