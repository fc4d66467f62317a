"""Every hostile upload shape, built in code (no binary fixtures): tiny files claiming huge or
thin images, decompression bombs, broken EXIF, odd modes and formats outside the allowlist.

``hostile_uploads()`` returns them with the answers the API may give: 400 for what must be
refused, 200 for what must work, either where refusing or accepting is the store's choice.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw

REFUSED = frozenset({400})
ACCEPTED = frozenset({200})
EITHER = frozenset({200, 400})  # usable unrotated, or refused: never a 500
TOO_LARGE = frozenset({413})


@dataclass(eq=False)
class HostileUpload:
    name: str
    build: Callable[[], bytes]  # called once, when a test first needs the bytes (collection stays fast)
    answers: frozenset[int]  # HTTP statuses search/image/ and shop-the-look/ may answer

    @cached_property
    def data(self) -> bytes:
        return self.build()

    def __repr__(self) -> str:  # keeps megabytes of bytes out of pytest's reports
        return f"HostileUpload({self.name!r})"


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims ``width`` x ``height`` RGB pixels over almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def png_with_chunk(kind: bytes, data: bytes, size: tuple[int, int] = (64, 48)) -> bytes:
    """A plain PNG with one more ancillary chunk right after IHDR (where Pillow reads it first)."""
    plain = encode(Image.new("RGB", size, (180, 40, 40)))
    after_ihdr = 8 + 25  # signature, then IHDR's length, type, 13 bytes and CRC
    return plain[:after_ihdr] + png_chunk(kind, data) + plain[after_ihdr:]


def raw_exif_profile(body: str) -> bytes:
    """A tEXt chunk as ImageMagick writes EXIF into PNGs: "Raw profile type exif", hex after 3 lines."""
    return png_with_chunk(b"tEXt", b"Raw profile type exif\x00" + body.encode("latin-1"))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (10, 120, 200)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def noisy(size: tuple[int, int], seed: int = 0) -> Image.Image:
    width, height = size
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def gif_frames(count: int, side: int = 64) -> bytes:
    """An animated GIF of ``count`` distinct frames (Pillow merges identical ones when saving)."""
    frames = []
    for n in range(count):
        frame = Image.new("L", (side, side), 0)
        x, y = n % (side - 4), n // (side - 4) % (side - 4)
        ImageDraw.Draw(frame).rectangle((x, y, x + 3, y + 3), fill=255)
        frames.append(frame)
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10, loop=0)


def psd_rgb(width: int = 32, height: int = 32) -> bytes:
    """A minimal uncompressed Photoshop file (Pillow reads PSD; nothing should accept it)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: all empty
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


BILLION_LAUGHS_SVG = b"""<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e SYSTEM "file:///etc/passwd">
]>
<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><text>&d;&e;</text></svg>
"""

GARBAGE_EXIF = b"garbage, not a TIFF header" * 3
BAD_OFFSET_EXIF = b"MM\x00\x2a\x7f\xff\xff\xff" + bytes(8)  # first IFD 2 GB past the end
# One IFD whose only entry (the EXIF sub-IFD pointer, 0x8769) points back at itself.
LOOPING_EXIF = b"II\x2a\x00" + struct.pack("<IHHHII", 8, 1, 0x8769, 4, 1, 8) + bytes(4)

EPS_HEADER = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\nshowpage\n%%EOF\n"


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def palette_with_transparency() -> Image.Image:
    image = Image.new("P", (64, 64), 3)
    image.info["transparency"] = 3
    return image


def plain(fmt: str) -> bytes:
    return encode(Image.new("RGB", (64, 64), (1, 2, 3)), fmt)


def hostile_uploads(upload_limit: int) -> list[HostileUpload]:
    """Every hostile upload shape; ``upload_limit`` is SHOP_CLIP["MAX_UPLOAD_BYTES"] (one goes over it)."""
    cases = [
        # Thin images: a handful of bytes, and a side too short or a shape too long to be a product photo.
        HostileUpload("png_20000x1_tiny_file", lambda: encode(Image.new("RGB", (20_000, 1))), REFUSED),
        HostileUpload("png_100000x1", lambda: encode(Image.new("RGB", (100_000, 1))), REFUSED),
        HostileUpload("png_1000000x1", lambda: encode(Image.new("RGB", (1_000_000, 1))), REFUSED),
        HostileUpload("png_1x20000", lambda: encode(Image.new("RGB", (1, 20_000))), REFUSED),
        HostileUpload("png_1x1", lambda: encode(Image.new("RGB", (1, 1), (255, 0, 0))), REFUSED),
        # Decompression bombs: headers claiming far more pixels than the bytes could hold.
        HostileUpload("png_header_100000x100000", lambda: png_header_only(100_000, 100_000), REFUSED),
        HostileUpload("jpeg_header_65000x65000", lambda: jpeg_claiming(65_000, 65_000), REFUSED),
        HostileUpload("png_6000x6000_under_the_pixel_limit", lambda: encode(Image.new("RGB", (6000, 6000))),
                      ACCEPTED),
        HostileUpload("gif_1000_frames", lambda: gif_frames(1000), EITHER),
        HostileUpload("svg_with_entities", lambda: BILLION_LAUGHS_SVG, REFUSED),
        # Broken files.
        HostileUpload("truncated_png", lambda: first_half(encode(noisy((300, 300), seed=1))), REFUSED),
        HostileUpload("truncated_jpeg", lambda: first_half(encode(noisy((300, 300), seed=2), "JPEG")), REFUSED),
        HostileUpload("empty_file", lambda: b"", REFUSED),
        HostileUpload("random_bytes", lambda: np.random.default_rng(3).bytes(4096), REFUSED),
        HostileUpload("png_signature_then_garbage", lambda: b"\x89PNG\r\n\x1a\n" + b"garbage" * 40, REFUSED),
        # Malformed EXIF: the image is used unrotated, or refused.
        HostileUpload("png_exif_chunk_garbage", lambda: png_with_chunk(b"eXIf", GARBAGE_EXIF), EITHER),
        HostileUpload("png_exif_chunk_bad_offset", lambda: png_with_chunk(b"eXIf", BAD_OFFSET_EXIF), EITHER),
        HostileUpload("png_exif_chunk_looping_ifd", lambda: png_with_chunk(b"eXIf", LOOPING_EXIF), EITHER),
        HostileUpload("png_raw_exif_profile_bad_hex", lambda: raw_exif_profile("\nexif\n  20\nzz-not-hex\n"), EITHER),
        HostileUpload("png_raw_exif_profile_odd_hex", lambda: raw_exif_profile("\nexif\n  20\n457869660\n"), EITHER),
        HostileUpload("png_raw_exif_profile_short", lambda: raw_exif_profile("\nexif\n"), EITHER),
        HostileUpload("png_raw_exif_profile_truncated_tiff", lambda: raw_exif_profile("\nexif\n 8\n4d4d002a\n"),
                      EITHER),
        HostileUpload("webp_exif_garbage", lambda: encode(Image.new("RGB", (64, 48), (20, 160, 60)), "WEBP",
                                                          exif=GARBAGE_EXIF), EITHER),
        HostileUpload("jpeg_exif_bad_offset", lambda: encode(Image.new("RGB", (64, 48), (20, 60, 160)), "JPEG",
                                                             exif=b"Exif\x00\x00" + BAD_OFFSET_EXIF), EITHER),
        # Odd modes of allowed formats: converted to RGB.
        HostileUpload("jpeg_cmyk", lambda: encode(Image.new("CMYK", (64, 64), (0, 200, 200, 0)), "JPEG"), ACCEPTED),
        HostileUpload("png_i16", lambda: encode(Image.new("I;16", (64, 64), 40_000)), ACCEPTED),
        HostileUpload("png_1bit", lambda: encode(Image.new("1", (64, 64), 1)), ACCEPTED),
        HostileUpload("png_palette_transparency", lambda: encode(palette_with_transparency(), transparency=3),
                      ACCEPTED),
        HostileUpload("png_la", lambda: encode(Image.new("LA", (64, 64), (90, 128))), ACCEPTED),
        # Other formats: the allowlist decides (TIFF and BMP), or nothing should take them.
        HostileUpload("tiff", lambda: plain("TIFF"), EITHER),
        HostileUpload("bmp", lambda: plain("BMP"), EITHER),
        HostileUpload("ico", lambda: plain("ICO"), REFUSED),
        HostileUpload("psd", psd_rgb, REFUSED),
        HostileUpload("eps", lambda: EPS_HEADER, REFUSED),
        HostileUpload("pcx", lambda: plain("PCX"), REFUSED),
        HostileUpload("tga", lambda: plain("TGA"), REFUSED),
        # More bytes than the upload limit: refused by its length, before it is read.
        HostileUpload("over_the_upload_limit", lambda: png_header_only(64, 64) + bytes(upload_limit + 64 * 1024),
                      TOO_LARGE),
    ]
    assert len({case.name for case in cases}) == len(cases)
    return cases
