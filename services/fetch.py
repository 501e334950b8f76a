"""Downloading an input given as an http(s) URL: streamed, capped in size and time."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from services.engine.errors import MediaError

MAX_BYTES = 512 * 1024 * 1024
CHUNK = 1 << 16


class FetchError(MediaError):
    """An input URL could not be fetched."""


def download(url: str, dest: Path, max_bytes: int = MAX_BYTES, timeout: float = 30.0,
             total_timeout: float = 300.0) -> Path:
    """Stream `url` into `dest`; refuse non-http(s) URLs, oversize bodies and slow transfers."""
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"Only http(s) URLs can be fetched: {url[:80]}")
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "lipsync/0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"{url[:80]} is larger than the {max_bytes >> 20} MiB limit")
            size = 0
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{url[:80]} is larger than the {max_bytes >> 20} MiB limit")
                if time.monotonic() - started > total_timeout:
                    raise FetchError(f"{url[:80]} took longer than {total_timeout:.0f} s to fetch")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"Could not fetch {url[:80]}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"Could not fetch {url[:80]}: {reason}") from exc
    return dest
