"""The OpenAPI 3.1 document of the proxy, generated from the same bindings it serves.

The transcoded routes come from the `google.api.http` bindings and their messages' schemas;
the proxy's own routes (health, files, this document) bring their fragments along with them.
Error statuses of a transcoded route follow what the job service can answer for it:

    every route     400 bad path/query/body or field, 401 key, 404 no such job/account,
                    429 request budget spent, 500, 503 job service down, 504 too slow
    with a body     413 body too large
    body: "*"       402: these are the submits, refused when credits are short; they also take
                    an `Idempotency-Key` header (409 when it was used for another request)

Every 200 of a transcoded route documents the `X-RateLimit-*` headers the job service sends.
A server-streaming route answers `text/event-stream` (`proxy.event_stream`): its 200 describes
the events and the schema of their data, and it takes a `Last-Event-ID` header and may answer
204 when its request has a resume field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from proxy.event_stream import KEEPALIVE_SECONDS, LAST_EVENT_ID, RESUME_FIELD
from proxy.http_rules import HttpBinding
from proxy.json_check import fields_by_json_name
from proxy.schema import SchemaSet


def response_ref(name: str) -> dict[str, Any]:
    """A reference to one of the shared error responses in `components/responses`."""
    return {"$ref": f"#/components/responses/{name}"}

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:=[^}]*)?\}")

_ERROR_EXAMPLES = {
    "BadRequest": (400, "formState.seed must be an integer", "invalid_argument", "formState.seed"),
    "Unauthenticated": (401, "Invalid API key", "unauthenticated", None),
    "InsufficientCredits": (402, "Not enough API credits: this job needs at least 10, the account "
                            "has 4", "insufficient_credits", None),
    "NotFound": (404, "No job 550e8400-e29b-41d4-a716-446655440000", "not_found", None),
    "IdempotencyConflict": (409, "This Idempotency-Key was already used for a different request; "
                            "use a new key for a new job (keys are kept 24 hours)",
                            "idempotency_key_reused", "Idempotency-Key"),
    "Expired": (410, "This link has expired", "expired", None),
    "PayloadTooLarge": (413, "The request body is larger than the limit of 1 MiB",
                        "payload_too_large", None),
    "RateLimited": (429, "Rate limit reached: this API key may make 60 job submissions a minute; "
                    "retry in 3 s", "rate_limited", None),
    "InternalError": (500, "Internal error", "internal", None),
    "Unavailable": (503, "The service cannot take work right now", "unavailable", None),
    "Timeout": (504, "The service did not answer in time", "deadline_exceeded", None),
}
_COMMON_ERRORS = {"400": "BadRequest", "401": "Unauthenticated", "404": "NotFound",
                  "429": "RateLimited", "500": "InternalError", "503": "Unavailable",
                  "504": "Timeout"}

RATE_LIMIT_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description":
                          "Requests of this kind (submits, or everything else) the key may make a minute"},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description":
                              "Requests of this kind the key may make right now"},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description":
                          "Seconds until the key's whole budget of this kind is back"},
}
_RATE_LIMIT_REFS = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "Any unique string of printable ASCII (a UUID, say). A retry with the same key "
                   "and the same body answers the first request's job instead of making and "
                   "charging another; the same key with another body is 409. Keys are per "
                   "account and kept 24 hours."}
LAST_EVENT_ID_PARAMETER: dict[str, Any] = {
    "name": LAST_EVENT_ID, "in": "header", "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
    "description": "Resume: the `id:` of the last event received (EventSource sends it when it "
                   "reconnects); only later changes are sent"}
# What the job service checks of a field beyond its type (a .proto cannot say it), so the
# document allows exactly what the service accepts.
FIELD_BOUNDS: dict[str, dict[str, Any]] = {
    "lipsync.v1.ListJobsRequest.limit": {"minimum": 0, "maximum": 100},  # 0: the default, 20
}
_REPLAYED_HEADER = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                            "description": "This answer repeats an earlier "
                                            "request's, made with the same Idempotency-Key"}}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "code"], "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person"},
        "code": {"type": "string", "description": "What went wrong, for a program"},
        "field": {"type": "string", "description": "The JSON path of the field at fault"},
    },
}


def openapi_document(bindings: Iterable[HttpBinding], extra_paths: Mapping[str, Any],
                     extra_schemas: Mapping[str, Any], *, title: str, version: str,
                     server_url: str) -> dict[str, Any]:
    bindings = list(bindings)
    schemas = SchemaSet()
    for binding in bindings:  # responses first: a message used both ways keeps its plain name there
        schemas.ref(binding.body_type, "response")
    paths: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for binding in bindings:
        operation = _operation(binding, schemas)
        name = binding.method.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # an additional binding of the same rpc
            operation["operationId"] = f"{name}{seen[name]}"
        path = _VARIABLE.sub(r"{\1}", binding.template)
        paths.setdefault(path, {})[binding.verb.lower()] = operation
    for path, item in extra_paths.items():
        paths.setdefault(path, {}).update(item)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": (
            "Lip-sync videos from images, videos and audio. Every answer carries an "
            "`X-Request-Id` header (the client's own, if it sent one). Errors are JSON: "
            "`{\"error\", \"code\", \"field\"}`. Each API key has two request budgets a "
            "minute, one for submits and one for everything else, reported in `X-RateLimit-*` "
            "headers; past one, or with too many jobs processing at once for the account, the "
            "answer is 429 with `Retry-After`.")},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "sk_<id>_<secret>",
                "description": "An API key: `Authorization: Bearer sk_XXXX_YYYY`"}},
            "schemas": {**schemas.schemas, **extra_schemas, "Error": ERROR_SCHEMA},
            "headers": RATE_LIMIT_HEADERS,
            "responses": {name: _error_response(*example) for name, example in _ERROR_EXAMPLES.items()},
        },
    }


def _operation(binding: HttpBinding, schemas: SchemaSet) -> dict[str, Any]:
    request = binding.request_type
    operation: dict[str, Any] = {
        "operationId": binding.method.name,
        "summary": _words(binding.method.name),
        "tags": [binding.method.containing_service.name],
    }
    parameters = [_parameter(request.fields_by_name[name], "path", schemas) for name in binding.path_fields]
    if binding.body != "*":
        bound = {binding.body, *binding.path_fields}
        parameters += [_parameter(f, "query", schemas) for f in fields_by_json_name(request).values()
                       if f.name not in bound and f.message_type is None]
    else:
        parameters.append(IDEMPOTENCY_KEY)
    resumable = binding.server_streaming and RESUME_FIELD in request.fields_by_name
    if resumable:
        parameters.append(LAST_EVENT_ID_PARAMETER)
    if parameters:
        operation["parameters"] = parameters
    if binding.body:
        body_field = binding.body_field
        body_schema = (schemas.value_schema(body_field, "request") if body_field is not None
                       else schemas.ref(request, "request"))
        operation["requestBody"] = {"required": False, "content": {"application/json": {
            "schema": body_schema}}}
    headers = {**_RATE_LIMIT_REFS, **(_REPLAYED_HEADER if binding.body == "*" else {})}
    data = schemas.ref(binding.body_type, "response")
    responses: dict[str, Any] = {"200": {"description": "OK", "headers": headers, "content": {
        "application/json": {"schema": data}}}}
    if binding.server_streaming:
        responses["200"] = _event_stream_response(binding, headers, data)
        if resumable:
            responses["204"] = {"description": "Nothing after Last-Event-ID: the stream had "
                                "already ended there (EventSource stops reconnecting)"}
    errors = dict(_COMMON_ERRORS)
    if binding.body:
        errors["413"] = "PayloadTooLarge"
    if binding.body == "*":
        errors["402"] = "InsufficientCredits"
        errors["409"] = "IdempotencyConflict"
    for status in sorted(errors):
        responses[status] = response_ref(errors[status])
    operation["responses"] = responses
    return operation


def _event_stream_response(binding: HttpBinding, headers: dict[str, Any],
                           data: dict[str, Any]) -> dict[str, Any]:
    numbered = "an increasing `id:` and " if binding.event_id_field is not None else ""
    return {"description": (
        f"Server-Sent Events, one per message of the stream: {numbered}`data:` the JSON of "
        f"`{binding.body_type.name}` (the `x-event-data` schema); a comment line (`:`) after "
        f"{KEEPALIVE_SECONDS:g} s without one; the answer ends with the stream. An error after "
        "the answer has begun is an `event: error` whose data is the Error JSON."),
        "headers": headers,
        "content": {"text/event-stream": {"schema": {"type": "string"}, "x-event-data": data}}}


def _parameter(field: FieldDescriptor, where: str, schemas: SchemaSet) -> dict[str, Any]:
    schema = schemas.value_schema(field, "request")  # a scalar: no component is added
    schema.update(FIELD_BOUNDS.get(field.full_name, {}))
    if field.is_repeated:
        schema = {"type": "array", "items": schema}
    return {"name": field.json_name, "in": where, "required": where == "path", "schema": schema}


def _error_response(status: int, message: str, code: str, field: str | None) -> dict[str, Any]:
    example: dict[str, Any] = {"error": message, "code": code}
    if field:
        example["field"] = field
    response: dict[str, Any] = {"description": message, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}, "example": example}}}
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                               "description": "Seconds to wait before retrying"}}
    if status == 429:
        response["headers"].update(_RATE_LIMIT_REFS)
    return response


def _words(name: str) -> str:
    """"SubmitLipsyncImageMulti" -> "Submit lipsync image multi"."""
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else name
