"""Where a scene photo shows products: boxes to crop and embed, without an object detector.

Two kinds of proposals.  A flat-lay or collage (products laid out on one backdrop, the usual
"shop the look" photo of a store) is segmented: the backdrop is modelled as a smooth plane of
colour fitted to the photo's border, pixels far from it are foreground, and each connected
foreground blob is a product.  Any other photo (a person wearing the look, a busy room) gets
sliding square windows of several sizes; the CLIP model then tells which windows show what.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of width and height

_WORK_SIDE = 160        # segmentation runs on a copy this small (shorter side)
_BORDER = 0.04          # share of each side sampled as backdrop
_FOREGROUND_SIGMA = 5   # residual, in robust standard deviations of the border, that counts as foreground
_MIN_BLOB = 0.01        # blobs smaller than this share of the photo are noise
_MAX_BLOB = 0.85        # a blob this big means the backdrop model failed
_PADDING = 0.12         # product photos show some backdrop around the product
_MAX_BLOBS = 24         # the largest blobs of a flat-lay, at most
_MAX_STEPS = 10         # window positions along one side of a photo, at most


def flat_lay_boxes(image: Image.Image) -> list[Box]:
    """One square box per product on a plain backdrop; ``[]`` when the photo is not a flat-lay."""
    small = image.convert("RGB")
    if min(small.size) < 2 * max(2, round(_BORDER * _WORK_SIDE)):
        return []  # too thin to have a border and an inside
    scale = _WORK_SIDE / min(small.size)
    if scale < 1:
        small = small.resize((max(1, round(small.width * scale)), max(1, round(small.height * scale))),
                             Image.BILINEAR)
    pixels = np.asarray(small, dtype=np.float32)
    height, width = pixels.shape[:2]
    mask = _foreground(pixels)
    if mask is None:
        return []
    mask = ndimage.binary_opening(mask, iterations=1)
    mask = ndimage.binary_closing(mask, iterations=2)
    mask = ndimage.binary_fill_holes(mask)
    labels, count = ndimage.label(mask)
    area = width * height
    blobs = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        blob = int((labels[found] == index).sum())
        if blob > _MAX_BLOB * area:
            return []
        if blob >= _MIN_BLOB * area:
            blobs.append((blob, found))
    blobs.sort(key=lambda item: -item[0])
    return [_padded_square(cols.start, rows.start, cols.stop, rows.stop, width, height)
            for _, (rows, cols) in blobs[:_MAX_BLOBS]]


def _foreground(pixels: np.ndarray) -> np.ndarray | None:
    """Pixels that the border's colour plane does not explain, or None without a usable border."""
    height, width = pixels.shape[:2]
    band = max(2, round(_BORDER * min(height, width)))
    ys, xs = np.mgrid[0:height, 0:width]
    border = np.zeros((height, width), dtype=bool)
    border[:band, :] = border[-band:, :] = border[:, :band] = border[:, -band:] = True
    design = np.stack([np.ones(height * width), xs.ravel() / width, ys.ravel() / height], axis=1)
    colours = pixels.reshape(-1, 3)
    rows = border.ravel()
    # Robust plane: fit, drop the border pixels it explains worst (an item touching the edge), refit.
    keep = rows.copy()
    for _ in range(2):
        coefficients, *_ = np.linalg.lstsq(design[keep], colours[keep], rcond=None)
        residual = np.linalg.norm(colours - design @ coefficients, axis=1)
        limit = np.percentile(residual[rows], 80)
        keep = rows & (residual <= limit)
    spread = 1.4826 * np.median(residual[keep]) + 1.0  # MAD of the backdrop, plus JPEG's noise floor
    border_foreground = (residual[rows] > _FOREGROUND_SIGMA * spread).mean()
    if border_foreground > 0.3:  # the border is no backdrop: a scene, not a flat-lay
        return None
    return (residual > _FOREGROUND_SIGMA * spread).reshape(height, width)


def _padded_square(x0: int, y0: int, x1: int, y1: int, width: int, height: int) -> Box:
    """The blob's box grown into a padded square, kept inside the photo."""
    side = max(x1 - x0, y1 - y0) * (1 + 2 * _PADDING)
    side = min(side, width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(cx - side / 2, 0), width - side)
    top = min(max(cy - side / 2, 0), height - side)
    return left / width, top / height, (left + side) / width, (top + side) / height


def window_boxes(width: int, height: int, scales: tuple[float, ...]) -> list[Box]:
    """The whole photo, then square windows of each ``scales`` share of its shorter side,
    stepping three quarters of a window (so every spot is seen whole by some window)."""
    boxes: list[Box] = [(0.0, 0.0, 1.0, 1.0)]
    short = min(width, height)
    for scale in scales:
        side = scale * short
        if scale >= 1 and width == height:
            continue  # the whole photo
        xs, ys = _starts(width, side), _starts(height, side)
        boxes += [(x / width, y / height, (x + side) / width, (y + side) / height) for y in ys for x in xs]
    return boxes


def _starts(length: int, side: float) -> list[float]:
    """Window positions along one side, at most ``_MAX_STEPS`` of them: a panorama gets wider gaps
    instead of hundreds of windows to encode and search."""
    steps = int(np.ceil((length - side) / (0.75 * side))) if length > side else 0
    return [float(value) for value in np.linspace(0.0, length - side, min(steps, _MAX_STEPS - 1) + 1)]


def overlap(first: Box, second: Box) -> float:
    """Intersection over the smaller box: 1.0 when one box lies inside the other."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((first[2] - first[0]) * (first[3] - first[1]), (second[2] - second[0]) * (second[3] - second[1]))
    return width * height / smaller


def crop(image: Image.Image, box: Box) -> Image.Image:
    """The box's pixels, at least one on each side (a box rounds to nothing on a thin photo)."""
    x0, y0, x1, y1 = box
    left, top = min(round(x0 * image.width), image.width - 1), min(round(y0 * image.height), image.height - 1)
    return image.crop((left, top, max(left + 1, round(x1 * image.width)), max(top + 1, round(y1 * image.height))))
