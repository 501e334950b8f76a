"""Pictures whose headers claim more pixels than FFmpeg will allocate are refused by their size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from services.engine.engine_errors import MediaError, MediaTooLarge
from services.engine.media import av_io as media
from services.engine.media.image_header import declared_size


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int) -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def jpeg(width: int, height: int, marker: bytes = b"\xc0", fill: bytes = b"") -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff" + marker + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + fill + sof + b"\xff\xd9"


def test_declared_sizes() -> None:
    assert declared_size(png(30000, 20000)) == (30000, 20000)
    assert declared_size(jpeg(60000, 4)) == (60000, 4)
    assert declared_size(jpeg(3, 5, marker=b"\xc2", fill=b"\xff")) == (3, 5)  # progressive, fill byte
    assert declared_size(b"GIF89a" + struct.pack("<HH", 640, 480)) == (640, 480)
    assert declared_size(b"\xff\xd8\xff\xe0\x00") is None  # cut before any frame header
    assert declared_size(b"RIFF....WAVE") is None


@pytest.mark.parametrize(("data", "size"), [(png(30000, 30000), "30000x30000"),
                                            (jpeg(60000, 60000), "60000x60000")])
def test_a_picture_too_large_to_allocate_is_refused_by_its_size(tmp_path: Path, data: bytes,
                                                                 size: str) -> None:
    path = tmp_path / "huge"
    path.write_bytes(data)
    with pytest.raises(MediaTooLarge, match=f"The image is {size}; the limit is"):
        media.load_image(path)


def test_a_header_without_a_size_is_still_no_picture(tmp_path: Path) -> None:
    path = tmp_path / "sig.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(MediaError, match="Invalid image file"):
        media.load_image(path)
