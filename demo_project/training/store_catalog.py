"""The demo store's products, as ``demo_catalog`` loads them: the same products in the same order,
so scene photos can show the store's very products and name them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from .quality import CATALOG_SIZE, build_held_out_catalog
from .synthetic import SyntheticProduct, generate_catalog

MEDIA_FOLDER = "products/"  # the store's ``Product.image`` upload_to


def demo_store_products(count: int = CATALOG_SIZE, seed: int = 0) -> Iterable[SyntheticProduct]:
    """The demo's products: with room for it, the evaluation layout (every held-out colour/category
    pair with a dozen products of one pattern, so `shop_clip_eval` has enough relevant products per
    query), shuffled, the rest drawn freely; smaller catalogs are drawn freely."""
    if count < CATALOG_SIZE:
        return generate_catalog(count, seed)
    # Only the layout is held in memory (with its photos); the rest streams: 100k at once is 20 GB.
    products = build_held_out_catalog(seed=seed, size=CATALOG_SIZE)
    order = np.random.default_rng(seed).permutation(len(products))
    return itertools.chain((products[i] for i in order), generate_catalog(count - CATALOG_SIZE, seed + 1))


def image_name(seed: int, index: int) -> str:
    """The file name the store saves the ``index``-th product's photo under (before ``MEDIA_FOLDER``)."""
    return f"demo-{seed}-{index:06d}.jpg"
