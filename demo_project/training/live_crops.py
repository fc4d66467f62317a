"""Training crops as shop the look cuts them: training products in scenes, through the live regions.

A region tower trained on ``scene_augmentation``'s views read true boxes far better, but the live
pipeline's crops are other views: segmented, the backdrop painted studio grey, a tighter second
look, partial blobs (docs/decisions/shop-the-look-scenes.md).  These are those crops.  The scenes
come from ``scenes.compose_scene`` with training's own products and a seed of its own
(``CROP_SEED``, neither the eval's nor training's); each crop is kept with the product it lies on
(``look_eval.lies_on``), as a row of the training catalog.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import CLIPProcessor

from .scenes import KINDS, checked_kinds, compose_scene
from .synthetic import HELD_OUT_PAIRS, generate_catalog

CROP_SEED = 5150


def _settings():
    from django.conf import settings

    if not settings.configured:
        settings.configure()  # the app's defaults: what a store runs unless it tunes shop the look
    from shop_clip.conf import shop_clip_settings

    return shop_clip_settings


def _scenes(count: int, seed: int, render_size: int, scenes: int, rng: np.random.Generator,
            kinds: tuple[str, ...] = KINDS) -> Iterator[tuple]:
    """``(kind, [(row, product)])`` with 2-4 products of distinct categories each, products in catalog order,
    the kinds taken in turn from ``kinds`` (a kind named twice gets twice the scenes)."""
    pending: list = []
    wanted, made = int(rng.integers(2, 5)), 0
    for row, product in enumerate(generate_catalog(count, seed, image_size=render_size, exclude_pairs=HELD_OUT_PAIRS)):
        if any(other.attributes["category"] == product.attributes["category"] for _, other in pending):
            continue
        pending.append((row, product))
        if len(pending) == wanted:
            yield kinds[made % len(kinds)], pending
            pending, wanted, made = [], int(rng.integers(2, 5)), made + 1
            if made == scenes:
                return


def live_crops(processor: CLIPProcessor, count: int, seed: int, render_size: int, scenes: int, *,
               kinds: tuple[str, ...] = KINDS, crop_seed: int = CROP_SEED, halved_blobs: int | None = None,
               progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pixels (M, 3, H, W) normalised, owners (M,))``: every crop the live regions cut from
    ``scenes`` scenes of the training catalog that lies on a product, and that product's row; the
    halves of the ``halved_blobs`` largest blobs among them (default: the app's ``LOOK_SPLIT_BLOBS``)."""
    kinds = checked_kinds(kinds)
    from shop_clip.images import decode_size, load_image
    from shop_clip.look_eval import lies_on
    from shop_clip.regions import halved, looks_of, proposals_for

    settings = _settings()
    if halved_blobs is None:
        halved_blobs = settings.LOOK_SPLIT_BLOBS
    side = processor.image_processor.crop_size["height"]
    target = decode_size(side) * settings.LOOK_DECODE_SCALE
    rng = np.random.default_rng(crop_seed)
    images: list[Image.Image] = []
    owners: list[int] = []
    bar = tqdm(total=scenes, desc="live crops", disable=not progress, mininterval=2.0)
    for kind, chosen in _scenes(count, seed, render_size, scenes, rng, kinds):
        photo, boxes, _ = compose_scene(kind, [product for _, product in chosen], rng)
        image = load_image(photo, target=target)
        proposals, segmented = proposals_for(image, settings.LOOK_FLAT_LAYS, settings.LOOK_WINDOW_SCALES)
        if segmented:  # as ``look.find_regions`` looks: the largest blobs' halves beside them
            proposals += [half for pair in halved(image, proposals, halved_blobs).values() for half in pair]
        crops, tighter = looks_of(image, proposals)
        for crop, box in zip(crops, [p.box for p in proposals] + [proposals[i].tight for i in tighter], strict=True):
            on = [row for (row, _), true_box in zip(chosen, boxes, strict=True) if lies_on(box, true_box)]
            if len(on) == 1:  # a crop on two products teaches neither
                images.append(crop)
                owners.append(on[0])
        bar.update(1)
    bar.close()
    pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"].half()
    return pixels, torch.tensor(owners)
