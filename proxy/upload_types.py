"""The extension and media type an uploaded file is stored and served under.

What the bytes are is `services.net.sniff`'s call (the same one the worker makes on fetched
inputs); this module only names the result. Only media the service takes as input get their
own extension: anything else is stored as `bin` and served as `application/octet-stream`, so
a link never makes a browser render what a client labelled, say, text/html.
"""

from __future__ import annotations

from services.net.sniff import HEAD_BYTES, identify

__all__ = ["HEAD_BYTES", "media_type", "upload_extension"]

# services.net.sniff's format label -> (extension, media type)
_STORED_AS = {
    "an MP4 video": ("mp4", "video/mp4"),
    "a QuickTime (MOV) video": ("mov", "video/quicktime"),
    "an M4A audio file": ("m4a", "audio/mp4"),
    "a WebM file": ("webm", "video/webm"),
    "a Matroska (MKV) file": ("mkv", "video/x-matroska"),
    "an AVI video": ("avi", "video/x-msvideo"),
    "an MP3 audio file": ("mp3", "audio/mpeg"),
    "a WAV audio file": ("wav", "audio/wav"),
    "an Ogg media file": ("ogg", "audio/ogg"),
    "a FLAC audio file": ("flac", "audio/flac"),
    "an AIFF audio file": ("aiff", "audio/aiff"),
    "a PNG image": ("png", "image/png"),
    "a JPEG image": ("jpg", "image/jpeg"),
    "a WebP image": ("webp", "image/webp"),
    "a GIF image": ("gif", "image/gif"),
    "a BMP image": ("bmp", "image/bmp"),
}
_MEDIA_TYPES = {ext: kind for ext, kind in _STORED_AS.values()}


def upload_extension(head: bytes) -> str:
    """The extension for a file whose first bytes are `head` (up to HEAD_BYTES of them)."""
    stored = _STORED_AS.get(identify(head).label)
    return stored[0] if stored else "bin"


def media_type(key: str) -> str:
    return _MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
