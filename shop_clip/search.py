"""Text search (vector, keyword, hybrid), visual search and look-alikes: KNN queries with the store's filters.

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
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from PIL import Image

from .catalog import get_catalog, has_control_characters
from .conf import shop_clip_settings
from .encoders import get_encoder
from .hnsw import distance_sql, halfvec_literals
from .keywords import (
    KeywordSyntaxError,
    bounded_syntax,
    estimated_matches,
    keyword_filter,
    keyword_search_enabled,
    look_up_words,
)
from .models import EmbeddingSpace, ProductFlag, ProductVector
from .spaces import active_space
from .tag_rules import hidden_flag_kinds, tag_filter_kwargs

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


MAX_OFFSET = 10_000  # deeper pages cost a KNN query of offset + limit rows


def parse_paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``limit``/``offset`` from query parameters, validated."""
    try:
        limit = int(params.get("limit") or shop_clip_settings.DEFAULT_LIMIT)
        offset = int(params.get("offset") or 0)
    except (TypeError, ValueError) as exc:
        raise QueryError("limit and offset must be whole numbers") from exc
    if not 1 <= limit <= shop_clip_settings.MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {shop_clip_settings.MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"offset must be between 0 and {MAX_OFFSET}")
    return limit, offset


def clean_query(text: str | None) -> str:
    """The shopper's words with control characters (NUL among them) and runs of white space made
    single spaces; QueryError when nothing is left or too much is."""
    text = " ".join("".join(" " if has_control_characters(char) else char for char in text or "").split())
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
    keeps scanning until enough rows pass the filters, so a filter still fills the page.  Filters
    that match only a few products are searched exactly instead (see ``search_exactly``).
    """
    ranked = nearest_ids(vectors, space, wanted=offset + limit, filters=filters, exclude=exclude)[offset:]
    return _hits(ranked)


def nearest_ids(
    vectors: np.ndarray | Sequence[np.ndarray], space: EmbeddingSpace, *, wanted: int,
    filters: Mapping[str, Any] | None = None, exclude: Iterable[Any] = (), exact: bool | None = None,
) -> list[tuple[Any, float]]:
    """``(product_id, distance)`` of the ``wanted`` nearest products, nearest first (see
    ``nearest_products``).  ``exact``: search every matching row; None: ``search_exactly`` decides."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if vectors.shape[1] != space.dim:
        raise QueryError(f"query vector has {vectors.shape[1]} dimensions, the index {space.dim}")
    # With several images per product, one product can take several of the nearest rows.
    factor = 1 if get_catalog().image_model is None else 3
    fetch = wanted * factor
    filters = filters or {}
    if exact is None:
        exact = search_exactly(filters)
    while True:
        best = _best_distances(vectors, space, fetch, filters, list(exclude), exact=exact)
        if len(best.rows) >= wanted or not best.truncated:
            break
        fetch *= 2
    # The order of the SQL (distance, then product id), so pages agree on ties (duplicate images).
    return sorted(best.rows.items(), key=lambda item: (item[1], item[0]))[:wanted]


def _hits(ranked: Sequence[tuple[Any, float]]) -> list[Hit]:
    """Hits for ``(product_id, distance)`` pairs, in their order, with the products in one query."""
    products = get_catalog().product_queryset().in_bulk([pid for pid, _ in ranked])
    return [Hit(products[pid], 1.0 - distance) for pid, distance in ranked if pid in products]


@dataclass
class _Best:
    rows: dict[Any, float]
    truncated: bool


def search_exactly(filters: Mapping[str, Any]) -> bool:
    """Whether ``filters`` match so few products that exact search is both needed and affordable.

    HNSW finds filtered neighbours approximately, and the fewer rows match the worse: at 100k
    products recall@10 was 0.98 for a 5% filter, 0.76 for 2%, 0.61 for 1% (bench/search.py).
    Computing every matching row's distance is exact, at a cost that grows with the matches
    (about 5 ms for 1,000 rows, 70 ms for 10,000 on 2 cores).  Counts at most the threshold.
    """
    if not filters or shop_clip_settings.HNSW_ITERATIVE_SCAN == "off":
        return False
    most = _exact_search_max_rows()
    # No ordering: counting then stops at the threshold (an index-only scan where there is one).
    products = _countable(filters).order_by()
    return most > 0 and products[:most + 1].count() <= most


def _countable(filters: Mapping[str, Any]) -> QuerySet:
    """The rows whose count is the number of products ``filters`` match.

    Tag filters alone (``tag_filter_kwargs``: a subquery of distinct product ids) are counted in
    the tag index without the product table. At 1M products (tag table vacuumed), counting to
    10,001 took 0.9 ms instead of 11 for ``?colour=red``, and 13 ms instead of 53 with
    ``&pattern=striped``.
    """
    if set(filters) == {"pk__in"} and isinstance(filters["pk__in"], QuerySet):
        return filters["pk__in"]
    return get_catalog().product_model._default_manager.filter(**filters)


def _exact_search_max_rows() -> int:
    model = get_catalog().product_model
    with connection.cursor() as cursor:  # the count of the last ANALYZE: free, and close enough
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    most = shop_clip_settings.EXACT_SEARCH_MAX_ROWS
    if row is None or row[0] < 0:  # never analyzed: a new, small catalog
        return most
    # A share of the catalog, but never under EXACT_SEARCH_MIN_ROWS: HNSW's recall follows the
    # number of matches as much as their share (2,000 of 20,000 products: 0.94).
    share = int(row[0] * shop_clip_settings.EXACT_SEARCH_SELECTIVITY)
    return min(most, max(shop_clip_settings.EXACT_SEARCH_MIN_ROWS, share))


def query_settings(fetch: int, *, exact: bool = False) -> dict[str, str]:
    """Settings for a KNN query that wants ``fetch`` rows (applied with SET LOCAL)."""
    if exact:
        # Few products match: reach them through the filter's index where it has one.  The
        # planner's default costs assume disk reads and may scan the whole product table instead
        # (19 ms against 5 ms for a 1% price range at 100k products).
        return {"enable_seqscan": "off"}
    return {
        "hnsw.iterative_scan": shop_clip_settings.HNSW_ITERATIVE_SCAN,
        "hnsw.ef_search": str(max(shop_clip_settings.HNSW_EF_SEARCH, min(fetch, 1000))),
        "hnsw.max_scan_tuples": str(shop_clip_settings.HNSW_MAX_SCAN_TUPLES),
        # Filters that reach the index match many products: walking the index in distance order
        # beats the filter-first plan the planner may estimate cheaper (e.g. 3 ms against 37 ms
        # for a 10% filter at 100k products).  The index scan is then the only way to that order.
        "enable_sort": "off",
    }


def set_local(cursor, values: Mapping[str, str]) -> None:
    """SET LOCAL several settings in one round trip (they end with the transaction)."""
    calls = ", ".join("set_config(%s, %s, true)" for _ in values)
    cursor.execute(f"SELECT {calls}", [part for item in values.items() for part in item])


def knn_queryset(vector: np.ndarray, space: EmbeddingSpace, fetch: int, filters: Mapping[str, Any],
                 exclude: Sequence[Any] = (), *, exact: bool = False) -> QuerySet:
    """The one KNN query: ``(product_id, distance)`` of the ``fetch`` nearest rows passing the filters.

    ``filters`` are ORM lookups on the product (``{"price__lte": 20}``), as ``filter_kwargs`` gives.
    ``exact``: every matching row's distance is computed (no index), ties ordered by product.
    """
    rows = ProductVector.objects.filter(space=space, dim=space.dim, embedding__isnull=False,
                                        **{f"product__{k}": v for k, v in filters.items()})
    if exclude:
        rows = rows.exclude(product_id__in=list(exclude))
    hidden = hidden_flag_kinds()
    if hidden:  # open moderation flags of these kinds keep a product away from shoppers
        rows = rows.exclude(product_id__in=ProductFlag.objects.filter(
            space=space, kind__in=hidden, reviewed_at__isnull=True).values("product_id"))
    text = halfvec_literals(vector)[0]
    order = ("distance", "product_id") if exact else ("distance",)
    return (rows.annotate(distance=RawSQL(distance_sql(space.dim, exact=exact), [text]))
            .order_by(*order).values_list("product_id", "distance")[:fetch])


def _best_distances(vectors: np.ndarray, space: EmbeddingSpace, fetch: int, filters: Mapping[str, Any],
                    exclude: list[Any], *, exact: bool) -> _Best:
    best: dict[Any, float] = {}
    truncated = False
    nested = connection.in_atomic_block
    settings = query_settings(fetch, exact=exact)
    with transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, settings)
        for vector in vectors:
            rows = list(knn_queryset(vector, space, fetch, filters, exclude, exact=exact))
            truncated |= len(rows) == fetch
            for pid, distance in rows:
                if distance < best.get(pid, float("inf")):
                    best[pid] = distance
        if nested:  # SET LOCAL lasts until the outer transaction ends: the caller's queries get the defaults
            cursor.execute("SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name = ANY(%s)",
                           [list(settings)])
    return _Best(best, truncated)


def shopper_filters(params: Mapping[str, str], space: EmbeddingSpace) -> dict[str, Any]:
    """ORM filter kwargs on the product from query parameters: the store's filters and tag filters."""
    return {**get_catalog().filter_kwargs(params), **tag_filter_kwargs(params, space)}


def _page(params: Mapping[str, str] | None, query_vectors, exclude: Iterable[Any] = ()) -> Page:
    """Paging and filters from ``params``, then the nearest products to ``query_vectors(space)``."""
    return _ranked_page(params, lambda space, filters, wanted: nearest_ids(
        query_vectors(space), space, wanted=wanted, filters=filters, exclude=exclude))


def _ranked_page(params: Mapping[str, str] | None, rank) -> Page:
    """Paging and filters from ``params``, then the page of ``rank(space, filters, wanted)``, a
    ``(product_id, distance)`` list of at least ``offset + limit`` products, best first."""
    params = params or {}
    limit, offset = parse_paging(params)
    space = active_space()
    ranked = rank(space, shopper_filters(params, space), offset + limit)
    return Page(_hits(ranked[offset:offset + limit]), space.model_id, limit, offset)


SEARCH_MODES = ("hybrid", "vector", "keyword")


def search_mode(params: Mapping[str, str]) -> str:
    """``?mode=``: ``hybrid`` (the default where keyword search is on), ``vector`` or ``keyword``."""
    default = "hybrid" if keyword_search_enabled() else "vector"
    mode = (params.get("mode") or default).strip().lower()
    if mode not in SEARCH_MODES:
        raise QueryError(f"mode must be one of {', '.join(SEARCH_MODES)}")
    if mode != "vector" and not keyword_search_enabled():
        raise QueryError(f"mode={mode} needs keyword search, which this store has turned off; use mode=vector")
    return mode


def search_text(query: str, params: Mapping[str, str] | None = None) -> Page:
    """Natural-language search with the store's filters and paging from ``params``.

    ``mode`` (see ``search_mode``): ``vector`` ranks products by how close their images are to
    the query's meaning; ``keyword`` keeps the products whose text contains every word of the
    query and ranks them the same way; ``hybrid`` fuses the two rankings (reciprocal rank
    fusion, see ``hybrid_rankings``), so a product that both looks right and says so comes
    first, and a name or material no picture shows still finds its products.  A hit's score is
    always its cosine similarity.
    """
    mode = search_mode(params or {})
    query = clean_query(query)
    if mode != "vector":
        words = keyword_text(query)
    if mode == "vector":
        return _page(params, lambda space: encode_query(query, space))

    def rank(space: EmbeddingSpace, filters: Mapping[str, Any], wanted: int) -> list[tuple[Any, float]]:
        vector = encode_query(query, space)
        if mode == "keyword":
            return keyword_nearest_ids(words, vector, space, wanted=wanted, filters=filters)
        rankings = hybrid_rankings(words, vector, space, wanted=wanted, filters=filters)
        return fuse_rankings(rankings, k=shop_clip_settings.KEYWORD_RRF_K)

    return _ranked_page(params, rank)


def keyword_text(query: str) -> str:
    """``query`` as keyword search reads it (``keywords.bounded_syntax``); QueryError when its
    operators are more than PostgreSQL's query parser takes."""
    try:
        return bounded_syntax(query)
    except KeywordSyntaxError as exc:
        raise QueryError(str(exc)) from exc


def hybrid_rankings(text: str, vector: np.ndarray, space: EmbeddingSpace, *, wanted: int,
                    filters: Mapping[str, Any]) -> list[tuple[list[tuple[Any, float]], float]]:
    """The two ``(ranking, weight)`` pairs hybrid search fuses: the nearest products, and the
    nearest of those with every word of ``text``.

    A query with a rare word (a name, a brand: at most ``KEYWORD_EXACT_MAX_ROWS`` products have
    it, by the column's statistics) ranks every product with its words exactly, wherever the
    picture puts them.  Otherwise the words are looked for among the ``KEYWORD_CANDIDATES``
    nearest products only, by key: at 1M products, ranking every match of a word 1% have took
    50-75 ms, and the index lookup of four common words alone 17 ms, while a match farther away
    than the candidates would hardly reach the page.
    """
    depth = max(wanted, shop_clip_settings.KEYWORD_DEPTH)
    most = shop_clip_settings.KEYWORD_EXACT_MAX_ROWS
    candidates = nearest_ids(vector, space, wanted=max(depth, shop_clip_settings.KEYWORD_CANDIDATES),
                             filters=filters)
    rarest, having = look_up_words(text, [pid for pid, _ in candidates])
    if rarest <= most and estimated_matches(text) <= most:
        matches = nearest_ids(vector, space, wanted=depth, filters={**filters, **keyword_filter(text)}, exact=True)
    else:
        matches = [pair for pair in candidates if pair[0] in having][:depth]
    return [(candidates[:depth], 1.0), (matches, shop_clip_settings.KEYWORD_WEIGHT)]


def keyword_nearest_ids(text: str, vector: np.ndarray, space: EmbeddingSpace, *, wanted: int,
                        filters: Mapping[str, Any]) -> list[tuple[Any, float]]:
    """``nearest_ids`` among the products whose text has every word of ``text``."""
    return nearest_ids(vector, space, wanted=wanted, filters={**filters, **keyword_filter(text)},
                       exact=keyword_search_exactly(text, filters))


def keyword_search_exactly(text: str, filters: Mapping[str, Any]) -> bool | None:
    """``search_exactly`` for the products with every word of ``text`` and ``filters``; None:
    count them as ``search_exactly`` does.

    From PostgreSQL's estimate of the words' matches (its statistics of a ``tsvector`` column
    count lexemes: 9,980 estimated for 9,900 at 100k), where the bounded count joined every match
    to the product table (9 ms for a common word at 100k, against 0.5 ms for the estimate).  Few
    estimated matches: exact, right however many the store's filters leave; many, and filters:
    those may still leave few, so they are counted.
    """
    if shop_clip_settings.HNSW_ITERATIVE_SCAN == "off":
        return False
    if estimated_matches(text) <= _exact_search_max_rows():
        return True
    return False if not filters else None


def fuse_rankings(rankings: Sequence[tuple[Sequence[tuple[Any, float]], float]], *, k: int) -> list[tuple[Any, float]]:
    """Reciprocal rank fusion: ``(ranking, weight)`` pairs of ``(product_id, distance)`` lists in,
    one ``(product_id, distance)`` list out, by the sum of ``weight / (k + rank)`` over the
    rankings a product is in (ties: the nearer first, then the lower id, so pages agree)."""
    fused: dict[Any, float] = {}
    distances: dict[Any, float] = {}
    for ranking, weight in rankings:
        for rank, (pid, distance) in enumerate(ranking, start=1):
            fused[pid] = fused.get(pid, 0.0) + weight / (k + rank)
            distances[pid] = distance
    order = sorted(fused, key=lambda pid: (-fused[pid], distances[pid], pid))
    return [(pid, distances[pid]) for pid in order]


def search_image(image: Image.Image, params: Mapping[str, str] | None = None) -> Page:
    """Visual search: products that look like an uploaded photo."""
    return _page(params, lambda space: get_encoder(model=space.model_ref).encode_images([image])[0])


def product_vectors(product_id: Any, space: EmbeddingSpace) -> np.ndarray:
    """The embedded image vectors of one product; NotEmbedded if it has none yet."""
    rows = list(ProductVector.objects.filter(product_id=product_id, space=space, embedding__isnull=False)
                .values_list("embedding", flat=True))
    if not rows:
        states = list(ProductVector.objects.filter(product_id=product_id, space=space)
                      .values_list("status", "error"))
        if any(status == Status.FAILED for status, _ in states):
            # The stored reason can name storage paths: staff read it in the admin and in
            # `shop_clip_status --failed`, shoppers only that there is none.
            raise NotEmbedded(f"product {product_id} has no vector: its image could not be embedded")
        if states:
            raise NotEmbedded(f"product {product_id} is not embedded yet (pending); try again shortly")
        raise NotEmbedded(f"product {product_id} has no image to compare, or is not indexed: "
                          "run `python manage.py shop_clip_index --missing`")
    return np.asarray(rows, dtype=np.float32)


def similar_products(product_id: Any, params: Mapping[str, str] | None = None) -> Page:
    """Look-alikes of one product, never the product itself."""
    return _page(params, lambda space: product_vectors(product_id, space), exclude=[product_id])
