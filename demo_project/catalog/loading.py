"""Fill the demo store from the synthetic catalog generator, as a store's bulk import would."""

from __future__ import annotations

import io
import itertools
from decimal import Decimal

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from tqdm import tqdm

from demo_project.training.synthetic import generate_catalog
from demo_project.training.vocabulary import CATEGORIES
from shop_clip.indexing import mark_pending

from .models import Category, Product

CHUNK = 100


def ensure_categories() -> dict[str, Category]:
    for category in CATEGORIES:
        Category.objects.update_or_create(
            slug=category.slug, defaults={"name": category.name, "department": category.department})
    return {c.slug: c for c in Category.objects.all()}


def load_demo_catalog(count: int, seed: int = 0, *, progress: bool = True, enqueue: bool = True) -> list[int]:
    """Create ``count`` products with images (deterministic from ``seed``); returns their ids.

    Uses ``bulk_create`` (no per-row signals) and then tells shop-clip which products changed,
    the way a store's own import command should.
    """
    categories = ensure_categories()
    rng = np.random.default_rng(seed + 1)
    ids: list[int] = []
    batch: list[Product] = []
    generator = demo_products(count, seed)
    for index, item in enumerate(tqdm(generator, total=count, desc="demo catalog", unit="product",
                                      disable=not progress)):
        buffer = io.BytesIO()
        item.image.save(buffer, "JPEG", quality=90)
        product = Product(
            title=item.title, description=item.description, category=categories[item.attributes["category"]],
            price=Decimal(int(rng.integers(5, 200))) - Decimal("0.01"), in_stock=bool(rng.random() < 0.85),
            attributes=item.attributes,
        )
        product.image.save(f"demo-{seed}-{index:06d}.jpg", ContentFile(buffer.getvalue()), save=False)
        batch.append(product)
        if len(batch) == CHUNK:
            ids += _flush(batch, enqueue)
    ids += _flush(batch, enqueue)
    return ids


def demo_products(count: int, seed: int):
    """The demo's products: with room for it, the evaluation layout (every held-out colour/category
    pair with a dozen products of one pattern, so `shop_clip_eval` has enough relevant products per
    query), shuffled, the rest drawn freely; smaller catalogs are drawn freely."""
    from demo_project.training.quality import CATALOG_SIZE, build_held_out_catalog

    if count < CATALOG_SIZE:
        return generate_catalog(count, seed)
    # Only the layout is held in memory (with its photos); the rest streams: 100k at once is 20 GB.
    products = build_held_out_catalog(seed=seed, size=CATALOG_SIZE)
    order = np.random.default_rng(seed).permutation(len(products))
    return itertools.chain((products[i] for i in order), generate_catalog(count - CATALOG_SIZE, seed + 1))


def _flush(batch: list[Product], enqueue: bool) -> list[int]:
    if not batch:
        return []
    with transaction.atomic():
        created = Product.objects.bulk_create(batch)
        ids = [p.pk for p in created]
        mark_pending(ids, enqueue=enqueue)
    batch.clear()
    return ids
