"""Checking request JSON against a message descriptor, so every mistake names its field.

protobuf's own parser would refuse the same inputs, but its messages speak in proto type names
("Failed to parse seed field: Couldn't parse integer"); a client wants `formState.seed must be
an integer`. The rules are the proto3 JSON mapping's, under the public JSON names, a little
stricter where the public contract is (an integer must be a JSON number, not a string). `null`
means "not given", for any field. Well-known types (`google.protobuf.*`) are left to protobuf.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from proxy.error_responses import ApiError, bad_request

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
_TEXT = {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES}


def fields_by_json_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in descriptor.fields}


def check_object(data: Any, descriptor: Descriptor, path: str = "") -> None:
    """Raise a 400 `ApiError` naming the first field of `data` that `descriptor` refuses."""
    if not isinstance(data, dict):
        raise bad_request(f"{path} must be an object" if path else "The request body must be a JSON object",
                          path or None)
    fields = fields_by_json_name(descriptor)
    for name, value in data.items():
        where = f"{path}.{name}" if path else name
        field = fields.get(name)
        if field is None:
            raise bad_request(f"Unknown field {where}", where)
        if value is not None:
            _check_field(value, field, where)


def _check_field(value: Any, field: FieldDescriptor, where: str) -> None:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise bad_request(f"{where} must be an object", where)
        key_field = entry.fields_by_name["key"]
        value_field = entry.fields_by_name["value"]
        for key, item in value.items():
            if key_field.type in _INT_RANGES and not _is_int_text(key):
                raise bad_request(f"{where} keys must be integers", where)
            if item is not None:
                _check_value(item, value_field, f"{where}.{key}")
    elif field.is_repeated:
        if not isinstance(value, list):
            raise bad_request(f"{where} must be an array", where)
        for i, item in enumerate(value):
            if item is not None:
                _check_value(item, field, f"{where}[{i}]")
    else:
        _check_value(value, field, where)


def _check_value(value: Any, field: FieldDescriptor, where: str) -> None:
    """One value (not a list or map) of `field`'s type."""
    if field.message_type is not None:
        if field.message_type.full_name.startswith("google.protobuf."):
            return  # well-known types have their own JSON forms; protobuf checks those
        check_object(value, field.message_type, where)
    elif field.enum_type is not None:
        names = [v.name for v in field.enum_type.values]
        numbers = {v.number for v in field.enum_type.values}
        if not (value in names or (_is_int(value) and int(value) in numbers)):
            raise bad_request(f"{where} must be one of {', '.join(names)}", where)
    elif field.type in _INT_RANGES:
        if not _is_int(value):
            raise bad_request(f"{where} must be an integer", where)
        low, high = _INT_RANGES[field.type]
        if not low <= int(value) <= high:
            raise bad_request(f"{where} must be between {low} and {high}", where)
    elif field.type in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"{where} must be a number", where)
    elif field.type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise bad_request(f"{where} must be true or false", where)
    elif field.type in _TEXT and not isinstance(value, str):
        raise bad_request(f"{where} must be a string", where)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_int_text(text: str) -> bool:
    return text.lstrip("-").isdigit()


def as_api_error(error: Exception) -> ApiError:
    """A protobuf ParseError (what the checks above could not foresee) as a 400."""
    return bad_request(f"The request is not valid: {error}")
