"""The proxy's generic pieces on their own: bindings from annotations, request building from
body + path + query, the gRPC -> HTTP table, upload naming. A throwaway service declared here
shows that any annotated rpc gets its route, with nothing specific to the job API.
"""

from __future__ import annotations

import functools
from typing import Any

import grpc
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from protos.lipsync.v1 import jobs_pb2
from proxy.error_responses import ApiError, http_status
from proxy.http_rules import http_bindings
from proxy.openapi import openapi_document
from proxy.request_message import build_request
from proxy.upload_types import media_type, upload_extension


@functools.cache
def _demo_service() -> Any:
    """`rpc Put(PutThing) returns (PutThing)` at `PUT /v1/things/{name=**}` with body "thing"."""
    file = descriptor_pb2.FileDescriptorProto(
        name="demo/v1/demo.proto", package="demo.v1", syntax="proto3",
        dependency=["google/api/annotations.proto"])
    thing = file.message_type.add(name="Thing")
    thing.field.add(name="size", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    thing.field.add(name="tags", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    put = file.message_type.add(name="PutThing")
    put.field.add(name="name", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    put.field.add(name="thing", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                  type_name=".demo.v1.Thing", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    put.field.add(name="dry_run", number=3, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, json_name="dryRun")
    method = file.service.add(name="Demo").method.add(
        name="Put", input_type=".demo.v1.PutThing", output_type=".demo.v1.PutThing")
    method.options.Extensions[annotations_pb2.http].CopyFrom(
        http_pb2.HttpRule(put="/v1/things/{name=**}", body="thing"))
    pool = descriptor_pool.Default()  # where google.api.http is registered
    pool.AddSerializedFile(file.SerializeToString())
    return pool.FindServiceByName("demo.v1.Demo")


def test_job_service_bindings_follow_the_annotations() -> None:
    service = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
    routes = [(b.method.name, b.verb, b.route_path, b.body) for b in http_bindings(service)]
    assert routes == [
        ("SubmitLipsyncVideo", "POST", "/api/v1/lipsync-video", "*"),
        ("SubmitLipsyncImage", "POST", "/api/v1/lipsync-image", "*"),
        ("SubmitLipsyncImageMulti", "POST", "/api/v1/lipsync-image-multi", "*"),
        ("GetJob", "GET", "/api/v1/jobs/{id}", ""),
        ("CancelJob", "POST", "/api/v1/jobs/{id}/cancel", ""),
        ("ListJobs", "GET", "/api/v1/jobs", ""),
        ("WatchJob", "GET", "/api/v1/jobs/{id}/events", ""),  # Server-Sent Events
        ("GetAccount", "GET", "/api/v1/account", ""),
    ]


def test_any_annotated_rpc_is_transcoded() -> None:
    [binding] = http_bindings(_demo_service())
    assert (binding.verb, binding.route_path, binding.path_fields) == ("PUT", "/v1/things/{name:path}",
                                                                       ("name",))
    message: Any = build_request(binding, b'{"size": 3, "tags": ["a"]}', {"name": "a/b"},
                                 [("dryRun", "true")])
    assert (message.name, message.thing.size, list(message.thing.tags), message.dry_run) == \
        ("a/b", 3, ["a"], True)
    assert type(message) is message_factory.GetMessageClass(binding.request_type)
    doc = openapi_document([binding], {}, {}, title="t", version="1", server_url="http://x")
    operation = doc["paths"]["/v1/things/{name}"]["put"]
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("name", "path"), ("dryRun", "query")]


@pytest.mark.parametrize(("body", "query", "field", "message"), [
    (b'{"size": "3"}', [], "thing.size", "thing.size must be an integer"),
    (b'{"tags": "a"}', [], "thing.tags", "thing.tags must be an array"),
    (b'{"tags": [1]}', [], "thing.tags[0]", "thing.tags[0] must be a string"),
    (b'{"colour": 1}', [], "thing.colour", "Unknown field thing.colour"),
    (b'{"size": 9999999999}', [], "thing.size", "thing.size must be between -2147483648 and 2147483647"),
    (b"{}", [("dryRun", "maybe")], "dryRun", "dryRun must be true or false"),
    (b"{}", [("dryRun", "true"), ("dryRun", "false")], "dryRun", "dryRun is given more than once"),
    (b"{}", [("name", "x")], "name", "Unknown query parameter name"),  # bound by the path
    (b"{}", [("thing", "x")], "thing", "Unknown query parameter thing"),  # bound by the body
    (b"[}", [], None, "Request body is not valid JSON"),
    (b"NaN", [], None, "Request body is not valid JSON"),
])
def test_request_errors_name_the_field(body: bytes, query: list[tuple[str, str]], field: str | None,
                                       message: str) -> None:
    [binding] = http_bindings(_demo_service())
    with pytest.raises(ApiError) as caught:
        build_request(binding, body, {"name": "n"}, query)
    assert (caught.value.status, caught.value.field, caught.value.message) == (400, field, message)


def test_grpc_codes_map_to_http() -> None:
    assert http_status(grpc.StatusCode.INVALID_ARGUMENT) == 400
    assert http_status(grpc.StatusCode.FAILED_PRECONDITION) == 400
    assert http_status(grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS") == 402
    assert http_status(grpc.StatusCode.UNAUTHENTICATED) == 401
    assert http_status(grpc.StatusCode.NOT_FOUND) == 404
    assert http_status(grpc.StatusCode.ABORTED) == 409
    assert http_status(grpc.StatusCode.RESOURCE_EXHAUSTED) == 429
    assert http_status(grpc.StatusCode.CANCELLED) == 499
    assert http_status(grpc.StatusCode.UNAVAILABLE) == 503
    assert http_status(grpc.StatusCode.DEADLINE_EXCEEDED) == 504
    assert http_status(grpc.StatusCode.DATA_LOSS) == 500


def test_uploads_are_named_by_their_bytes() -> None:
    assert upload_extension(b"\x00\x00\x00\x18ftypmp42" + bytes(16)) == "mp4"
    assert upload_extension(b"\x89PNG\r\n\x1a\n" + bytes(8)) == "png"
    assert upload_extension(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert upload_extension(b"<!doctype html><html>") == "bin"
    assert media_type("outputs/abc.mp4") == "video/mp4"
    assert media_type("uploads/abc.bin") == "application/octet-stream"
