"""Scene photos of the store's own products, in the kinds shop the look meets.

- ``flat_lay``: the products cut out of their catalog photos and laid on one plain studio backdrop,
  a cell each, as a store photographs a look; JPEG at quality 90.
- ``collage``: whole catalog photos, each with its own backdrop, of varied sizes, touching and
  partly overlapping, on a scene backdrop close to their colour; light blur and noise; JPEG at
  quality 60-80 (what a shopper's screenshot of a mood board looks like).
- ``busy``: cut-outs at several scales on a textured or gradient backdrop, some partly cut off by
  the photo's edge; light blur and noise; JPEG at quality 70-85.

Every random choice comes from the caller's generator.  Each product's box is where its own
pixels are in the scene (clipped to the photo), as fractions of the width and height.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from shop_clip.regions import overlap

from .rendering import _backdrop, _lighting
from .synthetic import SyntheticProduct

Box = tuple[float, float, float, float]
KINDS = ("flat_lay", "collage", "busy")


def checked_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` as a tuple, or ValueError naming the kinds there are when one is unknown or none is given."""
    if not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"scene kinds must be some of {', '.join(KINDS)}; got {', '.join(kinds) or 'none'}")
    return tuple(kinds)


def compose_scene(kind: str, products: Sequence[SyntheticProduct],
                  rng: np.random.Generator) -> tuple[bytes, list[Box], int]:
    """A ``kind`` scene of ``products`` (with masks): ``(JPEG bytes, each product's box, quality)``."""
    photo, boxes, quality = COMPOSERS[kind](products, rng)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue(), boxes, quality


def _cutout(product: SyntheticProduct, side: float) -> Image.Image:
    """The product alone (RGBA, transparent around it), its longer side ``side`` pixels."""
    bbox = product.mask.getbbox()
    picture = product.image.crop(bbox).convert("RGBA")
    picture.putalpha(product.mask.crop(bbox))
    scale = side / max(picture.size)
    return picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                          Image.BILINEAR)


def _fraction(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0.0, x0 / width), max(0.0, y0 / height), min(1.0, x1 / width), min(1.0, y1 / height))


def _noise_and_blur(picture: Image.Image, rng: np.random.Generator, blur: tuple[float, float],
                    noise: tuple[float, float]) -> Image.Image:
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(*blur)))
    pixels = np.asarray(picture, dtype=np.float32)
    grain = rng.standard_normal(pixels.shape[:2], dtype=np.float32)[..., None] * np.float32(rng.uniform(*noise))
    return Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8), "RGB")


def _with_shadows(picture: Image.Image, placed: list[tuple[Image.Image, int, int]], shift: int) -> Image.Image:
    """Paste the cut-outs at their places over a soft drop shadow of them all."""
    shadow = Image.new("L", picture.size, 0)
    for cut, left, top in placed:
        shadow.paste(255, (left + shift, top + shift), cut.getchannel("A"))
    shadow = shadow.filter(ImageFilter.BoxBlur(max(1, shift))).point(lambda value: value * 0.22)
    picture = Image.composite(Image.new("RGB", picture.size, 0), picture, shadow)
    for cut, left, top in placed:
        picture.paste(cut, (left, top), cut.getchannel("A"))
    return picture


def flat_lay(products: Sequence[SyntheticProduct], rng: np.random.Generator,
             cell: int = 192) -> tuple[Image.Image, list[Box], int]:
    """Cut-outs in random cells of a 2 x 2 (or 3 x 2) grid on a plain studio backdrop."""
    columns, rows = (2, 2) if len(products) <= 4 else (3, 2)
    width, height = columns * cell, rows * cell
    picture = _backdrop(max(width, height), rng).crop((0, 0, width, height))
    placed, boxes = [], []
    for product, spot in zip(products, rng.permutation(columns * rows)[:len(products)], strict=False):
        cut = _cutout(product, cell * rng.uniform(0.6, 0.85))
        left = int((spot % columns) * cell + rng.uniform(0, cell - cut.width))
        top = int((spot // columns) * cell + rng.uniform(0, cell - cut.height))
        placed.append((cut, left, top))
        boxes.append(_fraction((left, top, left + cut.width, top + cut.height), width, height))
    picture = _with_shadows(picture, placed, max(1, round(cell * 0.02)))
    picture = ImageChops.multiply(picture, _lighting(max(width, height), rng).crop((0, 0, width, height)))
    return _noise_and_blur(picture, rng, (0.0, 0.3), (1.5, 4.0)), boxes, 90


def collage(products: Sequence[SyntheticProduct], rng: np.random.Generator) -> tuple[Image.Image, list[Box], int]:
    """Whole catalog photos in a row or a two-wide grid, each of its own size and a little off its
    cell, so neighbours touch or overlap; on a backdrop a few levels from the photos' own."""
    count = len(products)
    columns = count if count <= 3 and rng.random() < 0.5 else min(count, 2)
    rows = -(-count // columns)
    cell = rng.uniform(170, 230)
    width, height = round(columns * cell), round(rows * cell)
    borders = np.concatenate([_border_pixels(product.image) for product in products])
    tone = np.clip(borders.mean(axis=0) + rng.normal(0, 6, 3), 0, 255)
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None] * rng.normal(0, 6, 3).astype(np.float32)
    picture = Image.fromarray(np.clip(tone + ramp + np.zeros((height, 1, 1)), 0, 255).astype(np.uint8), "RGB")
    boxes = []
    for index, product in enumerate(products):
        row, column = divmod(index, columns)
        side = round(cell * rng.uniform(0.8, 1.12))
        left = int(np.clip((column + 0.5) * cell - side / 2 + rng.uniform(-0.08, 0.08) * cell, 0, width - side))
        top = int(np.clip((row + 0.5) * cell - side / 2 + rng.uniform(-0.08, 0.08) * cell, 0, height - side))
        picture.paste(product.image.resize((side, side), Image.BILINEAR), (left, top))
        x0, y0, x1, y1 = product.mask.getbbox()
        scale = side / product.image.width
        boxes.append(_fraction((left + x0 * scale, top + y0 * scale, left + x1 * scale, top + y1 * scale),
                               width, height))
    return _noise_and_blur(picture, rng, (0.3, 1.0), (2.0, 5.0)), boxes, int(rng.integers(60, 81))


def _border_pixels(image: Image.Image, band: int = 8) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    return np.concatenate([pixels[:band].reshape(-1, 3), pixels[-band:].reshape(-1, 3),
                           pixels[:, :band].reshape(-1, 3), pixels[:, -band:].reshape(-1, 3)])


def _busy_backdrop(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A gradient between two colours of any lightness, often with a texture over it: planks,
    checks or a blotchy low-frequency pattern."""
    first, second = rng.uniform(50, 235, 3), rng.uniform(50, 235, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height)
    ramp = ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
    pixels = first * (1 - ramp) + second * ramp
    texture = rng.choice(["none", "planks", "checks", "blotches"])
    if texture == "planks":
        period = rng.uniform(18, 48)
        pixels = pixels + rng.uniform(10, 28) * np.sin(2 * np.pi * ys / period)[..., None]
        pixels = pixels + rng.uniform(4, 10) * np.sin(xs / rng.uniform(3, 9) + 3 * np.sin(ys / 11))[..., None]
    elif texture == "checks":
        period = rng.uniform(24, 64)
        checks = ((xs // period + ys // period) % 2)[..., None]
        pixels = pixels + rng.uniform(12, 30) * (checks - 0.5)
    elif texture == "blotches":
        small = rng.standard_normal((6, 6, 3)).astype(np.float32)
        big = np.stack([np.asarray(Image.fromarray(small[..., c]).resize((width, height), Image.BICUBIC))
                        for c in range(3)], axis=-1)
        pixels = pixels + rng.uniform(10, 25) * big
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def busy(products: Sequence[SyntheticProduct], rng: np.random.Generator) -> tuple[Image.Image, list[Box], int]:
    """Cut-outs of several sizes scattered over a busy backdrop, a third of them partly past an edge."""
    width, height = [(512, 384), (448, 448), (384, 512)][int(rng.integers(3))]
    short = min(width, height)
    picture = _busy_backdrop(width, height, rng)
    placed: list[tuple[Image.Image, int, int]] = []
    boxes: list[Box] = []
    for product in products:
        cut = _cutout(product, short * rng.uniform(0.28, 0.55))
        cut_off = rng.random() < 0.35
        for _ in range(40):  # a place that does not hide much of another product
            if cut_off:  # 15-35% of it past one edge
                left, top = rng.uniform(0, width - cut.width), rng.uniform(0, height - cut.height)
                edge, past = int(rng.integers(4)), rng.uniform(0.15, 0.35)
                if edge == 0:
                    left = -past * cut.width
                elif edge == 1:
                    left = width - (1 - past) * cut.width
                elif edge == 2:
                    top = -past * cut.height
                else:
                    top = height - (1 - past) * cut.height
            else:
                left, top = rng.uniform(0, width - cut.width), rng.uniform(0, height - cut.height)
            box = _fraction((left, top, left + cut.width, top + cut.height), width, height)
            if all(overlap(box, other) <= 0.15 for other in boxes):
                break
        placed.append((cut, int(left), int(top)))
        boxes.append(box)
    picture = _with_shadows(picture, placed, max(1, round(short * 0.012)))
    picture = ImageChops.multiply(picture, _lighting(max(width, height), rng).crop((0, 0, width, height)))
    return _noise_and_blur(picture, rng, (0.4, 1.1), (2.5, 6.0)), boxes, int(rng.integers(70, 86))


COMPOSERS: dict[str, Callable[..., tuple[Image.Image, list[Box], int]]] = {
    "flat_lay": flat_lay, "collage": collage, "busy": busy}
