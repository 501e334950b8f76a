"""The extension and media type an uploaded file is stored and served under.

What the bytes are is `services.net.sniff`'s call (the same one the worker makes on fetched
inputs), and each format there says how it is stored. Only media the service takes as input
have their own extension: anything else is stored as `bin` and served as
`application/octet-stream`, so a link never makes a browser render what a client labelled,
say, text/html.
"""

from __future__ import annotations

from services.net.sniff import HEAD_BYTES, MEDIA_TYPES, identify

__all__ = ["HEAD_BYTES", "media_type", "upload_extension"]

def upload_extension(head: bytes) -> str:
    """The extension for a file whose first bytes are `head` (up to HEAD_BYTES of them)."""
    return identify(head).extension or "bin"


def media_type(key: str) -> str:
    return MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
