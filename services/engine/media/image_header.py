"""The picture size an image file declares in its header, read without decoding anything.

FFmpeg reports no size at all for a picture it will not allocate (over about 268 megapixels),
so a PNG claiming 30000x30000 would otherwise read as "no picture". This reads the size the file
claims, so the refusal can say what is wrong with it. PNG, JPEG and GIF: what portraits come as.
"""

from __future__ import annotations

import struct

HEAD_BYTES = 1 << 16  # JPEG's frame header follows its metadata segments; 64 KiB covers the usual

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): not C4, C8, CC.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def declared_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) as the header of the file starting with `head` declares it, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return width, height
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", head[at + 5:at + 9])
            return width, height
        (length,) = struct.unpack(">H", head[at + 2:at + 4])
        at += 2 + length
    return None
