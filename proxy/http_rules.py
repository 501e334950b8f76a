"""The REST routes a gRPC service declares with `google.api.http` annotations.

Read once from the service descriptor, and used by both the transcoder (to serve the routes)
and the OpenAPI generator (to document them), so the two cannot drift apart. Supported: the
five standard verbs, `additional_bindings`, `body: "*"` / `body: "<field>"` / no body, and path
variables naming a top-level scalar field (`{id}`, `{id=*}`, `{path=**}` for a rest-of-path),
and `response_body` naming the response field that is the HTTP body.

Unary methods answer JSON; server-streaming methods answer Server-Sent Events, one event per
message: its `data:` is the message (or its `response_body` field), its `id:` the message's
integer field `id` when `response_body` leaves that out of the body. Client-streaming methods
stay gRPC only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

_VERBS = ("get", "put", "post", "delete", "patch")
_INTEGER_TYPES = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
                  FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64}
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class HttpBinding:
    method: MethodDescriptor
    verb: str  # upper case: "GET", "POST", ...
    template: str  # as annotated: "/api/v1/jobs/{id}"
    route_path: str  # as Starlette writes it: "/api/v1/jobs/{id}" or "/x/{rest:path}"
    body: str  # "" (no body), "*" (the whole request message) or a top-level field name
    path_fields: tuple[str, ...]  # proto names of the fields bound by the path
    response_body: str = ""  # "" (the whole response message) or a top-level field name

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def request_type(self) -> Descriptor:
        return self.method.input_type

    @property
    def response_type(self) -> Descriptor:
        return self.method.output_type

    @property
    def body_type(self) -> Descriptor:
        """The message answered as JSON (per event, for a stream)."""
        field = self.response_body_field
        if field is None:
            return self.response_type
        assert field.message_type is not None  # checked when the binding was read
        return field.message_type

    @property
    def response_body_field(self) -> FieldDescriptor | None:
        return self.response_type.fields_by_name[self.response_body] if self.response_body else None

    @property
    def event_id_field(self) -> FieldDescriptor | None:
        """A stream's integer field `id` that numbers its events, when not part of the body."""
        field = self.response_type.fields_by_name.get("id")
        if not self.server_streaming or not self.response_body or field is None \
                or field.type not in _INTEGER_TYPES or field.is_repeated:
            return None
        return field

    @property
    def body_field(self) -> FieldDescriptor | None:
        """The field that receives the body when `body` names one."""
        if self.body in ("", "*"):
            return None
        return self.request_type.fields_by_name[self.body]


def http_bindings(service: ServiceDescriptor) -> list[HttpBinding]:
    """Every annotated method's bindings, in .proto order (client-streaming ones are gRPC only)."""
    out: list[HttpBinding] = []
    for method in service.methods:
        options = method.GetOptions()
        if method.client_streaming or not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        for one in (rule, *rule.additional_bindings):
            out.append(_binding(method, one))
    return out


def _binding(method: MethodDescriptor, rule: http_pb2.HttpRule) -> HttpBinding:
    kind = rule.WhichOneof("pattern")
    if kind in _VERBS:
        verb, template = kind.upper(), getattr(rule, kind)
    elif kind == "custom":
        verb, template = rule.custom.kind.upper(), rule.custom.path
    else:
        raise ValueError(f"{method.full_name}: an http rule without a pattern")
    fields = method.input_type.fields_by_name
    if rule.body not in ("", "*") and rule.body not in fields:
        raise ValueError(f"{method.full_name}: body names no field {rule.body!r}")
    if rule.response_body:
        out_field = method.output_type.fields_by_name.get(rule.response_body)
        if out_field is None or out_field.message_type is None or out_field.is_repeated:
            raise ValueError(f"{method.full_name}: response_body {rule.response_body!r} is not a "
                             "message field")

    path_fields: list[str] = []

    def to_starlette(match: re.Match[str]) -> str:
        name, pattern = match.group(1), match.group(2) or "*"
        field = fields.get(name)
        if field is None or field.message_type is not None or field.is_repeated:
            raise ValueError(f"{method.full_name}: path variable {name!r} is not a scalar field")
        if pattern not in ("*", "**"):
            raise ValueError(f"{method.full_name}: unsupported path pattern {pattern!r}")
        path_fields.append(name)
        return f"{{{name}:path}}" if pattern == "**" else f"{{{name}}}"

    route_path = _VARIABLE.sub(to_starlette, template)
    return HttpBinding(method=method, verb=verb, template=template, route_path=route_path,
                       body=rule.body, path_fields=tuple(path_fields),
                       response_body=rule.response_body)
