"""Keyword matching: each product's words (``catalog.text``) as a PostgreSQL ``tsvector`` with a
GIN index, and the filter that keeps the products containing a query's words.

CLIP sees what a picture shows; the words a shop writes (materials, names, brands, care) it
barely knows.  Hybrid search (``fusion.py``) fuses both.  A product save writes its document in
one statement.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.core.cache import caches
from django.db import DatabaseError, connection, transaction

from .catalog import get_catalog
from .conf import ShopClipConfigurationError, on_settings_change, shop_clip_settings
from .models import ProductDocument
from .planner import estimated_rows
from .read_db import read_connection

logger = logging.getLogger("shop_clip.keywords")

_DOCUMENT = "_shop_clip_document"  # the annotation's name: not a column a store is likely to have


def keyword_search_enabled() -> bool:
    """``SHOP_CLIP["KEYWORD_SEARCH"]`` and the product has text fields to match."""
    return bool(shop_clip_settings.KEYWORD_SEARCH and get_catalog().text_fields)


def refresh_documents(product_ids: Iterable[Any] | None = None) -> int:
    """Write the keyword documents of ``product_ids`` (``None``: every product) from
    ``catalog.text`` (the one definition of a product's words, as fine-tuning reads them), one
    ``INSERT`` per batch of ``DOCUMENT_BATCH`` products; returns the rows written."""
    catalog = get_catalog()
    if not catalog.text_fields:
        return 0
    products = catalog.product_queryset().order_by("pk")
    if product_ids is not None:
        ids = list(product_ids)
        if not ids:
            return 0
        products = products.filter(pk__in=ids)
    table = connection.ops.quote_name(ProductDocument._meta.db_table)
    forget_matching_ids()
    written, batch = 0, []
    for product in products.iterator(chunk_size=DOCUMENT_BATCH):
        batch.append((product.pk, catalog.text(product)))
        if len(batch) == DOCUMENT_BATCH:
            written += _write_documents(table, batch)
            batch = []
    return written + (_write_documents(table, batch) if batch else 0)


DOCUMENT_BATCH = 500


def _write_documents(table: str, rows: list[tuple[Any, str]]) -> int:
    values = ", ".join(["(%s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (product_id, document) "
                       f"SELECT v.id, to_tsvector(%s::regconfig, v.words) FROM (VALUES {values}) AS v(id, words) "
                       "ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document",
                       [shop_clip_settings.KEYWORD_CONFIG, *(part for row in rows for part in row)])
        return cursor.rowcount


def index_keywords(product_ids: list[Any]) -> None:
    """After products changed (``indexing.mark_pending``): their documents, in a savepoint, so a
    failure is logged and never breaks the store's save or import."""
    if not keyword_search_enabled():
        return
    try:
        with transaction.atomic():
            refresh_documents(product_ids)
    except DatabaseError as exc:  # the products are stored; `shop_clip_index --missing` catches up
        logger.error("%d products saved but their keywords were not indexed: %s; run "
                     "`python manage.py shop_clip_index --missing`", len(product_ids), exc)


def missing_document_ids() -> list[Any]:
    """Products without a keyword document (created in bulk, or before shop-clip was installed)."""
    model = get_catalog().product_model
    return list(model._default_manager.filter(clip_document__isnull=True).order_by().values_list("pk", flat=True))


class KeywordSyntaxError(ValueError):
    """A query's keyword syntax is more than PostgreSQL's parser takes; the message says what."""


def bounded_syntax(text: str) -> str:
    """``text`` with the web-search syntax PostgreSQL can parse: a run of ``-`` before a word is
    one ``-``, a ``-`` before nothing is dropped (32 stacked negations overflow its parser's
    stack), and KeywordSyntaxError past ``KEYWORD_MAX_OPERATORS`` operators (``-``, ``or``,
    quoted phrases)."""
    tokens = []
    for token in text.split():
        word = token.lstrip("-")
        if word.strip("-\"'"):  # punctuation alone is no word: a separator to the parser
            tokens.append(token if word == token else "-" + word)
    operators = sum(token.startswith("-") or token.lower() == "or" for token in tokens) + text.count('"') // 2
    most = shop_clip_settings.KEYWORD_MAX_OPERATORS
    if operators > most:
        raise KeywordSyntaxError(f"q has {operators} operators (-word, or, \"phrases\"); at most {most} are allowed")
    return " ".join(tokens)


def has_words(text: str) -> bool:
    """Whether ``text`` leaves keyword search a word to look for: operators alone, and words the
    text search configuration drops as too common ("the", "and"), leave none."""
    if not text.strip():
        return False
    with read_connection().cursor() as cursor:
        cursor.execute("SELECT numnode(websearch_to_tsquery(%s::regconfig, %s)) > 0",
                       [shop_clip_settings.KEYWORD_CONFIG, text])
        return cursor.fetchone()[0]


def keyword_filter(text: str) -> dict[str, Any]:
    """ORM filter kwargs on the product: every word of ``text`` (web-search syntax: ``"exact
    phrase"``, ``or``, ``-without``), stemmed by ``KEYWORD_CONFIG``, appears in its document.
    Words few enough products have for exact search are those products' keys (``matching_ids``)."""
    if not keyword_search_enabled():
        raise ShopClipConfigurationError("keyword search is off: SHOP_CLIP['KEYWORD_SEARCH'] is False or "
                                         "SHOP_CLIP['TEXT_FIELDS'] is empty")
    ids = matching_ids(text)
    if ids is not None:
        from .knn import KeyList

        return {f"{get_catalog().product_model._meta.pk.name}__in": KeyList(ids)}  # not pk__in: tag filters' key
    return {"clip_document__document": WordsQuery(text, config=shop_clip_settings.KEYWORD_CONFIG)}


class WordsQuery(SearchQuery):
    """A shopper's words as PostgreSQL's ``websearch_to_tsquery``, with a key of plain values for
    the statements compiled with it (``statements.plain_key``)."""

    def __init__(self, text: str, *, config: str) -> None:
        super().__init__(text, search_type="websearch", config=config)
        self.text, self.config_name = text, config

    def shop_clip_key(self) -> tuple:
        return self.text, self.config_name, self.invert


_MANY = "many"  # remembered for words more products have than exact search takes
_ESTIMATE_SLACK = 4  # words estimated in more than this many times exact search's products are not listed
_GENERATION = "shop_clip:words:generation"


def matching_ids(text: str) -> list[Any] | None:
    """The products whose documents have every word of ``text``, or None when more than exact
    search takes (``exact_search_max_rows``) have them.

    Remembered in the query cache for ``PLAN_CACHE_SECONDS``, as the scan plans are: the words'
    posting lists are most of an exact search's time (docs/decisions/filtered-search-at-1m.md).
    Writing any document forgets them all (``refresh_documents``); a list read from a replica
    that lags keeps its lag until it expires.
    """
    from .scan_plan import exact_search_max_rows, plan_generation

    seconds = shop_clip_settings.PLAN_CACHE_SECONDS
    if not seconds:
        return None
    cache = caches[shop_clip_settings.QUERY_CACHE_ALIAS]
    reader = read_connection()
    asked = (reader.settings_dict.get("NAME"), reader.alias, shop_clip_settings.KEYWORD_CONFIG, text,
             *(getattr(shop_clip_settings, name) for name in _THRESHOLDS))
    # The generation is read before the products: a list read while a document is being written
    # is kept under the generation that write ends.
    key = (f"shop_clip:words:{plan_generation()}:{cache.get(_GENERATION, 0)}:"
           + hashlib.sha1(repr(asked).encode()).hexdigest())
    remembered = cache.get(key)
    if remembered is None:
        most = exact_search_max_rows()
        remembered = _MANY
        if 0 < most and estimated_matches(text) <= _ESTIMATE_SLACK * most:  # else reading them is the cost
            table = reader.ops.quote_name(ProductDocument._meta.db_table)
            with reader.cursor() as cursor:
                cursor.execute(f"SELECT product_id FROM {table} WHERE document @@ "
                               "websearch_to_tsquery(%s::regconfig, %s) LIMIT %s",
                               [shop_clip_settings.KEYWORD_CONFIG, text, most + 1])
                ids = [row[0] for row in cursor.fetchall()]
            remembered = ids if len(ids) <= most else _MANY
        cache.set(key, remembered, seconds)
    return None if remembered == _MANY else remembered


_THRESHOLDS = ("EXACT_SEARCH_MAX_ROWS", "EXACT_SEARCH_MIN_ROWS", "EXACT_SEARCH_SELECTIVITY")


def forget_matching_ids() -> None:
    """Every process's remembered word lists forgotten: now, for this transaction's own reads,
    and when it commits, for a list another process read before it."""
    def forget() -> None:
        cache = caches[shop_clip_settings.QUERY_CACHE_ALIAS]
        cache.add(_GENERATION, 0, None)
        try:
            cache.incr(_GENERATION)
        except ValueError:  # evicted between the two calls
            cache.set(_GENERATION, 1, None)

    forget()
    transaction.on_commit(forget)


def look_up_words(text: str, product_ids: list[Any]) -> tuple[float, set[Any]]:
    """``(rarest_word_matches(text), which of product_ids have every word of text)`` in one
    statement.  The products are looked up by key, then their words checked: ``OFFSET 0`` keeps
    the planner off the words' index (docs/decisions/hybrid-search.md)."""
    reader = read_connection()
    table = reader.ops.quote_name(ProductDocument._meta.db_table)
    with reader.cursor() as cursor:
        cursor.execute(f"SELECT ARRAY(SELECT (unnest(to_tsvector(%s::regconfig, %s))).lexeme), "
                       f"ARRAY(SELECT product_id FROM (SELECT product_id, document FROM {table} "
                       f"WHERE product_id = ANY(%s) OFFSET 0) candidate "
                       f"WHERE document @@ websearch_to_tsquery(%s::regconfig, %s))",
                       [shop_clip_settings.KEYWORD_CONFIG, text, list(product_ids),
                        shop_clip_settings.KEYWORD_CONFIG, text])
        words, having = cursor.fetchone()
    return _rarest(words), set(having)


def rarest_word_matches(text: str) -> float:
    """About how many products have the rarest word of ``text`` (``inf`` without words)."""
    return look_up_words(text, [])[0]


_STATS_SECONDS = 300
_word_stats: dict[str, Any] = {"read_at": -_STATS_SECONDS}


@on_settings_change
def forget_word_stats() -> None:
    """Read the statistics again at the next query (KEYWORD_CONFIG stems words differently);
    runs when the settings change."""
    _word_stats.update(read_at=-_STATS_SECONDS)


def _rarest(words: list[str]) -> float:
    """From the keyword column's statistics (its most common lexemes and their frequencies, read
    at most every five minutes per process): a word not among them is rarer than all of them."""
    if not words:
        return float("inf")
    if time.monotonic() - _word_stats["read_at"] > _STATS_SECONDS:
        _read_word_stats()
    counts, rows, floor = _word_stats["counts"], _word_stats["rows"], _word_stats["floor"]
    return min(counts.get(word, floor) for word in words) * rows


def _read_word_stats() -> None:
    table = ProductDocument._meta.db_table
    reader = read_connection()
    with reader.cursor() as cursor:
        cursor.execute("SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                       "WHERE tablename = %s AND attname = 'document' AND schemaname = ANY(current_schemas(false)) "
                       "LIMIT 1", [table])
        row = cursor.fetchone()
        cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass",
                       [reader.ops.quote_name(table)])
        rows = cursor.fetchone()[0]
    elements, frequencies = row if row and row[0] else ([], [])
    # The frequencies end with the least and the greatest frequency and the null share; a word
    # not listed is rarer than the least (no statistics yet: a new table, every word counts as rare).
    floor = frequencies[len(elements)] if elements else 0.0
    _word_stats.update(read_at=time.monotonic(), rows=rows, floor=floor,
                       counts=dict(zip(elements, frequencies[:len(elements)], strict=True)))


def estimated_matches(text: str) -> int:
    """PostgreSQL's estimate of how many products contain every word of ``text`` (from the
    column's lexeme statistics; no rows are read)."""
    query = SearchQuery(text, search_type="websearch", config=shop_clip_settings.KEYWORD_CONFIG)
    return estimated_rows(ProductDocument.objects.filter(document=query).values("pk"))


def check_config() -> str | None:
    """A problem with ``KEYWORD_CONFIG`` (for the system checks), or None."""
    if not shop_clip_settings.KEYWORD_SEARCH:
        return None
    with connection.cursor() as cursor:
        name = shop_clip_settings.KEYWORD_CONFIG.rsplit(".", 1)[-1]  # "pg_catalog.english" is "english"
        cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute("SELECT string_agg(cfgname, ', ' ORDER BY cfgname) FROM pg_ts_config")
            names = cursor.fetchone()[0]
            return (f"SHOP_CLIP['KEYWORD_CONFIG'] = {shop_clip_settings.KEYWORD_CONFIG!r} is not a PostgreSQL "
                    f"text search configuration; choose one of: {names}")
    return None
