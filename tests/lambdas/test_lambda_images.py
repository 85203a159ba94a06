"""The standard-library image checks on real CIFAR-100 PNGs and JPEGs."""

from __future__ import annotations

import struct
import zlib

import pytest


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_real_png_is_recognised_with_its_size(common, png: bytes) -> None:
    assert common.images.content_type(png) == "image/png"
    assert common.images.check_png(png) == (32, 32)


def test_real_jpeg_is_recognised(common, jpeg: bytes) -> None:
    assert common.images.content_type(jpeg) == "image/jpeg"


@pytest.mark.parametrize("cut", [8, 20, 33, -12, -1])
def test_png_cut_anywhere_is_truncated(common, png: bytes, cut: int) -> None:
    with pytest.raises(common.errors.UnsupportedImageError, match="truncated PNG"):
        common.images.content_type(png[:cut])


def test_png_with_a_flipped_byte_fails_its_crc(common, png: bytes) -> None:
    corrupt = bytearray(png)
    corrupt[40] ^= 0xFF
    with pytest.raises(common.errors.UnsupportedImageError, match="bad CRC"):
        common.images.content_type(bytes(corrupt))


def test_png_whose_first_chunk_is_not_ihdr_is_rejected(common, png: bytes) -> None:
    forged = png[:8] + chunk(b"tEXt", b"a\x00b") + png[8:]
    with pytest.raises(common.errors.UnsupportedImageError, match="IHDR"):
        common.images.content_type(forged)


def test_png_with_zero_width_is_rejected(
    common,
) -> None:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 32, 8, 2, 0, 0, 0))
    with pytest.raises(common.errors.UnsupportedImageError, match="size 0x32"):
        common.images.content_type(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IEND", b""))


def test_png_one_pixel_high_is_an_image(common) -> None:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 1, 8, 2, 0, 0, 0))
    png = b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IEND", b"")

    assert common.images.check_png(png) == (32, 1)


def test_png_whose_ihdr_is_not_13_bytes_is_rejected(common) -> None:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBB", 32, 32, 8, 2, 0, 0))  # 12 bytes
    with pytest.raises(common.errors.UnsupportedImageError, match="13-byte IHDR"):
        common.images.content_type(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IEND", b""))


def test_png_of_an_unknown_colour_type_is_corrupt(common) -> None:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 5, 0, 0, 0))  # no colour type 5
    with pytest.raises(common.errors.UnsupportedImageError, match="colour type 5 with bit depth 8"):
        common.images.content_type(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IEND", b""))


def test_png_chunk_longer_than_the_file_is_truncated(common, png: bytes) -> None:
    """A length is unsigned (PNG spec 5.3): 0xFFFFFFF4 is 4 GiB, not -12."""
    kind = b"tEXt"
    forged = png[:33] + struct.pack(">I", 0xFFFFFFF4) + kind + struct.pack(">I", zlib.crc32(kind))
    with pytest.raises(common.errors.UnsupportedImageError, match="b'tEXt' runs past the end"):
        common.images.content_type(forged + png[33:])


def test_jpeg_padded_with_nuls_after_its_end_marker_is_whole(common, jpeg: bytes) -> None:
    """Some encoders pad after EOI (check_jpeg's docstring); such a file is not truncated."""
    assert common.images.content_type(jpeg + b"\x00" * 16) == "image/jpeg"


def test_jpeg_without_end_marker_is_truncated(common, jpeg: bytes) -> None:
    with pytest.raises(common.errors.UnsupportedImageError, match="truncated JPEG"):
        common.images.content_type(jpeg[:-2])


# Plain ids: mutmut 3 cannot select a test whose id holds quotes and backslashes (repr).
@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a....", b"bicycle,motorcycle\n", b"\x89PNX\r\n"],
    ids=["empty", "gif", "text", "png-signature-misspelt"],
)
def test_other_bytes_are_not_images(common, data: bytes) -> None:
    with pytest.raises(common.errors.UnsupportedImageError):
        common.images.content_type(data)
