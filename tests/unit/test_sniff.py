"""Formats by their first bytes, and which kinds of input each can serve."""

from __future__ import annotations

import pytest

from services.net.sniff import identify

RIFF = b"RIFF\x00\x00\x00\x00"


@pytest.mark.parametrize(("head", "label", "kinds"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(8), "a PNG image", {"image"}),
    (b"\xff\xd8\xff\xe0" + bytes(8), "a JPEG image", {"image"}),
    (RIFF + b"WEBPVP8 ", "a WebP image", {"image"}),
    (b"GIF89a" + bytes(8), "a GIF image", {"image"}),
    (b"BM" + bytes(12) + (40).to_bytes(4, "little"), "a BMP image", {"image"}),
    (RIFF + b"WAVEfmt ", "a WAV audio file", {"audio"}),
    (b"ID3\x04" + bytes(8), "an MP3 audio file", {"audio"}),
    (b"\xff\xfb\x90\x64" + bytes(8), "an MP3 audio file", {"audio"}),
    (b"\xff\xf1\x50\x80" + bytes(8), "an MP3 audio file", {"audio"}),  # ADTS AAC
    (b"fLaC" + bytes(8), "a FLAC audio file", {"audio"}),
    (b"OggS" + bytes(8), "an Ogg media file", {"audio", "video"}),
    (b"\x00\x00\x00\x20ftypM4A " + bytes(8), "an M4A audio file", {"audio"}),
    (b"\x00\x00\x00\x20ftypisom" + bytes(8), "an MP4 video", {"audio", "video"}),
    (b"\x00\x00\x00\x14ftypqt  " + bytes(8), "a QuickTime (MOV) video", {"audio", "video"}),
    (b"\x00\x00\x00\x08wide" + bytes(8), "a QuickTime (MOV) video", {"audio", "video"}),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm", "a WebM file", {"audio", "video"}),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", "a Matroska (MKV) file", {"audio", "video"}),
    (RIFF + b"AVI LIST", "an AVI video", {"audio", "video"}),
    (b"<!DOCTYPE html><html>", "an HTML page", set()),
    (b"%PDF-1.7", "a PDF document", set()),
    (b"Not found", "a text file", set()),
    (b"", "an empty file", set()),
    (bytes(range(7, 40)), "a file of an unknown format", set()),
    (b"G" + bytes(300), "a file of an unknown format", set()),  # one TS sync byte is not enough
])
def test_identify(head: bytes, label: str, kinds: set[str]) -> None:
    found = identify(head)
    assert (found.label, set(found.kinds)) == (label, kinds)


def test_every_stored_extension_has_a_media_type_and_others_are_bin() -> None:
    from proxy.upload_types import media_type, upload_extension
    from services.net.sniff import MEDIA_TYPES

    assert upload_extension(b"\x89PNG\r\n\x1a\n" + bytes(64)) == "png"
    assert media_type("uploads/x.png") == "image/png"
    assert upload_extension(b"%PDF-1.7 " + bytes(64)) == "bin"
    assert media_type("uploads/x.bin") == "application/octet-stream"
    assert all("/" in kind for kind in MEDIA_TYPES.values())
