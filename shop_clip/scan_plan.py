"""Whether a KNN query walks the HNSW index or computes every matching row's distance: decided
once per query from how many products its restriction leaves, and passed down as a value.

HNSW finds filtered neighbours approximately, and the fewer rows match the worse; computing
every matching row's distance is exact, at a cost that grows with the matches
(docs/decisions/exact-or-index.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from django.core.cache import caches
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

from .catalog import get_catalog
from .conf import shop_clip_settings
from .hnsw import BINARY
from .read_db import read_alias, read_connection
from .statements import remembered

if TYPE_CHECKING:
    from .knn import Restriction
    from .models import EmbeddingSpace


class ScanPlan(Enum):
    INDEX = "index"  # the HNSW index, with pgvector's iterative scan past filtered rows
    EXACT = "exact"  # every matching row's distance, through the filters' own indexes


def plan_for(restriction: Restriction, space: EmbeddingSpace | None = None, *, recount: bool = False) -> ScanPlan:
    """EXACT when the restriction leaves so few products that exact search is both needed and
    affordable (at most ``exact_search_max_rows`` for ``space``, counted no further than that).

    The plan of a restriction counted in the last ``PLAN_CACHE_SECONDS`` is remembered in the
    query cache (``QUERY_CACHE_ALIAS``), since a store's shoppers repeat its filters; ``recount``:
    count again, as ``knn.nearest`` does when the index leaves a page short."""
    if not restriction or shop_clip_settings.HNSW_ITERATIVE_SCAN == "off":
        return ScanPlan.INDEX
    most = exact_search_max_rows(space)
    if most <= 0:
        return ScanPlan.INDEX

    def products() -> QuerySet:
        # No ordering: counting then stops at the threshold (an index-only scan where there is one).
        return restriction.product_ids(approximate=True)[:most + 1]  # close enough to choose a plan

    try:
        key = _remembered_key(restriction, most, lambda: _plan_key(products()))
    except EmptyResultSet:  # the ORM knows no product passes (``pk__in=[]``): nothing to count
        return ScanPlan.EXACT
    cache = caches[shop_clip_settings.QUERY_CACHE_ALIAS]
    seconds = shop_clip_settings.PLAN_CACHE_SECONDS
    known = cache.get(key) if seconds and not recount else None
    if known is not None:
        return ScanPlan(known)
    plan = ScanPlan.EXACT if products().count() <= most else ScanPlan.INDEX
    if seconds:
        cache.set(key, plan.value, seconds)
    return plan


_generation = [0]  # a part of every key: forget_plans makes each earlier one unreachable


def forget_plans() -> None:
    """Every plan (and word list, ``keywords.matching_ids``) this process remembered forgotten,
    as for a test whose rows were rolled back.  The key holds every setting a plan depends on (the
    threshold is the count's LIMIT); data changes do not."""
    _generation[0] += 1


def plan_generation() -> int:
    """A part of every remembered plan's and word list's key."""
    return _generation[0]


def _remembered_key(restriction: Restriction, most: int, make: Callable[[], str]) -> str:
    """``make()``, the plan's key, remembered for a restriction of plain values (``statements``):
    compiling the count is most of the time a remembered plan takes."""
    key, catalog = restriction.key(), get_catalog()
    catalog_key = catalog.statement_key()
    if key is None or catalog_key is None:
        return make()
    return remembered(("plan", _generation[0], most, read_alias(), id(catalog), catalog_key, key), make)


def _plan_key(products) -> str:
    """The count's statement and the database it runs on: the same filters give the same key."""
    sql, params = products.query.sql_with_params()
    statement = (connections[products.db].settings_dict.get("NAME"), products.db, sql, tuple(map(repr, params)))
    return f"shop_clip:plan:{_generation[0]}:" + hashlib.sha1(repr(statement).encode()).hexdigest()


def plan_for_words(words: str, restriction: Restriction, space: EmbeddingSpace | None = None) -> ScanPlan:
    """``plan_for`` the products with every word of ``words`` within ``restriction``.

    From PostgreSQL's estimate of the words' matches (its statistics of the ``tsvector`` column),
    where a bounded count would join every match to the product table, and the remembered list of
    their products (``keywords.matching_ids``): few matches are searched exactly whatever the other
    filters leave; many, with nothing else restricting, walk the index; many with filters are
    counted, since the filters may still leave few.
    """
    from .keywords import estimated_matches, keyword_filter, matching_ids

    if shop_clip_settings.HNSW_ITERATIVE_SCAN == "off":
        return ScanPlan.INDEX
    if estimated_matches(words) <= exact_search_max_rows(space) or matching_ids(words) is not None:
        return ScanPlan.EXACT
    if not restriction:
        return ScanPlan.INDEX
    return plan_for(restriction.narrowed(**keyword_filter(words)), space)


def exact_search_max_rows(space: EmbeddingSpace | None = None) -> int:
    """The most products a restriction may leave for exact search: a share of the catalog, within
    ``EXACT_SEARCH_MIN_ROWS`` and ``EXACT_SEARCH_MAX_ROWS`` (``BINARY_INDEX["EXACT_SEARCH_MAX_ROWS"]``
    for a space with a binary index, whose filtered scans need CANDIDATES rows that pass, not 10)."""
    most = shop_clip_settings.EXACT_SEARCH_MAX_ROWS
    if space is not None and space.index_kind == BINARY:
        most = int(shop_clip_settings.BINARY_INDEX["EXACT_SEARCH_MAX_ROWS"])
    if shop_clip_settings.EXACT_SEARCH_MIN_ROWS >= most:  # the catalog's size cannot move it: no query
        return most
    model = get_catalog().product_model
    connection = read_connection()
    with connection.cursor() as cursor:  # the count of the last ANALYZE: free, and close enough
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    if row is None or row[0] < 0:  # never analyzed: a new, small catalog
        return most
    share = int(row[0] * shop_clip_settings.EXACT_SEARCH_SELECTIVITY)
    return min(most, max(shop_clip_settings.EXACT_SEARCH_MIN_ROWS, share))


def query_settings(fetch: int, plan: ScanPlan = ScanPlan.INDEX) -> dict[str, str]:
    """Settings for a KNN query that wants ``fetch`` rows (applied with SET LOCAL)."""
    if plan is ScanPlan.EXACT:
        # Reach the few matching rows through the filter's index where it has one: the planner's
        # default costs assume disk reads and may scan the whole product table instead.
        exact = {"enable_seqscan": "off"}
        if shop_clip_settings.EXACT_SEARCH_WORKERS is not None:
            exact["max_parallel_workers_per_gather"] = str(int(shop_clip_settings.EXACT_SEARCH_WORKERS))
        return exact
    return {
        "hnsw.iterative_scan": shop_clip_settings.HNSW_ITERATIVE_SCAN,
        "hnsw.ef_search": str(max(shop_clip_settings.HNSW_EF_SEARCH, min(fetch, 1000))),
        "hnsw.max_scan_tuples": str(shop_clip_settings.HNSW_MAX_SCAN_TUPLES),
        # Filters that reach the index match many products: walking the index in distance order
        # beats the filter-first plan the planner may estimate cheaper.
        "enable_sort": "off",
    }
