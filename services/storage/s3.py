"""S3-compatible object storage for outputs and uploads, with presigned links.

Chosen when `LIPSYNC_S3_BUCKET` is set (see `storage.storage_for`). Objects keep the same keys as
the local store (`outputs/<job>.mp4`, `uploads/<id>.<ext>`); links are S3 presigned GETs that
expire like the local HMAC links, so users never need credentials and nothing is public.
boto3 is imported here only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from services.core.settings import Settings

MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's own ceiling for SigV4 presigned URLs
CONTENT_TYPES = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp",
                 ".wav": "audio/wav", ".mp3": "audio/mpeg"}


class S3Storage:
    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.client = client or _client(settings)

    def put_file(self, key: str, source: Path) -> str:
        extra = {"ContentType": CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")}
        self.client.upload_file(str(source), self.bucket, key, ExtraArgs=extra)
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                               ContentType=CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream"))
        return key

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def download(self, key: str, dest: Path) -> Path:
        self.client.download_file(self.bucket, key, str(dest))
        return dest

    def url(self, key: str, ttl: int) -> str:
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=min(ttl, MAX_PRESIGN_SECONDS)))

    def key_of(self, url: str) -> str | None:
        """The key behind one of our own presigned links (so workers read uploads with their
        credentials instead of fetching them over HTTP), or None."""
        ours = urlsplit(self.url("uploads/probe.bin", 60))
        theirs = urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            return None
        # Path-style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key) addressing.
        path = theirs.path.lstrip("/")
        prefix = ours.path.lstrip("/").removesuffix("uploads/probe.bin")
        return path[len(prefix):] if path.startswith(prefix) else None


def _client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=str(settings.s3_secret_access_key) or None,
        config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"},
                      connect_timeout=5, read_timeout=60),
    )
