"""S3-compatible output storage against a real S3-compatible server on loopback.

The server is moto's (`moto[server]`, a pure-Python S3 implementation from PyPI): MinIO and the
like ship as binaries outside the reachable registries, and moto speaks the same S3 REST API,
SigV4 presigned URLs included, which is what this code uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from moto.server import ThreadedMotoServer
from stacks import job_ended
from test_worker import Inputs, account, inputs, running, submit

from proxy.app import create_app
from services.core.settings import Secret, Settings
from services.devtools.redis_server import free_port
from services.jobs.present import job_message
from services.jobs.server import create_server
from services.storage.links import signed_url, storage_for
from services.storage.s3 import S3Storage
from services.store.accounts import AccountStore
from services.store.connection import RedisClient

__all__ = ["account", "inputs"]  # fixtures shared with the worker tests
BUCKET = "lipsync-outputs"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str) -> Settings:
    s3 = settings.with_(s3_bucket=BUCKET, s3_endpoint_url=s3_endpoint, s3_access_key_id="test",
                        s3_secret_access_key=Secret("test"))
    store = S3Storage(s3)
    buckets = [b["Name"] for b in store.client.list_buckets().get("Buckets", [])]
    if BUCKET not in buckets:
        store.client.create_bucket(Bucket=BUCKET)
    return s3


def test_put_and_presigned_get(s3_settings: Settings, tmp_path: Path) -> None:
    store = storage_for(s3_settings)
    assert isinstance(store, S3Storage)
    source = tmp_path / "a.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 1000)
    store.put_file("outputs/0123456789abcdef.mp4", source)
    url = signed_url(s3_settings, "outputs/0123456789abcdef.mp4", ttl=600)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
    reply = httpx.get(url)
    assert reply.status_code == 200 and reply.content == source.read_bytes()
    assert reply.headers["content-type"] == "video/mp4"
    # Our own links map back to their keys; anything else does not.
    assert store.key_of(url) == "outputs/0123456789abcdef.mp4"
    assert store.key_of("https://example.com/outputs/0123456789abcdef.mp4") is None
    store.delete("outputs/0123456789abcdef.mp4")
    assert httpx.get(url).status_code == 404


def test_unsigned_access_is_refused(s3_settings: Settings, s3_endpoint: str) -> None:
    # The bucket is private: only presigned links reach objects. (moto checks that a request is
    # signed, not the signature's value; real S3 checks both, which this test cannot show.)
    storage_for(s3_settings).put_bytes("outputs/fedcba9876543210.mp4", b"secret video")
    assert httpx.get(f"{s3_endpoint}/{BUCKET}/outputs/fedcba9876543210.mp4").status_code == 403


async def test_a_job_s_output_lands_in_s3(redis: RedisClient, s3_settings: Settings, account: str,
                                          inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"),
                                        "audio": inputs.url("speech.wav")})
    async with running(s3_settings, redis):
        done = await job_ended(redis, job.id)
    assert done.status == "completed", done.error
    output = job_message(done, s3_settings).output
    assert output.startswith(f"{s3_settings.s3_endpoint_url}/{BUCKET}/outputs/{job.id}.mp4?")
    video = httpx.get(output)
    assert video.status_code == 200
    path = Path(done.output_key).name
    (Path(s3_settings.data_dir) / path).write_bytes(video.content)
    with av.open(str(Path(s3_settings.data_dir) / path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert not (Path(s3_settings.data_dir) / "outputs").exists()  # nothing on local disk


async def test_uploads_in_s3_are_read_with_credentials(s3_settings: Settings, tmp_path: Path) -> None:
    """A worker given one of our own presigned links reads the object directly, even where
    the S3 endpoint is a private address it would refuse to fetch over HTTP."""
    from services.devtools import samples
    from services.net.fetch import fetch_input

    face = samples.save_image(tmp_path / "face.png", samples.grace_hopper())
    storage_for(s3_settings).put_file("uploads/0123456789abcdef0123.png", face)
    url = signed_url(s3_settings, "uploads/0123456789abcdef0123.png", ttl=600)
    strict = s3_settings.with_(allow_private_urls=False)  # the loopback endpoint is private
    got = await fetch_input(url, tmp_path / "in" / "image", strict, "image")
    assert got.read_bytes() == face.read_bytes()


async def test_an_upload_through_the_api_goes_to_the_bucket_and_a_job_uses_it(
        redis: RedisClient, s3_settings: Settings, inputs: Inputs) -> None:
    """`POST /api/v1/files` with S3 on: the bytes land in the bucket (none on the proxy's disk),
    and a job given the answered links completes, its worker reading them from the bucket with
    its credentials (it may not fetch the private S3 endpoint over HTTP)."""
    jobs, port = create_server("127.0.0.1:0", s3_settings, redis)
    await jobs.start()
    proxy_settings = s3_settings.with_(jobs_addr=f"127.0.0.1:{port}")
    app = create_app(proxy_settings)
    key = await AccountStore(redis).create_key("uploads", credits=1000)
    headers = {"Authorization": f"Bearer {key.api_key}"}
    store = S3Storage(s3_settings)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url="http://testserver") as api:
            links = {}
            for name in ("face.png", "speech.wav"):
                reply = await api.post("/api/v1/files", content=(inputs.folder / name).read_bytes(),
                                       headers=headers)
                assert reply.status_code == 200, reply.text
                links[name] = reply.json()["url"]
                object_key = store.key_of(links[name])
                assert object_key is not None and object_key.startswith("uploads/")
                stored = store.client.get_object(Bucket=BUCKET, Key=object_key)["Body"].read()
                assert stored == (inputs.folder / name).read_bytes()
            assert not (Path(s3_settings.data_dir) / "uploads").exists()  # nothing on the proxy's disk
            reply = await api.post("/api/v1/lipsync-image", headers=headers, json={
                "formState": {"image": links["face.png"], "audio": links["speech.wav"]}})
            assert reply.status_code == 200, reply.text
            job_id = reply.json()["id"]
            async with running(s3_settings.with_(allow_private_urls=False), redis):
                done = await job_ended(redis, job_id)
            assert done.status == "completed", done.error
            job = (await api.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        assert job["status"] == "completed"
        assert job["output"].startswith(f"{s3_settings.s3_endpoint_url}/{BUCKET}/outputs/{job_id}.mp4?")
    finally:
        await jobs.stop(None)
