"""The API reference page's content, read from the proxy's own OpenAPI document.

Every operation with its parameters, request body and responses, bodies flattened into field
tables (`formState.image`, ...) by following `$ref`s, so the page needs no script to show it and
never drifts from `/openapi.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 4  # nesting shown in a body's field table


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    summary: str
    description: str
    auth: bool
    parameters: list[FieldRow] = field(default_factory=list)
    body: list[FieldRow] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)
    response_fields: list[FieldRow] = field(default_factory=list)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {})
        node = target
    return node


def _type_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if isinstance(kind, list):
        kind = " | ".join(k for k in kind if k != "null") + (" | null" if "null" in kind else "")
    if kind == "array":
        return f"array of {_type_name(schema.get('items', {}))}"
    if "enum" in schema:
        return f"{kind}: " + ", ".join(map(str, schema["enum"]))
    return str(kind)


def _fields(document: dict[str, Any], schema: dict[str, Any], prefix: str = "",
            depth: int = 0) -> list[FieldRow]:
    resolved = _resolve(document, schema)
    rows: list[FieldRow] = []
    required = set(resolved.get("required", ()))
    for name, sub in resolved.get("properties", {}).items():
        full = f"{prefix}{name}"
        target = _resolve(document, sub)
        rows.append(FieldRow(full, _type_name(sub), name in required,
                             str(sub.get("description") or target.get("description") or "")))
        if "properties" in target and depth < MAX_DEPTH:
            rows.extend(_fields(document, target, f"{full}.", depth + 1))
    return rows


def _json_schema(document: dict[str, Any], container: dict[str, Any]) -> dict[str, Any] | None:
    content = _resolve(document, container).get("content", {})
    media = content.get("application/json") or content.get("text/event-stream")
    return media.get("schema") if media else None


def reference_of(document: dict[str, Any]) -> list[Operation]:
    operations = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [FieldRow(f"{p['name']} ({p['in']})", _type_name(p.get("schema", {})),
                               bool(p.get("required")), str(p.get("description", "")))
                      for p in (_resolve(document, p) for p in op.get("parameters", ()))]
            body_schema = _json_schema(document, op["requestBody"]) if "requestBody" in op else None
            ok = op.get("responses", {}).get("200")
            ok_schema = _json_schema(document, ok) if ok else None
            operations.append(Operation(
                id=op.get("operationId", f"{method} {path}"), method=method.upper(), path=path,
                summary=str(op.get("summary", "")), description=str(op.get("description", "")),
                auth=op.get("security", None) != [],
                parameters=params,
                body=_fields(document, body_schema) if body_schema else [],
                responses=[(code, str(_resolve(document, r).get("description", "")))
                           for code, r in op.get("responses", {}).items()],
                response_fields=_fields(document, ok_schema) if ok_schema else []))
    # The submits first, then the rest of the API (jobs, account, files), operations last.
    return sorted(operations, key=lambda o: (not o.path.startswith("/api/"), "lipsync-" not in o.path,
                                             o.path, o.method))
