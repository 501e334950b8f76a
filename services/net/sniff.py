"""What a file is, from its first bytes: never from its name or a server's Content-Type.

`identify(head)` names the format ("a PNG image") and the kinds of input it can serve: an MP4 can
be a video or the audio track of one, a WebM or Ogg file either. Formats that are no media at
all (HTML, PDF, ZIP, text) are named too, so a refusal can say what the URL gave instead.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 4096  # enough for every signature below, including a WebM DocType

IMAGE, AUDIO, VIDEO = "image", "audio", "video"
KINDS = (IMAGE, AUDIO, VIDEO)
_AV = frozenset({AUDIO, VIDEO})


@dataclass(frozen=True)
class Format:
    label: str  # "a PNG image": fits "it looks like ..."
    kinds: frozenset[str]
    # The extension an upload of this format is stored under (served as MEDIA_TYPES says); ""
    # for formats the service does not take as input: stored as `bin`, served as octet-stream.
    extension: str = ""


MEDIA_TYPES = {
    "mp4": "video/mp4", "mov": "video/quicktime", "m4a": "audio/mp4", "webm": "video/webm",
    "mkv": "video/x-matroska", "avi": "video/x-msvideo", "mp3": "audio/mpeg", "wav": "audio/wav",
    "ogg": "audio/ogg", "flac": "audio/flac", "aiff": "audio/aiff", "png": "image/png",
    "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "bmp": "image/bmp",
}


UNKNOWN = Format("a file of an unknown format", frozenset())
EMPTY = Format("an empty file", frozenset())

# (offset, magic, format): tried in order; the first match wins.
_SIMPLE: tuple[tuple[int, bytes, Format], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", Format("a PNG image", frozenset({IMAGE}), "png")),
    (0, b"\xff\xd8\xff", Format("a JPEG image", frozenset({IMAGE}), "jpg")),
    (0, b"GIF87a", Format("a GIF image", frozenset({IMAGE}), "gif")),
    (0, b"GIF89a", Format("a GIF image", frozenset({IMAGE}), "gif")),
    (0, b"II*\x00", Format("a TIFF image", frozenset({IMAGE}))),
    (0, b"MM\x00*", Format("a TIFF image", frozenset({IMAGE}))),
    (0, b"ID3", Format("an MP3 audio file", frozenset({AUDIO}), "mp3")),
    (0, b"fLaC", Format("a FLAC audio file", frozenset({AUDIO}), "flac")),
    (0, b"#!AMR", Format("an AMR audio file", frozenset({AUDIO}))),
    (0, b".snd", Format("an AU audio file", frozenset({AUDIO}))),
    (0, b"OggS", Format("an Ogg media file", _AV, "ogg")),
    (0, b"FLV\x01", Format("an FLV video", _AV)),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", Format("a Windows Media file", _AV)),
    (0, b"\x00\x00\x01\xba", Format("an MPEG video", _AV)),
    (0, b"%PDF", Format("a PDF document", frozenset())),
    (0, b"PK\x03\x04", Format("a ZIP archive", frozenset())),
)

_RIFF = {
    b"WAVE": Format("a WAV audio file", frozenset({AUDIO}), "wav"),
    b"WEBP": Format("a WebP image", frozenset({IMAGE}), "webp"),
    b"AVI ": Format("an AVI video", _AV, "avi"),
}
_AIFF = {b"AIFF": Format("an AIFF audio file", frozenset({AUDIO}), "aiff"),
         b"AIFC": Format("an AIFF audio file", frozenset({AUDIO}), "aiff")}
_ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_ISO_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"}
# QuickTime files may start with any of these atoms instead of `ftyp`.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}


def _iso_media(head: bytes) -> Format | None:
    box = head[4:8]
    if box == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_AUDIO_BRANDS:
            return Format("an M4A audio file", frozenset({AUDIO}), "m4a")
        if brand in _ISO_IMAGE_BRANDS:
            return Format("an AVIF/HEIF image", frozenset({IMAGE}))
        if brand == b"qt  ":
            return Format("a QuickTime (MOV) video", _AV, "mov")
        return Format("an MP4 video", _AV, "mp4")
    if box in _QT_ATOMS:
        return Format("a QuickTime (MOV) video", _AV, "mov")
    return None


def _mpeg_audio_frame(head: bytes) -> bool:
    # MP3/MP2: 11 sync bits and a layer other than 00; ADTS AAC: 12 sync bits, layer 00.
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    return head[1] & 0x06 != 0 or head[1] & 0xF0 == 0xF0


def _markup_or_text(head: bytes) -> Format | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Format("an HTML page", frozenset())
    if text.startswith((b"<?xml", b"<svg")):
        return Format("an SVG or XML document", frozenset())
    if text.startswith((b"{", b"[")):
        return Format("a JSON document", frozenset())
    sample = head[:512]
    if sample and all(32 <= b < 127 or b in b"\t\r\n" for b in sample):
        return Format("a text file", frozenset())
    return None


def identify(head: bytes) -> Format:
    """The format of a file whose first bytes are `head` (give at least HEAD_BYTES if there are)."""
    if not head:
        return EMPTY
    for offset, magic, fmt in _SIMPLE:
        if head[offset:offset + len(magic)] == magic:
            return fmt
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in _AIFF:
        return _AIFF[head[8:12]]
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: the DocType says WebM or Matroska
        if b"webm" in head[:64]:
            return Format("a WebM file", _AV, "webm")
        return Format("a Matroska (MKV) file", _AV, "mkv")
    iso = _iso_media(head)
    if iso is not None:
        return iso
    if head[:1] == b"\x47" and head[188:189] == b"\x47":  # two 188-byte packets in step
        return Format("an MPEG-TS video", _AV)
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return Format("a BMP image", frozenset({IMAGE}), "bmp")
    if _mpeg_audio_frame(head):
        return Format("an MP3 audio file", frozenset({AUDIO}), "mp3")
    return _markup_or_text(head) or UNKNOWN
