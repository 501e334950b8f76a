"""An HTTP request's parts as the gRPC request message of its binding.

As the `google.api.http` rules say: path variables fill the fields they name; the body fills
the whole message (`body: "*"`) or one field (`body: "<field>"`); when the body does not take
the whole message, query parameters fill the remaining top-level scalar fields. Every problem
is a 400 naming the field, found before any call is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from proxy.error_responses import bad_request
from proxy.http_rules import HttpBinding
from proxy.json_check import as_api_error, check_object, fields_by_json_name
from proxy.jsonmap import json_dict_to_message

_INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}


def parse_json_body(body: bytes) -> Any:
    """The body's JSON value; an empty body reads as `{}` (every field left out)."""
    if not body.strip():
        return {}
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise bad_request("Request body is not valid JSON") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def build_request(binding: HttpBinding, body: bytes, path_params: Mapping[str, str],
                  query: Iterable[tuple[str, str]]) -> Message:
    descriptor = binding.request_type
    data: dict[str, Any] = {}
    if binding.body == "*":
        whole = parse_json_body(body)
        check_object(whole, descriptor)
        data.update(whole)
    elif binding.body_field is not None:
        part = parse_json_body(body)
        field = binding.body_field
        check_object({field.json_name: part}, descriptor)
        data[field.json_name] = part
    if binding.body != "*":
        bound = {binding.body, *binding.path_fields}
        data.update(_query_values(query, descriptor, bound))
    for name in binding.path_fields:
        field = descriptor.fields_by_name[name]
        data[field.json_name] = _scalar_from_text(path_params[name], field)
    check_object(data, descriptor)
    message = message_factory.GetMessageClass(descriptor)()
    try:
        return json_dict_to_message(data, message)
    except (json_format.ParseError, RecursionError) as exc:
        raise as_api_error(exc) from None


def _query_values(query: Iterable[tuple[str, str]], descriptor: Descriptor,
                  bound: set[str]) -> dict[str, Any]:
    by_json = fields_by_json_name(descriptor)
    out: dict[str, Any] = {}
    for name, text in query:
        field = by_json.get(name)
        if field is None or field.name in bound or field.message_type is not None:
            raise bad_request(f"Unknown query parameter {name}", name)
        value = _scalar_from_text(text, field)
        if field.is_repeated:
            out.setdefault(name, []).append(value)
        elif name in out:
            raise bad_request(f"{name} is given more than once", name)
        else:
            out[name] = value
    return out


def _scalar_from_text(text: str, field: FieldDescriptor) -> Any:
    """URL text as the JSON value of `field`'s type; left as text when it does not read as
    one, so the checks name the field and say what it must be."""
    if field.type in _INTEGER_TYPES and text.lstrip("-").isdigit():
        return int(text)
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        try:
            return float(text)
        except ValueError:
            return text
    if field.type == FieldDescriptor.TYPE_BOOL and text in ("true", "false"):
        return text == "true"
    return text

