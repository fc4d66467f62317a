"""A deterministic demo catalog: products with a picture, shop copy and attributes.

The same seed always gives the same products, down to the pixels.  ``HELD_OUT_PAIRS`` are
(colour, category) combinations the bundled model never saw in training, so evaluation on
them measures generalisation rather than memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .rendering import render_flat_lay, render_product_image, render_product_photo
from .vocabulary import CATEGORIES, CATEGORY_BY_SLUG, COLOURS, PATTERNS
from .wording import describe, query_for

__all__ = [
    "CATEGORIES", "COLOURS", "HELD_OUT_PAIRS", "PATTERNS", "SyntheticProduct", "all_pairs", "describe",
    "generate_catalog", "make_product", "query_for", "render_product_image", "sample_attributes",
]

Pair = tuple[str, str]  # (colour name, category slug)

# 22 of the 180 pairs (12%): every colour and every category still appears in other pairs.
HELD_OUT_PAIRS: frozenset[Pair] = frozenset({
    ("red", "t-shirt"), ("green", "dress"), ("orange", "dress"), ("blue", "trousers"), ("pink", "trousers"),
    ("brown", "jacket"), ("white", "jacket"), ("purple", "sneaker"), ("grey", "sneaker"), ("black", "boot"),
    ("yellow", "handbag"), ("navy", "handbag"), ("orange", "backpack"), ("navy", "hat"), ("pink", "scarf"),
    ("grey", "tie"), ("white", "mug"), ("blue", "cushion"), ("purple", "cushion"), ("red", "lamp"),
    ("green", "vase"), ("brown", "vase"),
})


@dataclass
class SyntheticProduct:
    """One demo product: shop copy, an RGB picture and its ground-truth attributes.

    ``attributes`` keys: category (slug), department, colour (canonical name), pattern (slug),
    material.  ``mask`` is 255 where the picture shows the product.
    """

    title: str
    description: str
    attributes: dict
    image: Image.Image
    mask: Image.Image | None = None


def all_pairs() -> list[Pair]:
    """Every (colour, category) pair, in a fixed order."""
    return [(colour.name, category.slug) for category in CATEGORIES for colour in COLOURS]


def sample_attributes(rng: np.random.Generator, pairs: list[Pair], pattern: str | None = None) -> dict:
    """Draw a product's attributes: a pair from ``pairs``, a pattern (unless given), a fitting material."""
    colour, slug = pairs[int(rng.integers(len(pairs)))]
    category = CATEGORY_BY_SLUG[slug]
    if pattern is None:
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))].slug
    material = category.materials[int(rng.integers(len(category.materials)))]
    return {"category": slug, "department": category.department, "colour": colour, "pattern": pattern,
            "material": material}


def make_product(attributes: dict, rng: np.random.Generator, image_size: int = 256) -> SyntheticProduct:
    """Render and describe one product with the given attributes."""
    image, mask = render_product_photo(attributes, rng, image_size)
    title, description = describe(attributes, rng)
    return SyntheticProduct(title, description, dict(attributes), image, mask)


def allowed_pairs(exclude_pairs: Collection[Pair] | None = None,
                  only_pairs: Collection[Pair] | None = None) -> list[Pair]:
    """The pairs a catalog may use, in a fixed order; raises ``ValueError`` if none remain."""
    pairs = all_pairs()
    if only_pairs is not None:
        wanted = set(only_pairs)
        pairs = [pair for pair in pairs if pair in wanted]
    if exclude_pairs is not None:
        unwanted = set(exclude_pairs)
        pairs = [pair for pair in pairs if pair not in unwanted]
    if not pairs:
        raise ValueError("no (colour, category) pairs left to generate")
    return pairs


def generate_catalog(count: int, seed: int = 0, *, image_size: int = 256,
                     exclude_pairs: Collection[Pair] | None = None,
                     only_pairs: Collection[Pair] | None = None) -> Iterator[SyntheticProduct]:
    """Yield ``count`` products, identical for the same arguments.

    ``exclude_pairs`` / ``only_pairs`` restrict the (colour, category) pairs drawn, e.g.
    ``exclude_pairs=HELD_OUT_PAIRS`` for training data.
    """
    pairs = allowed_pairs(exclude_pairs, only_pairs)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield make_product(sample_attributes(rng, pairs), rng, image_size)


def generate_flat_lays(count: int, seed: int = 0, *, most: int = 5) -> Iterator[tuple[Image.Image, list[dict], list]]:
    """Yield ``count`` flat-lay photos of 1 to ``most`` products of distinct categories, identical
    for the same arguments: ``(photo, attributes of each product, box of each product)``."""
    rng = np.random.default_rng(seed)
    pairs = allowed_pairs()
    for _ in range(count):
        items: list[dict] = []
        wanted = int(rng.integers(1, most + 1))
        while len(items) < wanted:
            attributes = sample_attributes(rng, pairs)
            if all(attributes["category"] != other["category"] for other in items):
                items.append(attributes)
        photo, boxes = render_flat_lay(items, rng)
        yield photo, items, boxes

