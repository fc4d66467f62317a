"""Every image enters through images.load_image: each bad input gets a clear ImageRejected."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from shop_clip.images import DECODE_TARGET, ImageRejected, byte_size, load_image, read_limited


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions: a decompression bomb's signature."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_valid_image_becomes_rgb_and_small():
    image = load_image(encode(Image.new("RGB", (2000, 1000), (10, 200, 30)), "JPEG"))
    assert image.mode == "RGB"
    assert image.size == (2 * DECODE_TARGET, DECODE_TARGET)  # shortest side shrunk, shape kept
    assert image.getpixel((5, 5))[1] > 150


def test_decoding_stops_at_twice_the_models_input_size():
    from shop_clip.images import decode_size

    wide = encode(Image.new("RGB", (900, 300), (200, 10, 10)), "JPEG")
    assert load_image(wide, target=decode_size(32)).size == (192, 64)  # a 32 px model
    assert load_image(wide, target=decode_size(224)).size == (900, 300)  # already small enough
    assert decode_size(None) == DECODE_TARGET
    # The pipeline's one resize: decoded at no less than twice, resized straight to the model's side.
    assert load_image(wide, target=decode_size(32), resize_to=32).size == (96, 32)
    assert load_image(encode(Image.new("RGB", (301, 700)), "JPEG"), target=448, resize_to=224).size == (224, 520)


def test_encoder_reports_the_side_its_image_tower_sees():
    from shop_clip.encoders.sentence_transformers import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder("shop-clip-mini", device="cpu")
    assert encoder.image_size == 32 and encoder.resize_side == 32  # crop 32, shortest edge 32


def test_transparency_is_flattened_on_white():
    image = load_image(encode(Image.new("RGBA", (50, 50), (255, 0, 0, 0))))
    assert image.mode == "RGB" and image.getpixel((10, 10)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    original = Image.new("RGB", (120, 60), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    image = load_image(encode(original, "JPEG", exif=exif.tobytes()))
    assert image.size == (60, 120)


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
])
def test_garbage_is_rejected(data, fragment):
    with pytest.raises(ImageRejected, match=fragment):
        load_image(data) if data else read_limited(io.BytesIO(data))


def test_truncated_file_is_rejected():
    data = encode(Image.effect_noise((300, 300), 50).convert("RGB"), "PNG")
    with pytest.raises(ImageRejected, match="corrupt or truncated; save it again") as refused:
        load_image(data[: len(data) // 2])
    # Pillow's words ("image file is truncated") are for staff, not in the shopper's message.
    assert "file is truncated" not in str(refused.value) and "truncated" in refused.value.detail
    assert refused.value.for_staff().endswith(f"({refused.value.detail})")


def test_decompression_bomb_is_refused_before_decoding():
    refused = "more pixels than can be read; resize it|more than the .* allowed; resize it"
    with pytest.raises(ImageRejected, match=refused):
        load_image(png_header_only(60_000, 60_000))


def test_pixel_limit_is_a_setting(settings):
    settings.SHOP_CLIP = {"MAX_IMAGE_PIXELS": 100 * 100}
    with pytest.raises(ImageRejected, match="pixels"):
        load_image(encode(Image.new("RGB", (101, 100))))


def test_byte_limit(settings):
    settings.SHOP_CLIP = {"MAX_IMAGE_BYTES": 1024}
    with pytest.raises(ImageRejected, match="larger than 1 KB"):
        read_limited(io.BytesIO(b"x" * 2048))
    with pytest.raises(ImageRejected, match="larger than 1 KB"):
        load_image(b"x" * 2048)


def test_every_message_writes_a_size_the_same_way():
    assert [byte_size(size) for size in (512, 1024, 10_000, 100_000, 10 * 2**20, 3 * 2**19, None)] == [
        "512 bytes", "1 KB", "9.77 KB", "97.7 KB", "10 MB", "1.5 MB", "any size"]


def test_unsupported_format():
    with pytest.raises(ImageRejected, match="not supported"):
        load_image(encode(Image.new("RGB", (20, 20)), "ICO"))


def test_thin_strips_and_tiny_images_are_refused_from_the_header():
    with pytest.raises(ImageRejected, match="at least 16 px"):
        load_image(encode(Image.new("RGB", (1, 1))))
    for size in ((20000, 1), (1, 20000), (2000, 100)):  # each under the pixel cap, each a strip
        with pytest.raises(ImageRejected, match="in shape|at least"):
            load_image(png_header_only(*size))


def test_formats_outside_the_allowlist_reach_no_parser(settings):
    tiff = encode(Image.new("RGB", (40, 40)), "TIFF")
    with pytest.raises(ImageRejected, match="not supported"):
        load_image(tiff)
    settings.SHOP_CLIP = {"IMAGE_FORMATS": ("PNG",)}
    with pytest.raises(ImageRejected, match="use PNG"):
        load_image(encode(Image.new("RGB", (40, 40)), "JPEG"))
    settings.SHOP_CLIP = {"IMAGE_FORMATS": ("PNG", "TIFF")}
    assert load_image(tiff).size == (40, 40)


def png_with_chunk(image: Image.Image, kind: bytes, data: bytes) -> bytes:
    """``image`` as PNG with one more chunk before IEND (where a writer puts late metadata)."""
    body = encode(image)
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return body[:-12] + chunk + body[-12:]


@pytest.mark.parametrize("kind, data", [
    (b"eXIf", b"\x00garbage that is no TIFF header"),
    (b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\xff\xff"),  # an IFD claiming 65535 entries
    (b"tEXt", b"Raw profile type exif\x00\nexif\n      20\nzz-not-hex-zz\n"),
    (b"tEXt", b"Raw profile type exif\x00\nexif\n    9999\n45786966\n"),  # shorter than it says
])
def test_malformed_exif_leaves_the_image_as_stored(kind, data):
    image = load_image(png_with_chunk(Image.new("RGB", (60, 30), (0, 0, 255)), kind, data))
    assert image.size == (60, 30) and image.getpixel((3, 3)) == (0, 0, 255)


def test_sixteen_bit_grey_is_decoded_at_any_size():
    image = load_image(encode(Image.new("I;16", (2000, 1000), 300)))
    assert image.mode == "RGB" and image.size == (2 * DECODE_TARGET, DECODE_TARGET)


MEMORY_PROBE = """
import io, os, resource, sys
import django
from django.conf import settings
settings.configure(SHOP_CLIP={"MAX_IMAGE_PIXELS": %(pixels)d})
django.setup()
from shop_clip.images import load_image
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    pid = os.fork()
    if pid == 0:  # peak RSS is per process: one child per image
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load_image(data, target=%(side)d)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, flush=True)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
"""


def test_peak_memory_of_the_worst_accepted_shapes_stays_under_the_stated_bound(tmp_path, settings):
    """The largest images the limits let through, in the costliest modes: every one decodes, and
    none grows the process by more than ``decode_memory_bound``."""
    import math
    import subprocess
    import sys

    from shop_clip.images import decode_memory_bound

    pixels, side = 4_000_000, DECODE_TARGET
    settings.SHOP_CLIP = {"MAX_IMAGE_PIXELS": pixels}
    square = math.isqrt(pixels)
    strip = (math.isqrt(pixels * 10) - 10, math.isqrt(pixels * 10) // 10)  # just inside 10:1 and the cap
    exif = Image.Exif()
    exif[0x0112] = 6
    shapes = {
        "square RGBA": encode(Image.new("RGBA", (square, square), (1, 2, 3, 4)), compress_level=1),
        "strip RGBA": encode(Image.new("RGBA", strip, (1, 2, 3, 4)), compress_level=1),
        "tall strip RGB, rotated": encode(Image.new("RGB", strip[::-1], (9, 9, 9)), compress_level=1,
                                          exif=exif.tobytes()),
        "16-bit grey": encode(Image.new("I;16", (square, square), 500), compress_level=1),
        "CMYK JPEG": encode(Image.new("CMYK", (square, square)), "JPEG"),
    }
    paths = []
    for data in shapes.values():
        load_image(data)  # accepted, not refused
        paths.append(tmp_path / f"{len(paths)}.img")
        paths[-1].write_bytes(data)
    probe = MEMORY_PROBE % {"pixels": pixels, "side": side}
    out = subprocess.run([sys.executable, "-c", probe, *map(str, paths)], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    bound = decode_memory_bound(side)
    grown = dict(zip(shapes, map(int, out), strict=True))
    assert all(value <= bound for value in grown.values()), (grown, bound)
    assert max(grown.values()) > bound / 4  # the probe measures the decode, not nothing


def test_refusals_speak_to_a_shopper_not_in_pillows_words():
    with pytest.raises(ImageRejected) as refused:
        load_image(b"%PDF-1.4 not an image at all" * 10)
    assert "JPEG" in str(refused.value) and "MPO" not in str(refused.value)
    with pytest.raises(ImageRejected) as refused:
        load_image(png_header_only(60_000, 60_000))
    assert "resize it" in str(refused.value) and "attack" not in str(refused.value)


def test_a_16_bit_grey_photo_keeps_its_levels():
    """Pillow's own conversion clipped every 16-bit level over 255: the photo came out white."""
    import numpy as np

    levels = np.tile(np.linspace(0, 65535, 300), (300, 1)).astype(np.uint16)
    decoded = np.asarray(load_image(encode(Image.fromarray(levels), "PNG")), dtype=np.float64)
    eight_bit = np.asarray(load_image(encode(Image.fromarray((levels // 257).astype(np.uint8)), "PNG")),
                           dtype=np.float64)
    assert decoded.shape == eight_bit.shape and abs(decoded.mean() - 127.5) < 3
    assert np.abs(decoded - eight_bit).max() <= 2


def test_the_pixel_limit_counts_what_is_decoded_so_a_big_phone_jpeg_is_taken(settings):
    """A 48 MP phone photo was refused by the 40 MP limit, though JPEG decodes it at a quarter."""
    settings.SHOP_CLIP = {"MAX_IMAGE_PIXELS": 1_000_000}
    photo = Image.effect_noise((2000, 1500), 40).convert("RGB")
    taken = load_image(encode(photo, "JPEG", quality=80))  # decoded at 1/2: 1000 x 750
    assert min(taken.size) == DECODE_TARGET
    with pytest.raises(ImageRejected, match="image is 2000x1500 pixels, more than the 1,000,000 allowed"):
        load_image(encode(photo, "PNG"))  # no reduced decode: all 3 MP
    with pytest.raises(ImageRejected, match="image is 8000x6000 pixels"):  # kept at 4000 px: decoded whole
        load_image(encode(Image.new("RGB", (8000, 6000)), "JPEG"), target=4000)
