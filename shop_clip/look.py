"""Shop the look and complete the look: matching products from other categories.

*Complete the look* starts from one product: for each category that goes with it (all other
categories, or the store's ``LOOK_CATEGORIES``), the products nearest to it, so a red striped
t-shirt brings red or striped trousers, shoes and hats.  *Shop the look* starts from a scene
photo: ``regions`` finds where it shows products (segmentation of a flat-lay, else sliding
windows), each region is embedded and matched to its nearest product, which names its category,
and each category found brings its nearest products.  No object detector: the CLIP model that
embeds the catalog is the only model.

Both are part of the Python API: they take an optional queryset of the store's products and its
named filters, as ``search`` does, and return a typed ``Look``; the HTTP API only translates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.core.cache import caches
from django.db import models
from django.db.models import QuerySet
from PIL import Image

from . import arguments, regions
from .catalog import get_catalog
from .conf import shop_clip_settings
from .encoders import get_encoder
from .errors import QueryError
from .images import decode_size
from .knn import Neighbour, Restriction, nearest, nearest_each
from .models import EmbeddingSpace
from .read_db import on_read, reads
from .results import Hit, Look, LookGroup
from .search import Filters, as_image, hits_each, hits_for, product_vectors, restriction_for
from .spaces import active_space

__all__ = ["Look", "LookGroup", "complete_the_look", "shop_the_look"]

MAX_GROUPS = 20  # groups in an answer, and products in a group


@dataclass(frozen=True)
class Region:
    """Where a scene photo shows a product: its category, the best similarity of a product of it
    to the look that voted (``score``), the category's share of the nearest products' votes
    (``confidence``), and the vector its group is the nearest products to."""

    box: regions.Box
    category: str
    score: float
    vector: np.ndarray | None  # None until the region is kept (find_regions)
    confidence: float = 1.0


def check_sizes(categories: int | None, per_category: int | None) -> tuple[int, int]:
    """``categories`` (how many groups) and ``per_category`` (products in each), within bounds."""
    values = []
    for name, value, default in (("categories", categories, shop_clip_settings.LOOK_DEFAULT_CATEGORIES),
                                 ("per_category", per_category, shop_clip_settings.LOOK_DEFAULT_PER_CATEGORY)):
        value = default if value is None else arguments.whole_number(name, value)
        if not 1 <= value <= MAX_GROUPS:
            raise QueryError(f"{name} must be between 1 and {MAX_GROUPS}")
        values.append(value)
    return values[0], values[1]


def complementary_categories(categories: list[str]) -> list[str]:
    """Categories that complete a look with products of ``categories``, never those themselves
    (nor, in a tree of categories, their ancestors and subcategories).

    ``LOOK_CATEGORIES`` maps a category to the ones that go with it; a category it does not
    name goes with every other category.
    """
    chosen = shop_clip_settings.LOOK_CATEGORIES or {}
    catalog = get_catalog()
    everything = catalog.category_choices()
    own = catalog.category_family(categories or [])  # a tree's ancestors and subcategories are the same kind
    wanted: list[str] = []
    for category in categories or [None]:
        for other in chosen.get(category, everything) if category is not None else everything:
            if other not in wanted and other not in own:
                wanted.append(other)
    available = set(everything)
    return [category for category in wanted if category in available]


@reads
def complete_the_look(product: models.Model | Any, *, queryset: QuerySet | None = None, filters: Filters | None = None,
                      categories: int | None = None, per_category: int | None = None) -> Look:
    """For one product (an instance or its primary key): per complementary category, its nearest
    products; best groups first.

    The restrictions apply to every suggestion.  Answers are cached for ``LOOK_CACHE_TIMEOUT``
    seconds (the products themselves are read fresh).  The categories are ranked in rounds, one
    KNN query each over the categories not found yet: a category among a round's nearest rows
    ranks above every category that is not, and each round finds at least one.  So the queries
    grow with the groups asked for, not with the store's categories; a group left short of
    ``per_category`` gets a query of its own.
    """
    product_id = arguments.product_key(product)
    catalog = get_catalog()
    request = _look_request("complete the look", queryset, filters, categories, per_category, exclude=[product_id])
    groups_wanted, per_category, restriction, only, space = request
    vectors = product_vectors(product_id, space)  # NotEmbedded (409) before any cached answer
    # The vectors are part of the key: a new photo of the product is a new question at once.
    key = _cache_key(space, product_id, hashlib.sha1(vectors.tobytes()).hexdigest(), groups_wanted, per_category,
                     restriction, only, catalog.visible(catalog.products()))
    cached = caches[shop_clip_settings.QUERY_CACHE_ALIAS].get(key) if shop_clip_settings.LOOK_CACHE_TIMEOUT else None
    if cached is not None:
        return Look(_cached_groups(cached), space.model_id)
    shown = on_read(catalog.product_queryset()).get(pk=product_id)
    candidates = complementary_categories(catalog.category_values(shown))
    if only is not None:
        candidates = [category for category in candidates if category == only]
    if not candidates:
        return Look([], space.model_id)
    groups = _best_groups(vectors, space, candidates, groups_wanted, per_category, restriction)
    if shop_clip_settings.LOOK_CACHE_TIMEOUT:
        caches[shop_clip_settings.QUERY_CACHE_ALIAS].set(
            key, [(group.category, [(hit.product.pk, hit.score, hit.image_key, hit.variant.pk) for hit in group.hits])
                  for group in groups], shop_clip_settings.LOOK_CACHE_TIMEOUT)
    return Look(groups, space.model_id)


def _best_groups(vectors: np.ndarray, space: EmbeddingSpace, candidates: list[str], groups_wanted: int,
                 per_category: int, restriction: Restriction) -> list[LookGroup]:
    """The ``groups_wanted`` candidate categories nearest to ``vectors``, best first, each with its
    ``per_category`` nearest products, found in rounds (see ``complete_the_look``)."""
    catalog = get_catalog()
    fetch = min(1000, max(40, 4 * groups_wanted * per_category))
    by_category: dict[str, list[Hit]] = {}  # in the order found: by round, then by best score
    complete: set[str] = set()  # categories whose every matching row was fetched
    remaining = list(candidates)
    while remaining and len(by_category) < groups_wanted:
        narrowed = restriction.narrowed(**catalog.category_lookups(remaining))
        rows = nearest(vectors, space, wanted=fetch, restriction=narrowed)
        for hit in hits_for(rows):
            for category in catalog.category_values(hit.product):
                if category in remaining:
                    by_category.setdefault(category, []).append(hit)
        if len(rows) < fetch:
            complete.update(remaining)
            break
        remaining = [category for category in remaining if category not in by_category]
    groups = []
    for category, hits in list(by_category.items())[:groups_wanted]:
        if len(hits) < per_category and category not in complete:
            hits = _in_category(vectors, space, category, per_category, restriction)
        groups.append(LookGroup(category, hits[0].score, hits[:per_category]))
    return groups


def _cache_key(space: EmbeddingSpace, product_id: Any, *parts: Any) -> str:
    def plain(part: Any) -> Any:  # a queryset (a tag filter, the store's own) by its SQL: repr() would run it
        if isinstance(part, Restriction):
            return (plain(part.lookups), plain(part.within), plain(list(part.exclude)),
                    [str(condition) for condition in part.conditions])
        if isinstance(part, Mapping):
            return sorted((key, plain(value)) for key, value in part.items())
        return str(part.query) if isinstance(part, QuerySet) else part

    text = repr((space.model_id, str(product_id), *[plain(part) for part in parts]))
    return "shop_clip:look:" + hashlib.sha1(text.encode()).hexdigest()


def _cached_groups(cached: list) -> list[LookGroup]:
    """Groups from cached ids and scores, with the products as they are now (deleted or hidden
    ones left out)."""
    catalog = get_catalog()
    products = on_read(catalog.visible(catalog.product_queryset())).in_bulk(
        {key for _, hits in cached for pid, _, _, variant in hits for key in (pid, variant)})
    groups = []
    for category, hits in cached:
        current = [Hit(products[pid], score, key, products[variant]) for pid, score, key, variant in hits
                   if pid in products and variant in products]
        if current:
            groups.append(LookGroup(category, current[0].score, current))
    return groups


@reads
def shop_the_look(image: Image.Image | bytes, *, queryset: QuerySet | None = None, filters: Filters | None = None,
                  categories: int | None = None, per_category: int | None = None) -> Look:
    """For a scene photo (decoded, or its bytes): the products it shows, one group per category
    found, best first."""
    groups_wanted, per_category, restriction, only, space = _look_request(
        "shop the look", queryset, filters, categories, per_category)
    target = decode_size(get_encoder(model=space.model_ref).image_size) * shop_clip_settings.LOOK_DECODE_SCALE
    # What the photo shows does not depend on the restrictions; which products are offered does.
    found = [region for region in find_regions(as_image(image, target), space)
             if only is None or region.category == only]
    # Every region is asked (one statement), then the first groups_wanted with products kept: a
    # store's own category filter (a computed one, as Oscar's) empties regions only here.
    ranked = nearest_each([region.vector for region in found], space, wanted=per_category,
                          restrictions=[_within(restriction, region.category) for region in found])
    groups, unmatched = [], []
    for region, group in zip(found, hits_each(ranked), strict=True):
        if not group:
            unmatched.append(region.category)
        elif len(groups) < groups_wanted:
            groups.append(LookGroup(region.category, group[0].score, group, region.box, round(region.confidence, 4)))
    return Look(groups, space.model_id, tuple(unmatched))


def find_regions(image: Image.Image, space: EmbeddingSpace) -> list[Region]:
    """Where the photo shows a product: one region per category, best first.

    A flat-lay's products are found by segmentation, and each is kept.  Otherwise sliding windows
    are matched, and a window is kept when it scores close to the best one and does not mostly
    overlap a better window (non-maximum suppression).  Either way a region whose category wins
    too small a share of its neighbours' votes, or whose best match is too far, is left out.
    """
    proposals, segmented = regions.proposals_for(image, shop_clip_settings.LOOK_FLAT_LAYS,
                                                 shop_clip_settings.LOOK_WINDOW_SCALES)
    # Products touching on a busy backdrop are one blob: the largest blobs are looked at as two
    # halves too, and two halves of other categories that vote surer replace their blob.
    halved = regions.halved(image, proposals, shop_clip_settings.LOOK_SPLIT_BLOBS) if segmented else {}
    looked = proposals + [half for pair in halved.values() for half in pair]
    crops, tighter = regions.looks_of(image, looked)
    encoder = get_encoder(model=space.model_ref)
    # A region tower (the model's, if it has one) names the category; the group is the products
    # nearest the catalog's own tower's look, which puts a product's photo on its vector
    # (docs/decisions/shop-the-look-scenes.md).  Those looks are taken of the kept regions only.
    voters = encoder.encode_regions(crops)
    looks = encoder.encode_images(crops) if voters is None else None
    # Every look's neighbours in one statement, and their categories in one query.
    ranked = nearest_each(voters if looks is None else looks, space, wanted=shop_clip_settings.LOOK_VOTE_NEIGHBOURS)
    known = _categories_of({key for rows in ranked for row in rows for key in (row.group_id, row.product_id)})
    second = dict(zip(tighter, ranked[len(looked):], strict=True))
    voted = [_voted_region(proposal.box, None if looks is None else looks[index],
                           [ranked[index]] + ([second[index]] if index in second else []), known)
             for index, proposal in enumerate(looked)]
    chosen = list(range(len(proposals)))
    for number, index in enumerate(halved):  # the halves follow the proposals, two a blob
        first, other = len(proposals) + 2 * number, len(proposals) + 2 * number + 1
        if _halves_win(voted[index], voted[first], voted[other]):
            chosen[chosen.index(index)] = first
            chosen.append(other)
    candidates = [index for index in chosen
                  if voted[index] is not None and voted[index].confidence >= shop_clip_settings.LOOK_MIN_CONFIDENCE
                  and voted[index].score >= shop_clip_settings.LOOK_MIN_SCORE]
    candidates.sort(key=lambda index: -voted[index].score)
    kind_of = get_catalog().category_kind
    kept: list[int] = []
    for index in candidates:
        region = voted[index]
        if any(kind_of(voted[other].category) == kind_of(region.category) for other in kept):
            continue  # one group a kind: two trees' shirts in one photo are one shirt seen twice
        if not segmented:
            if region.score < voted[candidates[0]].score - shop_clip_settings.LOOK_SCORE_MARGIN:
                break
            if any(regions.overlap(region.box, voted[other].box) > shop_clip_settings.LOOK_MAX_OVERLAP
                   for other in kept):
                continue
        kept.append(index)
    if looks is None and kept:
        vectors = encoder.encode_images([crops[index] for index in kept])
        return [replace(voted[index], vector=vector) for index, vector in zip(kept, vectors, strict=True)]
    return [voted[index] for index in kept]


def _halves_win(whole: Region | None, first: Region | None, second: Region | None) -> bool:
    """Whether two halves are two products rather than their blob one: they name two kinds of
    category (``catalog.category_kind``), and their votes are surer on average (confidence times
    score) than the blob's."""
    kind_of = get_catalog().category_kind
    if first is None or second is None or kind_of(first.category) == kind_of(second.category):
        return False  # one product cut in two
    sureness = (first.confidence * first.score + second.confidence * second.score) / 2
    return whole is None or sureness > whole.confidence * whole.score


def _voted_region(box: regions.Box, vector: np.ndarray | None, neighbours: list[list[Neighbour]],
                  known: dict[Any, list[str] | None]) -> Region | None:
    """The region's category by the votes of its crop's nearest visible products (and of its
    tighter crop's, when there is one: a category both looks agree on wins), or None when none has
    one; ``vector`` is the look its group is the nearest products to.  ``known``: the categories of
    the neighbours, by id (None: not shown).

    One product of another category nearest by a hair (a crop of a lamp that one vase resembles)
    does not outvote several of the right one.  Categories of one kind (``catalog.category_kind``:
    Oscar's "Men > Shirts" and "Women > Shirts") pool their votes, so a store with several trees
    is as sure of a shirt as a store with one; the kind's best-voted category names the region."""
    kind_of = get_catalog().category_kind
    votes: dict[str, float] = {}
    best: dict[str, float] = {}
    for rows in neighbours:
        rows = [row for row in rows if known[row.group_id] is not None and known[row.product_id] is not None]
        for row in rows:
            categories = known[row.group_id]
            if categories:
                # exp((score - best score) / temperature), a score being 1 - distance
                weight = float(np.exp((rows[0].distance - row.distance) / shop_clip_settings.LOOK_VOTE_TEMPERATURE))
                votes[categories[0]] = votes.get(categories[0], 0.0) + weight
                best[categories[0]] = max(best.get(categories[0], -1.0), 1.0 - row.distance)
    if not votes:
        return None
    kinds: dict[str, float] = {}
    for category, weight in votes.items():
        kinds[kind_of(category)] = kinds.get(kind_of(category), 0.0) + weight
    kind = max(kinds, key=kinds.get)
    category = max((category for category in votes if kind_of(category) == kind), key=votes.get)
    return Region(box, category, best.get(category, 0.0), vector, kinds[kind] / sum(votes.values()))


def _categories_of(keys: set[Any]) -> dict[Any, list[str] | None]:
    """The categories of the products ``keys``, read in one query (None for a product the
    shoppers may not see, as ``hits_for`` leaves it out)."""
    catalog = get_catalog()
    products = on_read(catalog.product_queryset()).in_bulk(keys)
    return {key: catalog.category_values(products[key]) if key in products else None for key in keys}


def _look_request(feature: str, queryset: QuerySet | None, filters: Filters | None, categories: int | None,
                  per_category: int | None, exclude: list[Any] = ()):
    """``(groups, per_category, restriction without the category filter, that category or None,
    space)``."""
    catalog = get_catalog()
    if not catalog.category_lookup:
        raise QueryError(f"{feature} needs categories: set SHOP_CLIP['CATEGORY_FIELD']")
    groups_wanted, per_category = check_sizes(categories, per_category)
    space = active_space()
    restriction = restriction_for(space, queryset=queryset, filters=filters, exclude=exclude)
    lookups = dict(restriction.lookups)
    only = lookups.pop(catalog.category_lookup, None)  # the shopper's category filter, apart
    return (groups_wanted, per_category, replace(restriction, lookups=lookups), None if only is None else str(only),
            space)


def _in_category(vectors: np.ndarray, space: EmbeddingSpace, category: str, limit: int,
                 restriction: Restriction) -> list[Hit]:
    return hits_for(nearest(vectors, space, wanted=limit, restriction=_within(restriction, category)))


def _within(restriction: Restriction, category: str) -> Restriction:
    """``restriction`` narrowed to the products of ``category``."""
    return restriction.narrowed(**get_catalog().category_lookups([category]))
