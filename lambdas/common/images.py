"""Checks that bytes are a complete PNG or JPEG, with the standard library only."""

from __future__ import annotations

import struct
import zlib

from common.errors import UnsupportedImageError

PNG = "image/png"
JPEG = "image/jpeg"
CONTENT_TYPES = (PNG, JPEG)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Bit depths allowed for each PNG colour type (PNG spec, table 11.1).
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"


def content_type(data: bytes) -> str:
    """The image's MIME type, after checking it is whole; UnsupportedImageError otherwise."""
    if data.startswith(_PNG_SIGNATURE):
        check_png(data)
        return PNG
    if data.startswith(_JPEG_SOI):
        check_jpeg(data)
        return JPEG
    if not data:
        raise UnsupportedImageError("the object is empty")
    raise UnsupportedImageError("the object is neither a PNG nor a JPEG image")


def check_png(data: bytes) -> tuple[int, int]:
    """Walks every chunk (length, CRC) from IHDR to IEND; returns (width, height)."""
    pos = len(_PNG_SIGNATURE)
    size = None
    while True:
        if pos + 8 > len(data):
            raise UnsupportedImageError("truncated PNG: it ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length + 4
        if end > len(data):
            raise UnsupportedImageError(f"truncated PNG: chunk {kind!r} runs past the end")
        body = data[pos + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise UnsupportedImageError(f"corrupt PNG: bad CRC in chunk {kind!r}")
        if size is None:
            size = _parse_ihdr(kind, body)
        if kind == b"IEND":
            return size
        pos = end


def _parse_ihdr(kind: bytes, body: bytes) -> tuple[int, int]:
    if kind != b"IHDR" or len(body) != 13:
        raise UnsupportedImageError("corrupt PNG: the first chunk is not a 13-byte IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    if width == 0 or height == 0:
        raise UnsupportedImageError(f"corrupt PNG: size {width}x{height}")
    if depth not in _PNG_DEPTHS.get(colour, ()):
        raise UnsupportedImageError(f"corrupt PNG: colour type {colour} with bit depth {depth}")
    return width, height


def check_jpeg(data: bytes) -> None:
    """Start and end markers; some encoders pad after EOI, so trailing NULs are allowed."""
    if len(data) < 4 or not data.rstrip(b"\x00").endswith(_JPEG_EOI):
        raise UnsupportedImageError("truncated JPEG: no end-of-image marker")
