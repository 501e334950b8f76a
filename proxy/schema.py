"""JSON Schemas (OpenAPI 3.1 dialect) of protobuf messages, as the proxy reads and writes them.

Two flavours, because the proxy is lenient in and exact out:
- request: any field may be left out or `null` (the same thing); fields annotated
  `(google.api.field_behavior) = REQUIRED` are listed as required and may not be null;
- response (`proxy.jsonmap`): every field is always there (unless it is in a real oneof), and
  fields with presence are `null` when unset; int64 values are JSON numbers.
Keys are the fields' json names. Messages become `#/components/schemas/<name>` references.
"""

from __future__ import annotations

from typing import Any, Literal

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

Flavour = Literal["request", "response"]
Schema = dict[str, Any]

_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "format": "uint64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED64: {"type": "integer", "format": "uint64", "minimum": 0},
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {"type": "object", "required": ["@type"]},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int32Value": {"type": "integer"},
    "google.protobuf.UInt32Value": {"type": "integer", "minimum": 0},
    "google.protobuf.Int64Value": {"type": "integer"},
    "google.protobuf.UInt64Value": {"type": "integer", "minimum": 0},
}


class SchemaSet:
    """Component schemas of the messages reached from the roots, named without clashes."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        self._names: dict[tuple[str, Flavour], str] = {}

    def ref(self, message: Descriptor, flavour: Flavour) -> Schema:
        """A `$ref` to `message`'s schema, adding it (and what it reaches) first if new."""
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        key = (message.full_name, flavour)
        if key not in self._names:
            name = self._free_name(message, flavour)
            self._names[key] = name
            self.schemas[name] = {}  # reserved first: a message may contain itself
            self.schemas[name] = self._object(message, flavour)
        return {"$ref": f"#/components/schemas/{self._names[key]}"}

    def _free_name(self, message: Descriptor, flavour: Flavour) -> str:
        for name in (message.name, f"{message.name}Input" if flavour == "request" else "",
                     message.full_name.replace(".", "_") + ("_Input" if flavour == "request" else "")):
            if name and name not in self.schemas:
                return name
        raise ValueError(f"no free schema name for {message.full_name}")

    def _object(self, message: Descriptor, flavour: Flavour) -> Schema:
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in message.fields:
            value = self._field(field, flavour)
            # A request's null means "not given", so required request fields are never null.
            if (flavour == "request" and not _is_required(field)) or \
                    (flavour == "response" and _has_null(field)):
                value = _nullable(value)
            properties[field.json_name] = value
            if (flavour == "response" and not _in_real_oneof(field)) or \
                    (flavour == "request" and _is_required(field)):
                required.append(field.json_name)
        schema: Schema = {"type": "object", "properties": properties,
                          "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def _field(self, field: FieldDescriptor, flavour: Flavour) -> Schema:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.value_schema(value_field, flavour)}
        if field.is_repeated:
            return {"type": "array", "items": self.value_schema(field, flavour)}
        return self.value_schema(field, flavour)

    def value_schema(self, field: FieldDescriptor, flavour: Flavour) -> Schema:
        """One value of `field` (an item, for a repeated field)."""
        if field.message_type is not None:
            return self.ref(field.message_type, flavour)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _has_null(field: FieldDescriptor) -> bool:
    """Written as null by `proxy.jsonmap` when unset."""
    return field.has_presence and not field.is_repeated and not _in_real_oneof(field)


def _in_real_oneof(field: FieldDescriptor) -> bool:
    oneof = field.containing_oneof
    return oneof is not None and not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def _is_required(field: FieldDescriptor) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.FieldBehavior.REQUIRED in behaviors


def _nullable(schema: Schema) -> Schema:
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]} if schema else schema
    kind = schema["type"]
    return {**schema, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}
