"""Fill the demo store from the synthetic catalog generator, as a store's bulk import would."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from tqdm import tqdm

from demo_project.training.store_catalog import demo_store_products, image_name
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
    generator = demo_store_products(count, seed)
    for index, item in enumerate(tqdm(generator, total=count, desc="demo catalog", unit="product",
                                      disable=not progress)):
        buffer = io.BytesIO()
        item.image.save(buffer, "JPEG", quality=90)
        product = Product(
            title=item.title, description=item.description, category=categories[item.attributes["category"]],
            price=Decimal(int(rng.integers(5, 200))) - Decimal("0.01"), in_stock=bool(rng.random() < 0.85),
            attributes=item.attributes,
        )
        product.image.save(image_name(seed, index), ContentFile(buffer.getvalue()), save=False)
        batch.append(product)
        if len(batch) == CHUNK:
            ids += _flush(batch, enqueue)
    ids += _flush(batch, enqueue)
    return ids


def _flush(batch: list[Product], enqueue: bool) -> list[int]:
    if not batch:
        return []
    with transaction.atomic():
        created = Product.objects.bulk_create(batch)
        ids = [p.pk for p in created]
        mark_pending(ids, enqueue=enqueue)
    batch.clear()
    return ids
