"""Where a scene photo shows products: boxes to crop and embed, without an object detector.

Two kinds of proposals.  A flat-lay or collage (products laid out on one backdrop, the usual
"shop the look" photo of a store) is segmented: a smooth plane of colour is fitted to the photo's
border, the colours left along the border are the backdrop's, pixels far from all of them are
foreground, and each connected foreground blob is a product.  Any other photo (a person wearing
the look, a busy room) gets sliding square windows of several sizes; the CLIP model then tells
which windows show what.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.cluster.vq import kmeans2

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of width and height

_WORK_SIDE = 160        # segmentation runs on a copy this small (shorter side)
_BORDER = 0.04          # share of each side sampled as backdrop
_FOREGROUND_SIGMA = 5   # residual, in robust standard deviations of the border, that counts as foreground
_MIN_BLOB = 0.01        # blobs smaller than this share of the photo are noise
_MAX_BLOB = 0.85        # a blob this big means the backdrop model failed
_PADDING = 0.12         # product photos show some backdrop around the product
_TIGHT_PADDING = 0.02   # the second, tighter look at a segmented product
_MAX_BLOBS = 24         # the largest blobs of a flat-lay, at most
_MAX_STEPS = 10         # window positions along one side of a photo, at most
_STUDIO_LIGHTNESS = 150  # a backdrop whose every channel is this light ...
_STUDIO_CHROMA = 25      # ... and this close to grey is a studio's: a plane of colour
_PALETTE_COLOURS = 8     # colours (k-means) a busy backdrop's border is summed up in
_PALETTE_SAMPLE = 200    # border pixels sampled per side
_PALETTE_SIDE_SHARE = 0.03  # a colour on at least this share of three sides is the backdrop's
_PALETTE_SIGMA = 4       # distance to the nearest backdrop colour, in robust deviations, that is foreground
_PALETTE_FLOOR = 6       # plus this many levels: JPEG and blur
_BACKDROP_LIGHTNESS = 130  # a light scene's backdrops (its own, its photos'): every channel this light ...
_BACKDROP_CHROMA = 35      # ... and this close to grey
_MOST_FOREGROUND_BORDER = 0.3  # a border more foreground than this is no backdrop
_SPLIT_BORDER = 0.08    # a blob is photos with their own backdrops when its border is nearly all backdrop
_SPLIT_INSET = 2        # working-copy pixels of a blob's edge left out when it is segmented within
_SPLIT_MIN_PART = 0.05  # a product inside a blob of several photos is at least this share of it
_MASK_GROWTH = 1        # working-copy pixels a product's mask grows by before its backdrop is painted
_MIN_HALVED = 64         # working-copy pixels of a busy blob, at least, to be taken as two products
_HALF_BLUR = 3.0         # working-copy pixels a blob's colours are blurred by before it is halved
_HALF_PLACE_WEIGHT = 2.5  # a pixel's place beside its colour, when a blob is halved
_HALF_SAMPLE = 800       # pixels the two clusters are fitted to
_MIN_HALF = 0.1          # a half is at least this share of its blob
STUDIO_GREY = (218, 216, 212)  # what a busy crop's backdrop is painted: the catalog photos' kind of backdrop


@dataclass(frozen=True)
class Proposal:
    """A box to crop and embed; ``mask`` (the product's pixels in the photo's small working copy,
    or None) means the rest of the crop is painted ``fill`` before it is embedded: a busy backdrop
    becomes a studio's."""

    box: Box
    mask: np.ndarray | None = None
    fill: tuple[int, int, int] = (218, 216, 212)
    tight: Box | None = None  # the product's square without padding: a second look at it


def flat_lay_boxes(image: Image.Image) -> list[Box]:
    """One square box per product on a plain backdrop; ``[]`` when the photo is not a flat-lay."""
    return [proposal.box for proposal in segmented_proposals(image)]


def segmented_proposals(image: Image.Image) -> list[Proposal]:
    """One proposal per product laid on a backdrop, largest first; ``[]`` when the photo has none.

    A light, nearly neutral backdrop (a studio flat-lay, a collage of catalog photos) is the light,
    nearly neutral colours along its border (the scene's, and the photos' reaching the edge), and
    the crops keep it (painting it flat measured worse: bench/results/eval_scenes_demo.json's
    notes).  A blob there whose own border is nearly all backdrop is several photos side by side
    (a collage), and is segmented again, within itself.  Any other backdrop (a coloured gradient,
    planks, checks) is a palette of the colours its border shows on three sides, and each crop's
    backdrop is painted the studio's grey: the catalog's photos, all the model knows, have studio
    backdrops.
    """
    small = _working_copy(image)
    if small is None:
        return []
    pixels = np.asarray(small, dtype=np.float32)
    height, width = pixels.shape[:2]
    residual, border = _plane_residual(pixels)
    tone = pixels[border].mean(axis=0)
    studio = tone.min() >= _STUDIO_LIGHTNESS and tone.max() - tone.min() <= _STUDIO_CHROMA
    mask = _palette_foreground(residual, border, pixels if studio else None)
    if mask is None:
        return []
    labels = _blobs(mask)
    area = width * height
    blobs = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        blob = int((labels[found] == index).sum())
        if blob > _MAX_BLOB * area:
            return []
        if blob < _MIN_BLOB * area:
            continue
        # The blob's outermost pixels blend into the scene's backdrop: looked at from inside them.
        within = tuple(slice(side.start + _SPLIT_INSET, side.stop - _SPLIT_INSET) for side in found)
        inside = _split(pixels[within]) if studio else []
        if inside:  # photos side by side, each with its own backdrop: their products, not the pile
            for part, (rows, cols) in inside:
                if part >= _MIN_BLOB * area:
                    rows = slice(within[0].start + rows.start, within[0].start + rows.stop)
                    cols = slice(within[1].start + cols.start, within[1].start + cols.stop)
                    blobs.append((part, (rows, cols), None))
        else:
            blobs.append((blob, found, None if studio else labels == index))
    blobs.sort(key=lambda item: -item[0])
    return [_blob_proposal(rows, cols, width, height, product) for _, (rows, cols), product in blobs[:_MAX_BLOBS]]


def _blob_proposal(rows: slice, cols: slice, width: int, height: int, mask: np.ndarray | None) -> Proposal:
    """A blob's padded square and its tighter look, in a working copy of ``width`` by ``height``."""
    return Proposal(_padded_square(cols.start, rows.start, cols.stop, rows.stop, width, height), mask,
                    tight=_padded_square(cols.start, rows.start, cols.stop, rows.stop, width, height, _TIGHT_PADDING))


def halves(proposal: Proposal, image: Image.Image) -> tuple[Proposal, Proposal] | None:
    """A busy blob taken as two products: its pixels in two clusters by their colour, blurred
    (a product's pattern blurs into its own colour), and by their place, each the largest
    connected piece of its cluster with its holes filled, looked at in its tight square.
    Products touching on a busy backdrop are one blob, and each half then shows mostly one of
    them.  None for a blob without a mask (a studio's keeps its backdrop, and collages are split
    by their photos' own), one too small, or one a side of which would be a sliver."""
    if proposal.mask is None or proposal.mask.sum() < _MIN_HALVED:
        return None
    mask = proposal.mask
    height, width = mask.shape
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    pixels = np.asarray(_working_copy(image), dtype=np.float32)[window]
    inside = mask[window].astype(np.float32)
    weight = ndimage.gaussian_filter(inside, _HALF_BLUR) + 1e-6  # the backdrop's colours left out of the blur
    colour = np.stack([ndimage.gaussian_filter(pixels[..., channel] * inside, _HALF_BLUR) / weight
                       for channel in range(3)], axis=-1)
    ys, xs = np.nonzero(mask[window])
    colour = colour[ys, xs]
    place = np.stack([xs, ys], axis=1).astype(np.float32)
    features = np.concatenate([(colour - colour.mean(axis=0)) / (colour.std() + 1e-6),
                               _HALF_PLACE_WEIGHT * (place - place.mean(axis=0)) / (place.std() + 1e-6)], axis=1)
    rng = np.random.default_rng(0)  # the same photo, the same halves
    sample = features[rng.choice(len(features), min(len(features), _HALF_SAMPLE), replace=False)]
    centres, _ = kmeans2(sample, 2, seed=1, minit="++")
    side = np.argmin(((features[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    parts = []
    for cluster in (0, 1):
        piece = np.zeros(inside.shape, dtype=bool)
        piece[ys[side == cluster], xs[side == cluster]] = True
        labels, count = ndimage.label(piece)
        if count == 0:
            return None
        piece = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
        if piece.sum() < _MIN_HALF * len(ys):
            return None
        part = np.zeros_like(mask)
        part[window] = piece
        parts.append(_half_proposal(part, width, height))
    return parts[0], parts[1]


def halved(image: Image.Image, proposals: list[Proposal], count: int) -> dict[int, tuple[Proposal, Proposal]]:
    """The halves of the ``count`` largest blobs that can be halved (proposals come largest first),
    by the blob's index: what shop the look looks at beside the blobs (and ``live_crops`` can cut)."""
    pairs: dict[int, tuple[Proposal, Proposal]] = {}
    for index, proposal in enumerate(proposals):
        if len(pairs) >= count:
            break
        pair = halves(proposal, image)
        if pair is not None:
            pairs[index] = pair
    return pairs


def _half_proposal(mask: np.ndarray, width: int, height: int) -> Proposal:
    """A half's one look: its tight square (a padded one holds a piece of the other product)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return Proposal(_padded_square(cols[0], rows[0], cols[-1] + 1, rows[-1] + 1, width, height, _TIGHT_PADDING), mask)


def _blobs(mask: np.ndarray) -> np.ndarray:
    """Connected foreground blobs, labelled, after the specks are removed and the holes filled."""
    mask = ndimage.binary_opening(mask, iterations=1)
    mask = ndimage.binary_closing(mask, iterations=2)
    return ndimage.label(ndimage.binary_fill_holes(mask))[0]


def _split(pixels: np.ndarray) -> list[tuple[int, tuple[slice, slice]]]:
    """The products inside one blob that is several photos with backdrops of their own (a
    collage), segmented again against the blob's own border: ``(pixels, (rows, columns))`` each.  ``[]``
    when the blob is one thing (its border is mostly itself) or holds fewer than two."""
    if min(pixels.shape[:2]) < 4 * max(2, round(_BORDER * min(pixels.shape[:2]))):
        return []
    residual, border = _plane_residual(pixels)
    mask = _plain_foreground(residual, border, most=_SPLIT_BORDER)
    if mask is None:
        return []
    labels = _blobs(mask)
    area = pixels.shape[0] * pixels.shape[1]
    parts = [(int((labels[found] == index).sum()), found)
             for index, found in enumerate(ndimage.find_objects(labels), start=1) if found is not None]
    parts = [part for part in parts if part[0] >= _SPLIT_MIN_PART * area]
    return parts if len(parts) >= 2 else []


def _working_copy(image: Image.Image) -> Image.Image | None:
    """The photo at ``_WORK_SIDE`` on its shorter side (never enlarged); None when too thin."""
    small = image.convert("RGB")
    if min(small.size) < 2 * max(2, round(_BORDER * _WORK_SIDE)):
        return None  # too thin to have a border and an inside
    scale = _WORK_SIDE / min(small.size)
    if scale < 1:
        small = small.resize((max(1, round(small.width * scale)), max(1, round(small.height * scale))),
                             Image.BILINEAR)
    return small


def _plane_residual(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's colour minus a plane of colour fitted to the border (``(h, w, 3)``), and the
    border's mask.  Robust: the border pixels the first fit explains worst (an item touching the
    edge) are dropped and the plane refitted."""
    height, width = pixels.shape[:2]
    band = max(2, round(_BORDER * min(height, width)))
    ys, xs = np.mgrid[0:height, 0:width]
    border = np.zeros((height, width), dtype=bool)
    border[:band, :] = border[-band:, :] = border[:, :band] = border[:, -band:] = True
    design = np.stack([np.ones(height * width), xs.ravel() / width, ys.ravel() / height], axis=1)
    colours = pixels.reshape(-1, 3)
    rows = border.ravel()
    edge_design, edge_colours = design[rows], colours[rows]
    coefficients, *_ = np.linalg.lstsq(edge_design, edge_colours, rcond=None)
    distance = np.linalg.norm(edge_colours - edge_design @ coefficients, axis=1)
    keep = distance <= np.percentile(distance, 80)
    coefficients, *_ = np.linalg.lstsq(edge_design[keep], edge_colours[keep], rcond=None)
    return (colours - design @ coefficients).reshape(height, width, 3), border


def _plain_foreground(residual: np.ndarray, border: np.ndarray, most: float = _MOST_FOREGROUND_BORDER
                      ) -> np.ndarray | None:
    """Pixels that the border's colour plane does not explain, or None without a usable border
    (more than ``most`` of it is foreground)."""
    distance = np.linalg.norm(residual, axis=2)
    edge = distance[border]
    spread = 1.4826 * np.median(edge[edge <= np.percentile(edge, 80)]) + 1.0  # the backdrop's MAD, plus JPEG's floor
    if (edge > _FOREGROUND_SIGMA * spread).mean() > most:  # the border is no backdrop: a scene, not a flat-lay
        return None
    return distance > _FOREGROUND_SIGMA * spread


def _palette_foreground(residual: np.ndarray, border: np.ndarray, pixels: np.ndarray | None = None
                        ) -> np.ndarray | None:
    """Pixels far from every colour (beyond the plane) that the backdrop shows along the border,
    or None when the border shows none.

    A busy backdrop's colours are those along at least three sides of the photo: a texture's
    colours are all round the border, a product cut off by one edge is not.  With ``pixels`` (a
    light, nearly neutral scene) they are the light, nearly neutral colours on the border, however
    few sides each is on: a collage's photos reach the border, each with a backdrop of its own, and
    a products' colours stand out from all of them (one plane of colour measured worse there:
    docs/decisions/shop-the-look-scenes.md).
    """
    height, width = residual.shape[:2]
    band = max(2, round(_BORDER * min(height, width)))
    rng = np.random.default_rng(0)  # the same photo, the same boxes
    picks = [rng.choice(len(side), min(len(side), _PALETTE_SAMPLE), replace=False) for side in _sides(residual, band)]
    sample = np.concatenate([side[pick] for side, pick in zip(_sides(residual, band), picks, strict=True)])
    side_of = np.repeat(np.arange(4), [len(pick) for pick in picks])
    centres, labels = kmeans2(sample, _PALETTE_COLOURS, seed=1, minit="++")
    if pixels is None:
        counts = np.zeros((_PALETTE_COLOURS, 4))
        np.add.at(counts, (labels, side_of), 1)
        backdrop = (counts >= _PALETTE_SIDE_SHARE * np.bincount(side_of, minlength=4)).sum(axis=1) >= 3
    else:
        colours = np.concatenate([side[pick] for side, pick in zip(_sides(pixels, band), picks, strict=True)])
        counts = np.bincount(labels, minlength=_PALETTE_COLOURS)
        tones = np.zeros((_PALETTE_COLOURS, 3))
        np.add.at(tones, labels, colours)
        tones /= np.maximum(counts, 1)[:, None]
        light = ((tones.min(axis=1) >= _BACKDROP_LIGHTNESS)
                 & (tones.max(axis=1) - tones.min(axis=1) <= _BACKDROP_CHROMA))
        backdrop = light & (counts >= _PALETTE_SIDE_SHARE * len(sample))
        if counts[backdrop].sum() < (1 - _MOST_FOREGROUND_BORDER) * len(sample):
            return None  # the border is mostly something else: a scene, not a flat-lay
    if not backdrop.any():
        return None
    spread = 1.4826 * np.median(_nearest_distance(sample[backdrop[labels]], centres[backdrop])) + 1.0
    distance = _nearest_distance(residual.reshape(-1, 3), centres[backdrop])
    return (distance > _PALETTE_SIGMA * spread + _PALETTE_FLOOR).reshape(height, width)


def _nearest_distance(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each point's distance to its nearest centre (|p|² - 2 p·c + |c|²: no (points, centres, 3) array)."""
    squared = (points * points).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres * centres).sum(axis=1)[None]
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def _sides(values: np.ndarray, band: int) -> list[np.ndarray]:
    """The ``band`` outermost rows or columns of each side, as lists of colours."""
    return [values[:band].reshape(-1, 3), values[-band:].reshape(-1, 3), values[:, :band].reshape(-1, 3),
            values[:, -band:].reshape(-1, 3)]


def _padded_square(x0: int, y0: int, x1: int, y1: int, width: int, height: int, padding: float = _PADDING) -> Box:
    """The blob's box grown into a square with ``padding`` round it, kept inside the photo."""
    side = max(x1 - x0, y1 - y0) * (1 + 2 * padding)
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


def proposals_for(image: Image.Image, flat_lays: bool, window_scales: tuple[float, ...]) -> tuple[list[Proposal], bool]:
    """The regions to embed, and whether they were segmented: a flat-lay's (or collage's) products
    (with ``flat_lays``), else sliding windows of ``window_scales``."""
    proposals = segmented_proposals(image) if flat_lays else []
    if proposals:
        return proposals, True
    return [Proposal(box) for box in window_boxes(image.width, image.height, window_scales)], False


def looks_of(image: Image.Image, proposals: list[Proposal]) -> tuple[list[Image.Image], list[int]]:
    """Each proposal's crop, then the tighter crop of those that have one; and which those are."""
    crops = [proposal_crop(image, proposal) for proposal in proposals]
    tighter = [index for index, proposal in enumerate(proposals) if proposal.tight is not None]
    crops += [proposal_crop(image, replace(proposals[index], box=proposals[index].tight)) for index in tighter]
    return crops, tighter


def proposal_crop(image: Image.Image, proposal: Proposal) -> Image.Image:
    """The proposal's pixels; with a mask, everything but the product (a little grown: its edge
    and shadow) painted the proposal's ``fill``."""
    piece = crop(image, proposal.box)
    if proposal.mask is None:
        return piece
    grown = ndimage.binary_dilation(proposal.mask, iterations=_MASK_GROWTH)
    mask = crop(Image.fromarray(grown.astype(np.uint8) * 255), proposal.box).resize(piece.size, Image.BILINEAR)
    return Image.composite(piece, Image.new("RGB", piece.size, proposal.fill), mask)


def crop(image: Image.Image, box: Box) -> Image.Image:
    """The box's pixels, at least one on each side (a box rounds to nothing on a thin photo)."""
    x0, y0, x1, y1 = box
    left, top = min(round(x0 * image.width), image.width - 1), min(round(y0 * image.height), image.height - 1)
    return image.crop((left, top, max(left + 1, round(x1 * image.width)), max(top + 1, round(y1 * image.height))))
