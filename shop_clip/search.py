"""Text search, visual search and look-alikes: one KNN query with the store's filters.

Each function returns plain ``Hit`` objects; the API and the views only translate HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from pgvector import HalfVector
from PIL import Image

from .catalog import get_catalog
from .conf import shop_clip_settings
from .encoders import get_encoder
from .hnsw import distance_sql
from .models import EmbeddingSpace, ProductVector
from .spaces import active_space

Status = ProductVector.Status


class QueryError(ValueError):
    """The request cannot be answered as asked (HTTP 400)."""


class NotEmbedded(LookupError):
    """The product exists but has no vector yet (HTTP 409)."""


@dataclass(frozen=True)
class Hit:
    product: Any
    score: float  # cosine similarity, higher is closer


@dataclass(frozen=True)
class Page:
    hits: list[Hit]
    model_id: str
    limit: int
    offset: int


def parse_paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``limit``/``offset`` from query parameters, validated."""
    try:
        limit = int(params.get("limit") or shop_clip_settings.DEFAULT_LIMIT)
        offset = int(params.get("offset") or 0)
    except (TypeError, ValueError) as exc:
        raise QueryError("limit and offset must be whole numbers") from exc
    if not 1 <= limit <= shop_clip_settings.MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {shop_clip_settings.MAX_LIMIT}")
    if offset < 0 or offset > 10_000:
        raise QueryError("offset must be between 0 and 10000")
    return limit, offset


def clean_query(text: str | None) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise QueryError("q is required: describe what you are looking for, e.g. 'red striped t-shirt'")
    if len(text) > shop_clip_settings.MAX_QUERY_LENGTH:
        raise QueryError(f"q is too long: at most {shop_clip_settings.MAX_QUERY_LENGTH} characters")
    return text


def encode_query(text: str, space: EmbeddingSpace) -> np.ndarray:
    """The text's vector in ``space``, cached (the same query costs the encoder once)."""
    text = clean_query(text)
    cache = caches[shop_clip_settings.QUERY_CACHE_ALIAS]
    key = "shop_clip:q:" + hashlib.sha1(f"{space.model_id}\0{text.lower()}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32)
    vector = get_encoder(model=space.model_ref).encode_texts([text])[0]
    cache.set(key, vector.astype(np.float32).tobytes(), shop_clip_settings.QUERY_CACHE_TIMEOUT)
    return vector


def nearest_products(
    vectors: np.ndarray | Sequence[np.ndarray], space: EmbeddingSpace, *, limit: int, offset: int = 0,
    filters: Mapping[str, Any] | None = None, exclude: Iterable[Any] = (),
) -> list[Hit]:
    """Products nearest to any of ``vectors``, each product once, by its best-matching image.

    KNN and the filters run in one SQL query per query vector; pgvector's iterative index scan
    keeps scanning until enough rows pass the filters, so a selective filter still fills the page.
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if vectors.shape[1] != space.dim:
        raise QueryError(f"query vector has {vectors.shape[1]} dimensions, the index {space.dim}")
    wanted = offset + limit
    # With several images per product, one product can take several of the nearest rows.
    factor = 1 if get_catalog().image_model is None else 3
    fetch = wanted * factor
    while True:
        best = _best_distances(vectors, space, fetch, filters or {}, list(exclude))
        if len(best.rows) >= wanted or not best.truncated:
            break
        fetch *= 2
    ranked = sorted(best.rows.items(), key=lambda item: (item[1], str(item[0])))[offset:wanted]
    products = get_catalog().product_queryset().in_bulk([pid for pid, _ in ranked])
    return [Hit(products[pid], 1.0 - distance) for pid, distance in ranked if pid in products]


@dataclass
class _Best:
    rows: dict[Any, float]
    truncated: bool


def _best_distances(vectors: np.ndarray, space: EmbeddingSpace, fetch: int, filters: Mapping[str, Any],
                    exclude: list[Any]) -> _Best:
    best: dict[Any, float] = {}
    truncated = False
    base = ProductVector.objects.filter(space=space, dim=space.dim, embedding__isnull=False,
                                        **{f"product__{k}": v for k, v in filters.items()})
    if exclude:
        base = base.exclude(product_id__in=exclude)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.iterative_scan', %s, true)",
                       [shop_clip_settings.HNSW_ITERATIVE_SCAN])
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)",
                       [str(max(shop_clip_settings.HNSW_EF_SEARCH, min(fetch, 1000)))])
        cursor.execute("SELECT set_config('hnsw.max_scan_tuples', %s, true)",
                       [str(shop_clip_settings.HNSW_MAX_SCAN_TUPLES)])
        for vector in vectors:
            text = HalfVector(vector).to_text()
            rows = list(base.annotate(distance=RawSQL(distance_sql(space.dim), [text]))
                        .order_by("distance").values_list("product_id", "distance")[:fetch])
            truncated |= len(rows) == fetch
            for pid, distance in rows:
                if distance < best.get(pid, float("inf")):
                    best[pid] = distance
    return _Best(best, truncated)


def search_text(query: str, params: Mapping[str, str] | None = None) -> Page:
    """Natural-language search with the store's filters and paging from ``params``."""
    params = params or {}
    limit, offset = parse_paging(params)
    filters = get_catalog().filter_kwargs(params)
    space = active_space()
    vector = encode_query(query, space)
    hits = nearest_products(vector, space, limit=limit, offset=offset, filters=filters)
    return Page(hits, space.model_id, limit, offset)


def search_image(image: Image.Image, params: Mapping[str, str] | None = None) -> Page:
    """Visual search: products that look like an uploaded photo."""
    params = params or {}
    limit, offset = parse_paging(params)
    filters = get_catalog().filter_kwargs(params)
    space = active_space()
    vector = get_encoder(model=space.model_ref).encode_images([image])[0]
    hits = nearest_products(vector, space, limit=limit, offset=offset, filters=filters)
    return Page(hits, space.model_id, limit, offset)


def product_vectors(product_id: Any, space: EmbeddingSpace) -> np.ndarray:
    """The embedded image vectors of one product; NotEmbedded if it has none yet."""
    rows = list(ProductVector.objects.filter(product_id=product_id, space=space, embedding__isnull=False)
                .values_list("embedding", flat=True))
    if not rows:
        states = list(ProductVector.objects.filter(product_id=product_id, space=space)
                      .values_list("status", "error"))
        if any(status == Status.FAILED for status, _ in states):
            reason = next(error for status, error in states if status == Status.FAILED)
            raise NotEmbedded(f"product {product_id} could not be embedded: {reason}")
        if states:
            raise NotEmbedded(f"product {product_id} is not embedded yet (pending); try again shortly")
        raise NotEmbedded(f"product {product_id} has no image to compare, or is not indexed: "
                          "run `python manage.py shop_clip_index --missing`")
    return np.asarray(rows, dtype=np.float32)


def similar_products(product_id: Any, params: Mapping[str, str] | None = None) -> Page:
    """Look-alikes of one product, never the product itself."""
    params = params or {}
    limit, offset = parse_paging(params)
    filters = get_catalog().filter_kwargs(params)
    space = active_space()
    vectors = product_vectors(product_id, space)
    hits = nearest_products(vectors, space, limit=limit, offset=offset, filters=filters, exclude=[product_id])
    return Page(hits, space.model_id, limit, offset)
