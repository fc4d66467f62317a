"""Every image enters through images.load_image: each bad input gets a clear ImageRejected."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from shop_clip.images import DECODE_TARGET, ImageRejected, load_image, read_limited


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
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match="decompression bomb"):
        load_image(png_header_only(60_000, 60_000))


def test_pixel_limit_is_a_setting(settings):
    settings.SHOP_CLIP = {"MAX_IMAGE_PIXELS": 100 * 100}
    with pytest.raises(ImageRejected, match="pixels"):
        load_image(encode(Image.new("RGB", (101, 100))))


def test_byte_limit(settings):
    settings.SHOP_CLIP = {"MAX_IMAGE_BYTES": 1024}
    with pytest.raises(ImageRejected, match="larger than"):
        read_limited(io.BytesIO(b"x" * 2048))
    with pytest.raises(ImageRejected, match="larger than"):
        load_image(b"x" * 2048)


def test_unsupported_format():
    with pytest.raises(ImageRejected, match="not supported"):
        load_image(encode(Image.new("RGB", (20, 20)), "ICO"))
