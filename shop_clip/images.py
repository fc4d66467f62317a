"""The one door through which every image enters shop-clip.

Product images read by the workers and photos uploaded by shoppers both pass ``load_image``:
byte and pixel limits (decompression bombs are refused before any pixel is decoded), truncated
or non-image data, EXIF orientation, and conversion to RGB.  Every refusal is an
``ImageRejected`` with a message a person can act on.
"""

from __future__ import annotations

import io
import warnings
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from .conf import shop_clip_settings

# The shortest side kept when the model's input size is unknown: twice CLIP ViT-B/32's 224 px.
DECODE_TARGET = 448
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}


class ImageRejected(ValueError):
    """The image cannot be used; ``str(exc)`` says why and what to do."""


def read_limited(stream: IO[bytes], max_bytes: int | None = None) -> bytes:
    """Read at most ``max_bytes`` from a stream, refusing anything larger."""
    limit = max_bytes or shop_clip_settings.MAX_IMAGE_BYTES
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageRejected(f"image is larger than {limit // (1024 * 1024)} MB; upload a smaller file")
    if not data:
        raise ImageRejected("image file is empty")
    return data


def decode_size(model_input: int | None) -> int:
    """The shortest side worth decoding for a model that sees ``model_input`` px: twice that,
    so the model's own resize still has pixels to average."""
    return 2 * int(model_input) if model_input else DECODE_TARGET


def load_image(data: bytes, *, max_pixels: int | None = None, target: int = DECODE_TARGET,
               resize_to: int | None = None) -> Image.Image:
    """Decode image bytes into an RGB ``PIL.Image`` whose shortest side is at most ``resize_to``
    (default ``target``).

    Larger images are decoded at a reduced scale where the format allows (JPEG: 1/2, 1/4, 1/8),
    still at least ``target`` on both sides, and then shrunk: the encoders resize to their input
    size anyway, and decoding and resizing a big photo costs more than the small model's forward
    pass.  The pipeline passes the model's resize side as ``resize_to``, so one resize goes from the
    decoded pixels to what the model's preprocessing wants (``shortest_edge_size``).
    """
    if len(data) > shop_clip_settings.MAX_IMAGE_BYTES:
        raise ImageRejected(
            f"image is larger than {shop_clip_settings.MAX_IMAGE_BYTES // (1024 * 1024)} MB"
        )
    max_pixels = max_pixels or shop_clip_settings.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"image is {width}x{height} pixels, more than the {max_pixels:,} allowed "
                    "(possible decompression bomb); resize it"
                )
            if image.format not in ALLOWED_FORMATS:
                raise ImageRejected(f"image format {image.format} is not supported; use JPEG, PNG or WebP")
            # JPEG can decode at 1/2, 1/4, 1/8 scale, still at least ``target`` on both sides.
            image.draft("RGB", (target, target))
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image refused as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("file is not an image (or not a format Pillow can read)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"image is corrupt or truncated: {exc}") from exc
    ImageOps.exif_transpose(image, in_place=True)  # a copy per image otherwise, rotated or not
    side = resize_to or target
    if min(image.size) > side:
        image = image.resize(shortest_edge_size(image.size, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return to_rgb(image)


def shortest_edge_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so its shortest side is ``side``, the long side truncated as transformers'
    image processors do (``get_resize_output_image_size``): an image already this size is one
    they leave as it is."""
    width, height = size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(side * long / short)
    return (side, new_long) if width <= height else (new_long, side)


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
