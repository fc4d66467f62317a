"""The one door through which every image enters shop-clip.

Product images read by the workers, photos uploaded by shoppers and scene photos all pass
``load_image``: byte and pixel limits (decompression bombs are refused before any pixel is
decoded), the smallest side and the aspect ratio (a thin strip would be scaled up into a huge
image by any resize to the model's side), a format allowlist applied before any parser runs,
truncated or non-image data, EXIF orientation (a malformed EXIF block leaves the image as
stored), and conversion to RGB.  Every refusal is an ``ImageRejected`` with a message a person
can act on.  The memory an accepted image can cost is ``decode_memory_bound()``.
"""

from __future__ import annotations

import io
import logging
import struct
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .conf import shop_clip_settings

logger = logging.getLogger("shop_clip.images")

# The shortest side kept when the model's input size is unknown: twice CLIP ViT-B/32's 224 px.
DECODE_TARGET = 448
# Pillow's parsers that may read an allowed format: MPO is how Pillow opens some JPEGs.
_PARSERS = {"JPEG": ("JPEG",), "MPO": ("JPEG",), "PNG": ("PNG",), "WEBP": ("WEBP",), "GIF": ("GIF",),
            "BMP": ("BMP",), "TIFF": ("TIFF",)}
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
# Pillow keeps up to 4 bytes a pixel for the modes the allowlist decodes to (RGBA, CMYK, I, F).
_BYTES_PER_PIXEL = 4


class ImageRejected(ValueError):
    """The image cannot be used; ``str(exc)`` says why and what to do, in a shopper's words, and
    ``detail`` (staff only: the failed rows keep it) the decoder's own."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail

    def for_staff(self) -> str:
        return f"{self} ({self.detail})" if self.detail else str(self)


def read_limited(stream: IO[bytes], max_bytes: int | None = None) -> bytes:
    """Read at most ``max_bytes`` from a stream, refusing anything larger."""
    limit = max_bytes or shop_clip_settings.MAX_IMAGE_BYTES
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageRejected(f"image is larger than {byte_size(limit)}; upload a smaller file")
    if not data:
        raise ImageRejected("image file is empty")
    return data


def decode_size(model_input: int | None) -> int:
    """The shortest side worth decoding for a model that sees ``model_input`` px: twice that,
    so the model's own resize still has pixels to average."""
    return 2 * int(model_input) if model_input else DECODE_TARGET


def decode_memory_bound(side: int = DECODE_TARGET, max_pixels: int | None = None) -> int:
    """Bytes one ``load_image`` call that keeps ``side`` px can hold at its peak, from the settings:
    the decoded pixels and one working copy of them (a transparent image is premultiplied before
    it is resized), then the resized image and its copies, whose long side the aspect ratio caps
    (docs/decisions/image-limits.md)."""
    decoded = (max_pixels or shop_clip_settings.MAX_IMAGE_PIXELS) * _BYTES_PER_PIXEL
    resized = side * side * shop_clip_settings.MAX_ASPECT_RATIO * _BYTES_PER_PIXEL
    return 2 * decoded + 4 * resized


def allowed_parsers() -> tuple[str, ...]:
    """Pillow's format plugins allowed to parse uploaded bytes (``SHOP_CLIP["IMAGE_FORMATS"]``)."""
    parsers: list[str] = []
    for name in shop_clip_settings.IMAGE_FORMATS:
        parsers += [p for p in _PARSERS.get(name.upper(), (name.upper(),)) if p not in parsers]
    return tuple(parsers)


def load_image(data: bytes, *, max_pixels: int | None = None, target: int = DECODE_TARGET,
               resize_to: int | None = None) -> Image.Image:
    """Decode image bytes into an upright RGB ``PIL.Image`` whose shortest side is at most
    ``resize_to`` (default ``target``).

    Larger images are decoded at a reduced scale where the format allows (JPEG: 1/2, 1/4, 1/8),
    still at least ``target`` on both sides, and then shrunk: the encoders resize to their input
    size anyway, and decoding and resizing a big photo costs more than the small model's forward
    pass.  The pipeline passes the model's resize side as ``resize_to``, so one resize goes from the
    decoded pixels to what the model's preprocessing wants (``shortest_edge_size``).
    """
    if len(data) > shop_clip_settings.MAX_IMAGE_BYTES:
        raise ImageRejected(f"image is larger than {byte_size(shop_clip_settings.MAX_IMAGE_BYTES)}")
    max_pixels = max_pixels or shop_clip_settings.MAX_IMAGE_PIXELS
    try:
        image = Image.open(io.BytesIO(data), formats=allowed_parsers())
        stored = image.size
        # JPEG can decode at 1/2, 1/4, 1/8 scale, still at least ``target`` on both sides; the
        # pixel limit is on what is decoded, so a 48 MP phone photo (decoded at 1/4) is taken.
        image.draft("RGB", (target, target))
        _check_shape(image, max_pixels, stored)
        image.load()
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own words ("decompression bomb DOS attack") alarm a shopper with a large photo.
        raise ImageRejected("image has more pixels than can be read; resize it") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"file is not an image, or its format is not supported; use {_format_names()}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageRejected("image is corrupt or truncated; save it again, or choose another photo",
                            detail=str(exc) or type(exc).__name__) from exc
    return _upright_rgb(image, resize_to or target)


def decoded_photo(image: Image.Image, target: int = DECODE_TARGET) -> Image.Image:
    """A photo the caller decoded (the Python API takes them) as ``load_image`` leaves one: its
    shape within the limits, upright, RGB, its shortest side at most ``target``."""
    _check_size(image, shop_clip_settings.MAX_IMAGE_PIXELS)
    return _upright_rgb(image, target)


def _upright_rgb(image: Image.Image, side: int) -> Image.Image:
    orientation = _orientation(image)
    try:
        if image.mode.startswith("I") or image.mode == "F":
            image = to_eight_bit_grey(image)
        if min(image.size) > side:
            image = image.resize(shortest_edge_size(image.size, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
        if orientation in _ORIENTATION:  # after the resize: the same size either way, on fewer pixels
            image = image.transpose(_ORIENTATION[orientation])
        return to_rgb(image)
    except (OSError, ValueError) as exc:  # a mode Pillow decodes but cannot convert
        raise ImageRejected(f"image could not be converted to colour; save it as {_format_names()} and try again",
                            detail=str(exc) or type(exc).__name__) from exc


def _check_shape(image: Image.Image, max_pixels: int, stored: tuple[int, int] | None = None) -> None:
    """Refuse, from the header alone, what would cost too much or could never be used."""
    if image.format not in shop_clip_settings.IMAGE_FORMATS:
        raise ImageRejected(f"image format {image.format} is not supported; use {_format_names()}")
    _check_size(image, max_pixels, stored)


def _check_size(image: Image.Image, max_pixels: int, stored: tuple[int, int] | None = None) -> None:
    """``image.size`` is what will be decoded (the pixel limit's); ``stored`` the photo's own size
    (the side and shape limits', and what a refusal names)."""
    decoded_width, decoded_height = image.size
    width, height = stored or image.size
    if decoded_width * decoded_height > max_pixels:
        raise ImageRejected(f"image is {width}x{height} pixels, more than the {max_pixels:,} allowed; resize it")
    smallest = shop_clip_settings.MIN_IMAGE_SIDE
    if min(width, height) < smallest:
        raise ImageRejected(f"image is {width}x{height} pixels; each side must be at least {smallest} px")
    widest = shop_clip_settings.MAX_ASPECT_RATIO
    if max(width, height) > widest * min(width, height):
        raise ImageRejected(f"image is {width}x{height} pixels, more than {widest}:1 in shape; crop it")


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, or 1 (as stored) when the EXIF block cannot be read."""
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception as exc:  # noqa: BLE001 - any parser error in a metadata block leaves the image as stored
        logger.debug("EXIF ignored: %s", exc)
        return 1


def _format_names() -> str:
    """The allowed formats as a shopper knows them: MPO is Pillow's name for some JPEGs."""
    return ", ".join(name for name in shop_clip_settings.IMAGE_FORMATS if name != "MPO")


def byte_size(size: int | None) -> str:
    """A size for a message: "10 MB", "97.7 KB", "512 bytes" (binary units, three figures)."""
    if size is None:
        return "any size"
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:,} bytes"


def shortest_edge_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so its shortest side is ``side``, the long side truncated as transformers'
    image processors do (``get_resize_output_image_size``): an image already this size is one
    they leave as it is."""
    width, height = size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(side * long / short)
    return (side, new_long) if width <= height else (new_long, side)


def to_eight_bit_grey(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit) grey image as 8-bit grey, its levels scaled: Pillow's own conversion
    clips every value over 255, which turns a 16-bit photo white."""
    levels = np.asarray(image)
    grey = np.empty(levels.shape, dtype=np.uint8)
    if image.mode.startswith("I;16"):  # the high byte, written straight into the 8-bit copy
        np.right_shift(levels, 8, out=grey, casting="unsafe")
    else:
        scale = 257.0 if levels.max(initial=0) > 255 else 1.0
        np.clip(levels / scale, 0, 255, out=grey, casting="unsafe")
    return Image.fromarray(grey, mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image`` (itself if already RGB), with any transparency laid on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
