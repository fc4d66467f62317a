"""Render a product photo from its attributes: silhouette, colour, pattern, studio variation.

Every random choice (size, position, tilt, lighting, backdrop, grain, colour jitter) comes
from the caller's ``numpy`` generator, so one seed gives identical pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from .frame import Frame
from .patterns import draw_pattern, mix
from .silhouettes import SILHOUETTES, draw_shape
from .vocabulary import COLOUR_BY_NAME, GLOSSY_MATERIALS, TEXTURED_MATERIALS, Rgb

TRIM_COLOURS: dict[str, Rgb] = {"dark": (45, 42, 40), "sole": (236, 234, 228), "metal": (170, 160, 135)}


def _jittered(rgb: Rgb, rng: np.random.Generator, spread: float) -> Rgb:
    values = np.clip(np.asarray(rgb, dtype=np.float64) + rng.normal(0, spread, 3), 0, 255)
    return tuple(int(v) for v in values)


_SMOOTH = 16  # gradients are computed this small, then resized: they have no detail to lose


def _smooth_ramp(rng: np.random.Generator) -> np.ndarray:
    """A small float32 ramp from 0 to 1 along a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    axis = np.linspace(0, 1, _SMOOTH, dtype=np.float32)
    ramp = np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None]
    return (ramp - ramp.min()) / (ramp.max() - ramp.min())


def _backdrop(size: int, rng: np.random.Generator) -> Image.Image:
    """A soft studio backdrop: a gradient between two light, nearly neutral tones."""
    first, second = (rng.uniform(180, 240) + rng.normal(0, 5, 3) for _ in range(2))
    ramp = _smooth_ramp(rng)[..., None]
    gradient = first * (1 - ramp) + second * ramp
    small = Image.fromarray(np.clip(gradient, 0, 255).astype(np.uint8), "RGB")
    return small.resize((size, size), Image.BILINEAR)


def _lighting(size: int, rng: np.random.Generator) -> Image.Image:
    """An RGB multiply map: overall exposure times a gentle directional fall-off (at most 1)."""
    exposure = rng.uniform(0.86, 1.0)
    falloff = 1 - rng.uniform(0, 0.12) * _smooth_ramp(rng)
    small = Image.fromarray(np.clip(255 * exposure * falloff, 0, 255).astype(np.uint8), "L")
    return small.resize((size, size), Image.BILINEAR).convert("RGB")


@lru_cache(maxsize=4)
def _grain_field(size: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, twice the image size; images use random crops of it."""
    return np.random.default_rng(20240501).standard_normal((2 * size, 2 * size), dtype=np.float32)


def _grain(size: int, amount: np.ndarray | float, rng: np.random.Generator) -> Image.Image:
    """Luma noise of standard deviation ``amount`` (per pixel or global), offset by +128 for ``ImageChops.add``."""
    row, column = rng.integers(0, size, 2)
    noise = _grain_field(size)[row:row + size, column:column + size] * amount + 128
    return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), "L").convert("RGB")


def _dilated(mask: Image.Image, radius: int) -> Image.Image:
    """``mask`` grown by ``radius`` pixels (a blur then a threshold: cheaper than a max filter)."""
    return mask.filter(ImageFilter.BoxBlur(radius)).point(lambda value: 255 if value else 0)


def _object_layer(attributes: dict, frame: Frame, size: int, rng: np.random.Generator) -> Image.Image:
    """The product alone on a transparent RGBA canvas, with outline, pattern, trim and sheen."""
    silhouette = SILHOUETTES[attributes["category"]]
    base = _jittered(COLOUR_BY_NAME[attributes["colour"]].rgb, rng, 7)
    mask = Image.new("L", (size, size), 0)
    mask_draw = ImageDraw.Draw(mask)
    for shape in silhouette.body:
        draw_shape(mask_draw, shape, frame, 255)
    fill = Image.new("RGB", (size, size), base)
    fill_draw = ImageDraw.Draw(fill)
    draw_pattern(fill_draw, attributes["pattern"], frame, base, rng)
    if attributes.get("material") in GLOSSY_MATERIALS:
        # A soft highlight hints at a shiny surface without changing the colour name.
        u, v = rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.35)
        frame.ellipse(fill_draw, (u, v), (u + 0.12, v + 0.06), mix(base, (255, 255, 255), 0.35))
    # A thin darker edge keeps white products visible on a light backdrop.
    edge = _dilated(mask, max(1, size // 128))
    framed = Image.composite(fill, Image.new("RGB", (size, size), mix(base, (0, 0, 0), 0.45)), mask)
    layer = Image.merge("RGBA", (*framed.split(), edge))
    layer_draw = ImageDraw.Draw(layer)
    for trim_name, shape in silhouette.trim:
        draw_shape(layer_draw, shape, frame, (*TRIM_COLOURS[trim_name], 255))
    return layer


def render_product_image(attributes: dict, rng: np.random.Generator, image_size: int = 256) -> Image.Image:
    """Draw a product photo.

    ``attributes`` needs ``category`` (slug), ``colour`` (canonical name) and ``pattern`` (slug);
    ``material`` adds a sheen or grain.  Returns an RGB ``image_size`` square image.
    """
    return render_product_photo(attributes, rng, image_size)[0]


def render_product_photo(attributes: dict, rng: np.random.Generator,
                         image_size: int = 256) -> tuple[Image.Image, Image.Image]:
    """:func:`render_product_image` and the product's mask (``L``, 255 on the product), from the same
    draws: scenes cut the very product out of its catalog photo with it."""
    size = int(image_size)
    side = size * rng.uniform(0.68, 0.84)
    # Shop photos are roughly centred; a little drift keeps every picture different.
    left, top = (size - side) / 2 + rng.uniform(-0.05, 0.05, 2) * size
    layer = _object_layer(attributes, Frame(left, top, side, rng.uniform(-10, 10)), size, rng)
    alpha = layer.getchannel("A")

    picture = _backdrop(size, rng)
    # A blurred, offset copy of the silhouette darkens the backdrop: a cheap drop shadow.
    shadow = Image.new("L", (size, size), 0)
    shift = max(1, round(size * 0.02))
    shadow.paste(alpha, (shift, shift))
    shadow = shadow.filter(ImageFilter.BoxBlur(max(1, size // 64))).point(lambda value: value * 0.22)
    picture = Image.composite(Image.new("RGB", (size, size), 0), picture, shadow)
    picture.paste(layer, (0, 0), alpha)

    picture = ImageChops.multiply(picture, _lighting(size, rng))
    grain = rng.uniform(1.5, 5.0)
    if attributes.get("material") in TEXTURED_MATERIALS:
        # Woven or brushed surfaces look grainier than the backdrop.
        grain = grain + np.asarray(alpha, dtype=np.float32) * np.float32(5.0 / 255)
    return ImageChops.add(picture, _grain(size, grain, rng), offset=-128), alpha


def render_flat_lay(items: list[dict], rng: np.random.Generator,
                    cell_size: int = 192) -> tuple[Image.Image, list[tuple]]:
    """Draw several products laid out on one backdrop, as a store photographs a look.

    Products sit in random cells of a grid (2 x 2 for up to four, 3 x 2 for up to six), each at a
    random size and position inside its cell.  Returns the RGB photo and, per item, its box
    ``(x0, y0, x1, y1)`` as fractions of the photo (the drawn square, before tilt).
    """
    columns, rows = (2, 2) if len(items) <= 4 else (3, 2)
    if len(items) > columns * rows:
        raise ValueError(f"a flat-lay holds at most {columns * rows} products")
    width, height = columns * cell_size, rows * cell_size
    backdrop = _backdrop(max(width, height), rng).crop((0, 0, width, height))
    cells = rng.permutation(columns * rows)[:len(items)]
    picture, shadow_mask = backdrop, Image.new("L", (width, height), 0)
    layers, boxes = [], []
    for attributes, cell in zip(items, cells, strict=True):
        side = cell_size * rng.uniform(0.6, 0.85)
        left = (cell % columns) * cell_size + rng.uniform(0, cell_size - side)
        top = (cell // columns) * cell_size + rng.uniform(0, cell_size - side)
        frame = Frame(left, top, side, rng.uniform(-10, 10))
        layers.append(_object_layer(attributes, frame, max(width, height), rng).crop((0, 0, width, height)))
        boxes.append((left / width, top / height, (left + side) / width, (top + side) / height))
    shift = max(1, round(cell_size * 0.02))
    for layer in layers:
        shadow_mask.paste(255, (shift, shift), layer.getchannel("A").crop((0, 0, width - shift, height - shift)))
    shadow = shadow_mask.filter(ImageFilter.BoxBlur(max(1, cell_size // 64))).point(lambda value: value * 0.22)
    picture = Image.composite(Image.new("RGB", (width, height), 0), picture, shadow)
    for layer in layers:
        picture.paste(layer, (0, 0), layer.getchannel("A"))
    lighting = _lighting(max(width, height), rng).crop((0, 0, width, height))
    picture = ImageChops.multiply(picture, lighting)
    return ImageChops.add(picture, _grain(max(width, height), rng.uniform(1.5, 5.0), rng).crop((0, 0, width, height)),
                          offset=-128), boxes
