"""Where outputs and uploads live, and the expiring signed links that reach them.

Local default: files under the data directory, served by the proxy at `/files/<key>` only with a
valid HMAC signature that has not expired. With `LIPSYNC_S3_BUCKET` set, S3-compatible object
storage with presigned URLs takes its place (`object_storage.py`). A key is
`outputs/<job id>.mp4` or `uploads/<random>.<ext>`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from services.core.settings import Settings
from services.storage.s3 import S3Storage

_KEY = re.compile(r"^(outputs|uploads)/[A-Za-z0-9_-]{8,64}\.[a-z0-9]{1,5}$")


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def _signature(secret: str, key: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(settings: Settings, key: str, ttl: int | None = None, now: float | None = None) -> str:
    """A link that reaches `key` until it expires: S3 presigned when objects live in S3, else an
    HMAC-signed link to the proxy's /files route."""
    if settings.s3_bucket:
        return object_store(settings).url(key, ttl or settings.output_ttl_seconds)
    expires = int((now or time.time()) + (ttl or settings.output_ttl_seconds))
    query = urlencode({"expires": expires, "sig": _signature(settings.signing_key, key, expires)})
    return f"{settings.public_url}/files/{key}?{query}"


def check_signature(settings: Settings, key: str, expires: str, sig: str, now: float | None = None) -> bool:
    """True when the link is genuine and has not expired."""
    if not valid_key(key) or not expires.isdigit():
        return False
    if int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(_signature(settings.signing_key, key, int(expires)), sig)


def own_file(settings: Settings, url: str) -> Path | None:
    """The local file behind one of our own signed links (so workers read uploads directly
    instead of fetching them over HTTP), or None if `url` is not one."""
    parts = urlsplit(url)
    base = urlsplit(settings.public_url)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None
    prefix = base.path.rstrip("/") + "/files/"
    if not parts.path.startswith(prefix):
        return None
    key = parts.path[len(prefix):]
    query = parse_qs(parts.query)
    if not check_signature(settings, key, query.get("expires", [""])[0], query.get("sig", [""])[0]):
        return None
    path = LocalStorage(settings.data_dir).path(key)
    return path if path.is_file() else None


_OBJECT_STORES: dict[tuple[str, str, str], S3Storage] = {}


def object_store(settings: Settings) -> S3Storage:
    """One S3 client per bucket and endpoint, per process (clients are thread-safe)."""
    ident = (settings.s3_bucket, settings.s3_endpoint_url, settings.s3_access_key_id)
    if ident not in _OBJECT_STORES:
        _OBJECT_STORES[ident] = S3Storage(settings)
    return _OBJECT_STORES[ident]


def storage_for(settings: Settings) -> LocalStorage | S3Storage:
    """Where outputs and uploads go: S3 when a bucket is configured, else the data directory."""
    return object_store(settings) if settings.s3_bucket else LocalStorage(settings.data_dir)


def own_object(settings: Settings, url: str, dest: Path) -> Path | None:
    """Our own link's content, read directly: the local file behind one of our signed links, or
    (with S3) the object behind one of our presigned links downloaded to `dest`. None for any
    other URL, which is then fetched like a stranger's."""
    if not settings.s3_bucket:
        return own_file(settings, url)
    store = object_store(settings)
    key = store.key_of(url)
    if key is None or not valid_key(key):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    return store.download(key, dest)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"not a storage key: {key[:80]}")
        return self.root / key

    def put_file(self, key: str, source: Path) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(source, tmp)
        tmp.replace(target)  # atomic: a reader never sees half a file
        return key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
        return key
