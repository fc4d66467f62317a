"""Shop the look and complete the look: matching products from other categories.

*Complete the look* starts from one product: for each category that goes with it (all other
categories, or the store's ``LOOK_CATEGORIES``), the products nearest to it, so a red striped
t-shirt brings red or striped trousers, shoes and hats.  *Shop the look* starts from a scene
photo: ``regions`` finds where it shows products (segmentation of a flat-lay, else sliding
windows), each region is embedded and matched to its nearest product, which names its category,
and each category found brings its nearest products.  No object detector: the CLIP model that
embeds the catalog is the only model.

Each function returns plain ``LookGroup`` objects; the API only translates HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from . import regions
from .catalog import get_catalog
from .conf import shop_clip_settings
from .encoders import get_encoder
from .models import EmbeddingSpace
from .search import Hit, QueryError, nearest_products, product_vectors
from .spaces import active_space


@dataclass(frozen=True)
class LookGroup:
    """Matching products of one category; ``box`` is where a scene photo shows it."""

    category: str
    score: float  # the best hit's cosine similarity
    hits: list[Hit]
    box: regions.Box | None = None


@dataclass(frozen=True)
class Look:
    groups: list[LookGroup]
    model_id: str


@dataclass(frozen=True)
class Region:
    box: regions.Box
    category: str
    score: float
    vector: np.ndarray


def parse_look_params(params: Mapping[str, str]) -> tuple[int, int]:
    """``categories`` (how many groups) and ``per_category`` (products in each), validated."""
    values = []
    for name, default, most in (("categories", shop_clip_settings.LOOK_DEFAULT_CATEGORIES, 20),
                                ("per_category", shop_clip_settings.LOOK_DEFAULT_PER_CATEGORY, 20)):
        try:
            value = int(params.get(name) or default)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"{name} must be a whole number") from exc
        if not 1 <= value <= most:
            raise QueryError(f"{name} must be between 1 and {most}")
        values.append(value)
    return values[0], values[1]


def complementary_categories(categories: list[str]) -> list[str]:
    """Categories that complete a look with products of ``categories``, never those themselves.

    ``LOOK_CATEGORIES`` maps a category to the ones that go with it; a category it does not
    name goes with every other category.
    """
    chosen = shop_clip_settings.LOOK_CATEGORIES or {}
    everything = get_catalog().category_choices()
    wanted: list[str] = []
    for category in categories or [None]:
        for other in chosen.get(category, everything) if category is not None else everything:
            if other not in wanted and other not in categories:
                wanted.append(other)
    available = set(everything)
    return [category for category in wanted if category in available]


def complete_the_look(product_id: Any, params: Mapping[str, str] | None = None) -> Look:
    """For one product: per complementary category, its nearest products; best groups first.

    The store's filters in ``params`` (price, stock) apply to every suggestion.  One KNN query
    over all complementary categories ranks them (a category whose best product is not among
    the nearest rows ranks below every category that is); a group it leaves short is filled by
    a query of its own, so the cost does not grow with the number of categories.
    """
    params = params or {}
    catalog = get_catalog()
    if not catalog.category_lookup:
        raise QueryError("complete the look needs categories: set SHOP_CLIP['CATEGORY_FIELD']")
    groups_wanted, per_category = parse_look_params(params)
    filters, only = _split_category(catalog.filter_kwargs(params))
    space = active_space()
    vectors = product_vectors(product_id, space)
    product = catalog.product_queryset().get(pk=product_id)
    candidates = complementary_categories(catalog.category_values(product))
    if only is not None:
        candidates = [category for category in candidates if category == only]
    if not candidates:
        return Look([], space.model_id)
    fetch = min(1000, max(100, 10 * groups_wanted * per_category))
    nearest = nearest_products(vectors, space, limit=fetch, exclude=[product_id],
                               filters={**filters, f"{catalog.category_lookup}__in": candidates})
    by_category: dict[str, list[Hit]] = {}
    for hit in nearest:
        for category in catalog.category_values(hit.product):
            if category in candidates:
                by_category.setdefault(category, []).append(hit)
    ranked = sorted(by_category, key=lambda category: -by_category[category][0].score)
    if len(ranked) < groups_wanted and len(nearest) == fetch:
        # Categories far from the product: each needs its own query to be ranked at all.
        for category in candidates:
            if category not in by_category:
                hits = _in_category(vectors, space, category, per_category, filters, exclude=[product_id])
                if hits:
                    by_category[category] = hits
        ranked = sorted(by_category, key=lambda category: -by_category[category][0].score)
    groups = []
    for category in ranked[:groups_wanted]:
        hits = by_category[category][:per_category]
        if len(hits) < per_category and len(nearest) == fetch:
            hits = _in_category(vectors, space, category, per_category, filters, exclude=[product_id])
        groups.append(LookGroup(category, hits[0].score, hits))
    return Look(groups, space.model_id)


def shop_the_look(image: Image.Image, params: Mapping[str, str] | None = None) -> Look:
    """For a scene photo: the products it shows, one group per category found, best first."""
    params = params or {}
    catalog = get_catalog()
    if not catalog.category_lookup:
        raise QueryError("shop the look needs categories: set SHOP_CLIP['CATEGORY_FIELD']")
    groups_wanted, per_category = parse_look_params(params)
    filters, only = _split_category(catalog.filter_kwargs(params))
    space = active_space()
    # What the photo shows does not depend on the filters; which products are offered does.
    found = [region for region in find_regions(image, space) if only is None or region.category == only]
    groups = []
    for region in found[:groups_wanted]:
        hits = _in_category(region.vector, space, region.category, per_category, filters)
        if hits:
            groups.append(LookGroup(region.category, hits[0].score, hits, region.box))
    return Look(groups, space.model_id)


def find_regions(image: Image.Image, space: EmbeddingSpace) -> list[Region]:
    """Where the photo shows a product: one region per category, best first.

    A flat-lay's products are found by segmentation, and each is kept.  Otherwise sliding windows
    are matched, and a window is kept when it scores close to the best one and does not mostly
    overlap a better window (non-maximum suppression).
    """
    boxes = regions.flat_lay_boxes(image) if shop_clip_settings.LOOK_FLAT_LAYS else []
    segmented = bool(boxes)
    if not segmented:
        boxes = regions.window_boxes(image.width, image.height, shop_clip_settings.LOOK_WINDOW_SCALES)
    vectors = get_encoder(model=space.model_ref).encode_images([regions.crop(image, box) for box in boxes])
    catalog = get_catalog()
    candidates = []
    for box, vector in zip(boxes, vectors, strict=True):
        hits = nearest_products(vector, space, limit=1)
        categories = catalog.category_values(hits[0].product) if hits else []
        if categories:
            candidates.append(Region(box, categories[0], hits[0].score, vector))
    candidates.sort(key=lambda region: -region.score)
    kept: list[Region] = []
    for region in candidates:
        if any(other.category == region.category for other in kept):
            continue
        if not segmented:
            if region.score < candidates[0].score - shop_clip_settings.LOOK_SCORE_MARGIN:
                break
            if any(regions.overlap(region.box, other.box) > shop_clip_settings.LOOK_MAX_OVERLAP for other in kept):
                continue
        kept.append(region)
    return kept


def _split_category(filters: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The shopper's category filter, if any, apart from the other filters."""
    filters = dict(filters)
    only = filters.pop(get_catalog().category_lookup, None)
    return filters, None if only is None else str(only)


def _in_category(vectors: np.ndarray, space: EmbeddingSpace, category: str, limit: int,
                 filters: Mapping[str, Any], exclude: list[Any] = ()) -> list[Hit]:
    lookup = get_catalog().category_lookup
    return nearest_products(vectors, space, limit=limit, filters={**filters, lookup: category}, exclude=exclude)
