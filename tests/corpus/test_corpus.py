"""The bad-input corpus (`cases.py`) sent to the real processes: every case gets a clear 4xx, a
clear gRPC status, or a job that fails with a clear error; never a 5xx; and afterwards the
service is still ready and still renders a good job."""

from __future__ import annotations

import http.client
import re
import socket
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from waiting import wait_until

from protos.lipsync.v1 import admin_pb2, jobs_pb2  # noqa: F401  (registers the services' types)
from services.store.accounts import NewKey

from . import media
from .cases import FORMS, GRPC_CASES, HTTP_CASES, MEDIA_CASES, GrpcCase, HttpCase, MediaCase
from .harness import CREDITS, Corpus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

JOB_TIMEOUT = 120.0


def assert_readable(message: str) -> None:
    """A message meant for a person: short, one line, no traceback or exception repr."""
    assert message and len(message) < 400, message
    assert "\n" not in message and "Traceback" not in message and 'File "' not in message, message
    assert not re.search(r"\b\w+(Error|Exception)\(", message), message


@pytest.fixture(scope="module")
def client(corpus: Corpus) -> httpx.Client:
    with httpx.Client(base_url=corpus.stack.base_url, timeout=30) as c:
        yield c  # type: ignore[misc]


def bearer(key: NewKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


def submit(client: httpx.Client, key: NewKey, model: str, form: dict[str, Any]) -> str:
    reply = client.post(f"/api/v1/{model}", headers=bearer(key), json={"formState": form})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


def wait_ended(client: httpx.Client, key: NewKey, job_id: str,
               timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    def job() -> dict[str, Any]:
        reply = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(key))
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()
        return found

    return wait_until(job, until=lambda j: j["status"] != "processing", timeout=timeout, interval=0.1,
                      what=f"job {job_id} to end")


# -- HTTP ----------------------------------------------------------------------------------------

def _placeholders(case: HttpCase, corpus: Corpus, client: httpx.Client, key: NewKey) -> str:
    path = case.path
    if "{job}" in path:
        path = path.replace("{job}", submit(client, key, "lipsync-image", FORMS["lipsync-image"]))
    if "{ended}" in path:
        job_id = submit(client, key, "lipsync-image", FORMS["lipsync-image"])
        assert wait_ended(client, key, job_id)["status"] == "failed"
        path = path.replace("{ended}", job_id)
    if "{stranger}" in path:
        (other,) = corpus.new_keys(1)
        path = path.replace("{stranger}", submit(client, other, "lipsync-image", FORMS["lipsync-image"]))
    return path


def _raw_request(base_url: str, raw: bytes) -> httpx.Response:
    """Send `raw` as is; read the answer with the standard library's parser."""
    url = httpx.URL(base_url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        sock.sendall(raw)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        body = answer.read(int(answer.getheader("content-length") or 0))
        return httpx.Response(answer.status, headers=answer.getheaders(), content=body)


def _params(cases: list[HttpCase]) -> list[Any]:
    """Cases that show a known bug are strict xfails: fixing the bug turns them into failures,
    so the marker goes as soon as the bug does."""
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else [])
            for c in cases]


@pytest.mark.parametrize("case", _params(HTTP_CASES))
def test_http(case: HttpCase, corpus: Corpus, client: httpx.Client) -> None:
    (key,) = corpus.new_keys(1)
    if case.raw is not None:
        reply = _raw_request(corpus.stack.base_url, case.raw.replace(b"{key}", key.api_key.encode()))
    else:
        headers = {**(bearer(key) if case.auth else {}), **case.headers}
        path = _placeholders(case, corpus, client, key)
        content = case.body if case.body is not None else None
        reply = client.request(case.method, path, headers=headers, content=content,
                               json=case.json if content is None and case.json is not None else None)
    assert reply.status_code == case.status, reply.text[:500]
    body = reply.json()
    if case.status != 200:
        assert reply.headers["content-type"] == "application/json"
        assert_readable(body["error"])
        assert case.message in body["error"]
        if case.code is not None:
            assert body["code"] == case.code, body
        assert body.get("field") == case.field, body
    elif case.path.startswith("/api/v1/lipsync"):
        job = wait_ended(client, key, body["id"])
        assert job["status"] == "failed" and case.job_error in job["error"], job
        assert_readable(job["error"])


# -- gRPC ----------------------------------------------------------------------------------------

def _grpc_metadata(case: GrpcCase, key: NewKey) -> list[tuple[str, str]]:
    if case.auth == "none":
        return []
    return [("authorization", f"Bearer {key.api_key}" if case.auth == "key" else case.auth)]


def _request_bytes(case: GrpcCase) -> tuple[bytes, bool]:
    """The serialized request, and whether the method streams its answer."""
    service, _, method = case.method.strip("/").rpartition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service).methods_by_name[method]
    except KeyError:
        return b"", False
    message = message_factory.GetMessageClass(found.input_type)()
    json_format.ParseDict(case.request, message)
    return message.SerializeToString(), found.server_streaming


@pytest.fixture(scope="module")
def channel(corpus: Corpus) -> grpc.Channel:
    with grpc.insecure_channel(corpus.stack.jobs_addr) as ch:
        yield ch  # type: ignore[misc]


@pytest.mark.parametrize("case", GRPC_CASES, ids=lambda c: c.name)
def test_grpc(case: GrpcCase, corpus: Corpus, channel: grpc.Channel) -> None:
    (key,) = corpus.new_keys(1)
    payload, streaming = _request_bytes(case)
    metadata = _grpc_metadata(case, key)
    with pytest.raises(grpc.RpcError) as failed:
        if streaming:
            call = channel.unary_stream(case.method)
            list(call(payload, metadata=metadata, timeout=30))
        else:
            channel.unary_unary(case.method)(payload, metadata=metadata, timeout=30)
    error = failed.value
    assert isinstance(error, grpc.Call)
    assert error.code() == case.code, error.details()
    assert case.message in (error.details() or "")
    if case.code not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNIMPLEMENTED):
        assert_readable(error.details() or "")


# -- media, through uploads and a real worker ---------------------------------------------------

@pytest.fixture(scope="module")
def media_jobs(corpus: Corpus, client: httpx.Client,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, NewKey]]:
    """Every media case uploaded and submitted up front, so the worker renders them while the
    tests wait in turn: case name -> (job id, the key of its own account)."""
    folder = tmp_path_factory.mktemp("corpus-media")
    keys = corpus.new_keys(len(MEDIA_CASES) + 1)
    uploader = keys.pop()
    urls: dict[str, str] = {}

    def url_of(maker: str) -> str:
        if maker not in urls:
            path = getattr(media, maker)(folder / f"{maker}.bin")
            reply = client.post("/api/v1/files", headers=bearer(uploader), content=Path(path).read_bytes())
            assert reply.status_code == 200, reply.text
            urls[maker] = reply.json()["url"]
        return urls[maker]

    def resolve(value: str) -> str:
        if value == "{forged}":
            return re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 64, url_of("face_png"))
        return value if value.startswith(("http://", "https://")) else url_of(value)

    jobs = {}
    for case, key in zip(MEDIA_CASES, keys, strict=True):
        form = {**{name: resolve(value) for name, value in case.inputs.items()}, **case.form}
        jobs[case.name] = (submit(client, key, case.model, form), key)
    return jobs


@pytest.mark.parametrize("case", MEDIA_CASES, ids=lambda c: c.name)
def test_media(case: MediaCase, corpus: Corpus, client: httpx.Client,
               media_jobs: dict[str, tuple[str, NewKey]]) -> None:
    job_id, key = media_jobs[case.name]
    job = wait_ended(client, key, job_id)
    if case.error is None:
        assert job["status"] == "completed", job
        assert corpus.credits(key.account_id) == CREDITS - job["credits"]
        return
    assert job["status"] == "failed", job
    assert case.error in job["error"], job["error"]
    assert_readable(job["error"])
    assert job["output"] is None
    assert corpus.credits(key.account_id) == CREDITS  # a failed job costs nothing


# -- afterwards ----------------------------------------------------------------------------------

def test_still_healthy_after_the_corpus(corpus: Corpus, client: httpx.Client,
                                        tmp_path: Path) -> None:
    """Runs last (pytest keeps file order): every process alive, ready, rendering, and no
    log line about an unexpected error."""
    stack = corpus.stack
    assert set(stack.pids()) == {"redis", "jobs", "webhooks", "proxy", *stack.worker_names}
    assert client.get("/readyz").status_code == 200
    (key,) = corpus.new_keys(1)
    uploads = {}
    for name, maker in (("image", media.face_png), ("audio", media.speech_wav)):
        data = maker(tmp_path / f"{name}.bin").read_bytes()
        uploads[name] = client.post("/api/v1/files", headers=bearer(key), content=data).json()["url"]
    job = wait_ended(client, key, submit(client, key, "lipsync-image", uploads))
    assert job["status"] == "completed", job
    video = client.get(job["output"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    for name, marker in (("proxy", "unhandled error"), ("jobs", "unexpected error"),
                         ("webhooks", "unexpected error"),
                         *((worker, "unexpected error") for worker in stack.worker_names)):
        assert marker not in stack.log_tail(name, 100_000), stack.log_tail(name)
