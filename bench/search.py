"""Search: load a synthetic catalog, build the HNSW index, then time KNN in SQL and over HTTP.

1. Load: ``--products`` products and one 512-d vector each (clustered unit vectors, like CLIP
   embeddings: a few hundred category centres, shared attribute directions, noise), by binary COPY
   with the HNSW index dropped, then the index is built with the app's settings (m, ef_construction)
   and the build time, table and index sizes are reported.  Titles are four words ("red striped
   cotton boots"); their keyword documents are written as ``shop_clip_index`` writes them, and
   each product is tagged with its title's colour and pattern (the demo store's TAGS).
2. SQL: ``shop_clip.knn.nearest`` (the real code path) and its bare SQL, for plain KNN and
   for API filters matching 50% (in_stock), 10% (category) and 1% (price range) of products, for
   keyword filters (``mode=keyword``) matching 10%, 1% and 0.1%, and for zero-shot tag filters
   (``?colour=red``: 10%, with ``&pattern=striped``: 2%), none of them correlated with the
   vectors; iterative index scans off, strict_order (the default, which searches selective
   filters exactly), strict_order on the index alone, and relaxed_order;
   p50/p99, rows returned, recall@10 against exact search (numpy over the same half-precision
   vectors, cross-checked on a sample against PostgreSQL with index scans off).
   ``--fresh``: every filter under the defaults from a cold server (PostgreSQL restarted, the OS
   page cache dropped: each query reads what none read before it, as after a build) and then warm
   (the same queries again); ``--prewarm`` adds a cold pass that loads the index by pg_prewarm first.
   ``--second-space``: the same catalog with a second 512-d space (another model's vectors for the
   same products, its own index), in a file copy of the database, so the active index is the same
   graph in both; the fresh and warm table then runs both databases, query by query in turn.
   ``--binary``: an HNSW index over ``binary_quantize`` of the active space's vectors (``--binary-m``;
   ``--binary-centred``: of their differences from the space's mean), its hamming-nearest candidates
   re-ranked by the halfvec distance, against the halfvec index.
3. HTTP: gunicorn on 127.0.0.1 and a bounded threaded load generator: ``search/`` with the query
   embedding cached (a few queries repeat; hybrid, the default, and ``mode=vector``) and not cached
   (every query new), ``products/<pk>/similar/`` and ``complete-the-look/``; p50/p99 and throughput.

    python bench/search.py                                    # 100k products (about 4 minutes)
    python bench/search.py --products 1000000                 # the documented 1M run (about 15 minutes)
    python bench/search.py --products 1000000 --reuse         # re-measure, keeping the loaded catalog
    python bench/search.py --products 2000 --queries 20 --duration 1 --drop --json /tmp/s.json   # smoke
    python bench/search.py --products 1000000 --reuse --skip-http --fresh --second-space --binary \
        --json bench/results/search_1m_two_spaces.json         # issue 17: cold/warm, two spaces, binary

Each size has its own database, ``shop_clip_bench_<size>``, on the embedded (or ``BENCH_DATABASE_URL``)
server; ``--drop`` drops it afterwards.

Numbers go to ``bench/results/search_<size>.json`` unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import random
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import (  # noqa: E402
    RESULTS,
    Load,
    Server,
    add_database,
    clone_database,
    drop_database,
    drop_os_caches,
    huge_pages_reserved,
    latency_summary,
    machine,
    print_table,
    release_huge_pages,
    restart_postgres,
    run_load,
    setup_django,
    write_json,
)

DIM = 512
LIMIT = 10
ROUND_SECONDS = 2.5  # HTTP scenarios alternate in rounds this long
TIE_EPS = 1e-5  # distances within this of the exact k-th count as found (half-precision ties)
# (label, SHOP_CLIP overrides): iterative scans off and on; "hnsw only" is strict_order without the
# exact search of selective filters, to show what that adds.
MODES = (
    ("off", {"HNSW_ITERATIVE_SCAN": "off"}),
    ("strict_order", {"HNSW_ITERATIVE_SCAN": "strict_order"}),
    ("strict, hnsw only", {"HNSW_ITERATIVE_SCAN": "strict_order", "EXACT_SEARCH_SELECTIVITY": 0}),
    ("relaxed_order", {"HNSW_ITERATIVE_SCAN": "relaxed_order"}),
)
DEFAULT_MODE = "strict_order"  # the app's defaults
# The search settings before issue 17: exact search up to 10,000 matches, the server's parallel workers.
BEFORE = {"EXACT_SEARCH_MAX_ROWS": 10_000, "EXACT_SEARCH_WORKERS": None}
CATEGORY_10 = "bench-10pct"
GROUPS = 20  # the other categories follow the vector clusters, as real categories do
# Product titles: "{colour} {pattern} {material} {noun}", each word drawn independently (so a
# query's words match 10%, 1%, 0.1% ... of products), none of them correlated with the vectors.
TITLE_WORDS = {
    "colour": ("red", "blue", "green", "black", "white", "yellow", "grey", "pink", "brown", "orange"),
    "pattern": ("striped", "checked", "floral", "dotted", "plain"),
    "material": ("cotton", "wool", "leather", "linen", "silk", "denim", "canvas", "suede"),
    "noun": ("boots", "dress", "shirt", "scarf", "bag", "lamp", "mug", "vase", "jacket", "sneakers"),
}
KEYWORDS = "keywords"  # a FILTERS parameter: the words of a keyword (or hybrid) search
# Zero-shot tags as the demo store's TAG_FILTERS see them (?colour=red&pattern=striped): each
# product tagged with its title's colour and pattern, as a perfect tagger would.
TAG_GROUPS = {"colour": "colour", "pattern": "pattern"}  # tag group -> TITLE_WORDS key
TAG_LABELS = {"dotted": "polka-dot", "plain": "solid"}  # title word -> demo tag label, where they differ
TAG_WORDS = {label: word for word, label in TAG_LABELS.items()}
# (name, API query parameters): none of the filters is correlated with the vectors.
FILTERS = (
    ("none", {}),
    ("50%", {"in_stock": "true"}),
    ("10%", {"category": CATEGORY_10}),
    ("1%", {"min_price": "500", "max_price": "509.99"}),
    ("0.5%", {"min_price": "500", "max_price": "504.99"}),
    ("0.2%", {"min_price": "500", "max_price": "501.99"}),
    ("words 10%", {KEYWORDS: "boots"}),
    ("words 1%", {KEYWORDS: "red boots"}),
    ("words 0.1%", {KEYWORDS: "red leather boots"}),
    ("tag 10%", {"colour": "red"}),
    ("tags 2%", {"colour": "red", "pattern": "striped"}),
)
NOTES = {
    "sql.ratio": "p50 of knn.nearest() over p50 of its bare SQL (Django, transaction, settings, products)",
    "fresh.overrides": "a variant with SHOP_CLIP overrides (--before, --also) enters override_settings before each "
                       "query, which forgets the remembered statements: it compiles every query, where the "
                       "variants without overrides compile a filter once, as a running server does",
    "sql.path": "hnsw: the index with the filter applied as rows come; exact: every matching row's distance",
    "sql.full_pages": "share of queries answered with `limit` rows (all of them match more than `limit`)",
    "http.ratio": "p50 over the p50 of search/ with a cached query embedding at the same number of clients",
    "http.latency": "under load: `clients` requests always in flight over `workers` sync workers, so p50 "
                    "includes waiting for a free worker (about clients / throughput)",
    "sizes": "bytes; table_bytes is the vector table (heap + TOAST), index_bytes the HNSW index alone",
}
# In hybrid search (the default) their words match from 10% ("boots") to 0.01% of the products.
CACHED_QUERIES = ("red striped cotton shirt", "blue leather boots", "white mug", "green wool scarf",
                  "black lamp", "boots", "brown leather bag", "grey suede sneakers")
WORDS = ("red", "blue", "green", "black", "white", "striped", "checked", "cotton", "wool", "leather",
         "shirt", "dress", "boots", "mug", "lamp", "scarf", "bag", "vase", "jacket", "sneakers")


# -- the synthetic catalog ---------------------------------------------------------------------
@dataclass
class VectorModel:
    """Clustered unit vectors: mean direction + cluster centre + shared attribute subspace + noise."""

    centres: np.ndarray
    mean: np.ndarray
    basis: np.ndarray
    scales: np.ndarray

    @classmethod
    def create(cls, clusters: int, seed: int, rank: int = 64) -> VectorModel:
        rng = np.random.default_rng(seed)
        centres = _unit(rng.standard_normal((clusters, DIM)))
        mean = _unit(rng.standard_normal((1, DIM)))[0]
        basis = np.linalg.qr(rng.standard_normal((DIM, rank)))[0].astype(np.float32)
        scales = 1 / np.sqrt(1 + np.arange(rank, dtype=np.float32))
        return cls(centres, mean, basis, (scales / np.linalg.norm(scales)).astype(np.float32))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` half-precision unit vectors and their cluster numbers."""
        cluster = rng.integers(len(self.centres), size=n)
        attributes = (rng.standard_normal((n, len(self.scales)), dtype=np.float32) * self.scales) @ self.basis.T
        noise = rng.standard_normal((n, DIM), dtype=np.float32)
        x = 0.7 * self.mean + self.centres[cluster] + 0.8 * attributes + 0.02 * noise
        return _unit(x).astype(np.float16), cluster


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class Catalog:
    """What was loaded: product ``i + 1`` has vector ``vectors[i]`` and these attributes."""

    vectors: np.ndarray  # (n, DIM) float16
    cluster: np.ndarray
    in_stock: np.ndarray
    in_category_10: np.ndarray
    price_cents: np.ndarray
    words: dict[str, np.ndarray]  # TITLE_WORDS key -> each product's word number

    def title(self, i: int) -> str:
        return " ".join(TITLE_WORDS[key][self.words[key][i]] for key in TITLE_WORDS)

    @classmethod
    def generate(cls, products: int, clusters: int, seed: int) -> Catalog:
        model = VectorModel.create(clusters, seed)
        rng = np.random.default_rng(seed + 1)
        chunks = [model.sample(rng, min(50_000, products - start)) for start in range(0, products, 50_000)]
        attributes = np.random.default_rng(seed + 2)
        return cls(
            vectors=np.concatenate([c[0] for c in chunks]), cluster=np.concatenate([c[1] for c in chunks]),
            in_stock=attributes.random(products) < 0.5, in_category_10=attributes.random(products) < 0.1,
            price_cents=attributes.integers(100, 100_000, size=products),
            words={key: attributes.integers(len(options), size=products) for key, options in TITLE_WORDS.items()},
        )

    def __len__(self) -> int:
        return len(self.vectors)

    def mask(self, params: dict[str, str]) -> np.ndarray | None:
        """Products matching the API filter ``params`` (None: all)."""
        mask = None
        if params.get("in_stock") == "true":
            mask = self.in_stock
        if params.get("category") == CATEGORY_10:
            mask = self.in_category_10 if mask is None else mask & self.in_category_10
        if "min_price" in params:
            low = round(float(params["min_price"]) * 100)
            high = round(float(params["max_price"]) * 100)
            price = (self.price_cents >= low) & (self.price_cents <= high)
            mask = price if mask is None else mask & price
        words = params.get(KEYWORDS, "").split()
        words += [TAG_WORDS.get(label, label) for group, label in params.items() if group in TAG_GROUPS]
        for word in words:
            key = next(key for key, options in TITLE_WORDS.items() if word in options)
            has = self.words[key] == TITLE_WORDS[key].index(word)
            mask = has if mask is None else mask & has
        return mask


# -- loading -----------------------------------------------------------------------------------
def reset() -> None:
    """Empty the catalog and vector tables (TRUNCATE: an ORM cascade would fetch every row) and
    drop every space's index on the vector table (HNSW, binary, products), so COPY does not
    maintain them row by row."""
    from django.db import connection

    with connection.cursor() as cursor:
        for name in vector_indexes():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("TRUNCATE shop_clip_productvector, shop_clip_embeddingspace, catalog_product, "
                       "catalog_category RESTART IDENTITY CASCADE")


def vector_indexes(using: str = "default") -> list[str]:
    """The spaces' indexes on the vector table: HNSW, and each space's products index."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'shop_clip_productvector' "
                       "AND (indexdef LIKE '%%USING hnsw%%' OR indexname LIKE 'shop_clip_products_%%')")
        return [row[0] for row in cursor.fetchall()]


def load(catalog: Catalog, space, args) -> dict[str, Any]:
    """COPY products and vectors (HNSW index dropped), then build the index; timings and sizes."""
    from django.db import connection

    from demo_project.catalog.models import Category
    from shop_clip.hnsw import HNSW_EF_CONSTRUCTION, HNSW_M, build_products_index, create_index_sql, index_name

    Category.objects.bulk_create([Category(name="Bench 10%", slug=CATEGORY_10)]
                                 + [Category(name=f"Group {g}", slug=f"bench-group-{g:02d}") for g in range(GROUPS)])
    categories = dict(Category.objects.values_list("slug", "pk"))
    category = np.where(catalog.in_category_10, categories[CATEGORY_10],
                        np.array([categories[f"bench-group-{g:02d}"] for g in range(GROUPS)])[catalog.cluster % GROUPS])
    figures: dict[str, Any] = {}
    start = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy("COPY catalog_product (id, title, description, category_id, price, in_stock, image, "
                         "attributes) FROM STDIN") as copy:
            for lo in range(0, len(catalog), 100_000):
                copy.write("".join(
                    f"{i + 1}\t{catalog.title(i)}\t\t{category[i]}\t{catalog.price_cents[i] // 100}."
                    f"{catalog.price_cents[i] % 100:02d}\t{'t' if catalog.in_stock[i] else 'f'}\t\t"
                    f'{{"cluster": {catalog.cluster[i]}}}\n' for i in range(lo, min(lo + 100_000, len(catalog)))))
        cursor.execute("SELECT setval(pg_get_serial_sequence('catalog_product', 'id'), %s)", [len(catalog)])
    figures["copy_products_s"] = round(time.perf_counter() - start, 2)
    figures["keyword_documents_s"] = load_keyword_documents()

    start = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy("COPY shop_clip_productvector (product_id, image_key, model_id, dim, embedding, "
                         "content_hash, status, error, attempts, updated_at) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
            for lo in range(0, len(catalog), 50_000):
                copy.write(_vector_rows(catalog, lo, min(lo + 50_000, len(catalog)), space.model_id))
            copy.write(b"\xff\xff")
    figures["copy_vectors_s"] = round(time.perf_counter() - start, 2)
    figures["tags_s"] = load_tags(catalog, space)
    copy_s = figures["copy_products_s"] + figures["copy_vectors_s"]
    print(f"  copied {len(catalog):,} products and vectors in {copy_s:.1f} s", flush=True)

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE catalog_product")
        cursor.execute("VACUUM ANALYZE shop_clip_productvector")
    figures["vacuum_analyze_s"] = round(time.perf_counter() - start, 2)

    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, false), "
                       "set_config('max_parallel_maintenance_workers', %s, false)",
                       [args.maintenance_work_mem, str(args.build_workers)])
        start = time.perf_counter()
        cursor.execute(create_index_sql(space.model_id, DIM))
        figures["build_s"] = round(time.perf_counter() - start, 2)
        print(f"  built the HNSW index in {figures['build_s']:.1f} s", flush=True)
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")
        start = time.perf_counter()
        build_products_index(space.model_id)  # as the app builds it beside the HNSW index
        figures["products_index_s"] = round(time.perf_counter() - start, 2)
        cursor.execute("ANALYZE shop_clip_productvector")
    figures.update(m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, maintenance_work_mem=args.maintenance_work_mem,
                   max_parallel_maintenance_workers=args.build_workers, index=index_name(space.model_id))
    figures["load_s"] = round(sum(figures[k] for k in ("copy_products_s", "copy_vectors_s", "vacuum_analyze_s")), 2)
    figures["vectors_per_s_copy"] = round(len(catalog) / figures["copy_vectors_s"])
    figures["vectors_per_s_build"] = round(len(catalog) / figures["build_s"])
    return figures


def vacuum_side_tables(alias: str = "default") -> None:
    """VACUUM ANALYZE the tag and keyword tables of a reused catalog (or its copy with a second
    space): tag filters are counted by index-only scans, which need the visibility map.  Unset,
    the two-tag count took 160 ms at 1M products instead of 25; in a fresh copy (CREATE DATABASE
    ... TEMPLATE) only 3,710 of its 26,864 pages were all-visible, and it took 84 ms instead of 13."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        for table in ("shop_clip_producttag", "shop_clip_productdocument"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def load_tags(catalog: Catalog, space) -> float:
    """One ProductTag row per product and TAG_GROUPS group, by COPY; seconds taken."""
    from django.db import connection

    from shop_clip.tag_rules import tag_groups

    labels = {group.name: group.labels for group in tag_groups()}  # the demo's TAGS (see main)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy('COPY shop_clip_producttag (product_id, model_id, "group", label, score, updated_at) '
                         "FROM STDIN") as copy:
            for group, key in TAG_GROUPS.items():
                names = [TAG_LABELS.get(word, word) for word in TITLE_WORDS[key]]
                assert set(names) <= set(labels[group]), (group, names)
                for lo in range(0, len(catalog), 100_000):
                    copy.write("".join(f"{i + 1}\t{space.model_id}\t{group}\t{names[catalog.words[key][i]]}\t0.9\tnow\n"
                                       for i in range(lo, min(lo + 100_000, len(catalog)))))
        cursor.execute("VACUUM ANALYZE shop_clip_producttag")
    seconds = round(time.perf_counter() - start, 2)
    print(f"  wrote the tags in {seconds:.1f} s", flush=True)
    return seconds


def load_keyword_documents() -> float:
    """Every product's keyword document, as ``shop_clip_index`` writes them (one INSERT ... SELECT),
    with the GIN index built afterwards rather than row by row; seconds taken."""
    from django.db import connection

    from shop_clip.keywords import refresh_documents

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS shop_clip_document_gin")
        refresh_documents()
        cursor.execute("CREATE INDEX shop_clip_document_gin ON shop_clip_productdocument USING gin (document)")
        cursor.execute("VACUUM ANALYZE shop_clip_productdocument")
    seconds = round(time.perf_counter() - start, 2)
    print(f"  wrote the keyword documents in {seconds:.1f} s", flush=True)
    return seconds


def _vector_rows(catalog: Catalog, lo: int, hi: int, model_id: str) -> bytes:
    """Rows lo..hi of the vector table in COPY BINARY format (fixed width: one numpy record each)."""
    model = model_id.encode()
    layout = np.dtype([
        ("fields", ">i2"), ("product_len", ">i4"), ("product", ">i8"), ("key_len", ">i4"), ("key", "S4"),
        ("model_len", ">i4"), ("model", f"S{len(model)}"), ("dim_len", ">i4"), ("dim", ">i2"),
        ("vector_len", ">i4"), ("vector_dim", ">i2"), ("vector_unused", ">i2"), ("vector", ">f2", (DIM,)),
        ("hash_len", ">i4"), ("status_len", ">i4"), ("status", "S8"), ("error_len", ">i4"),
        ("attempts_len", ">i4"), ("attempts", ">i2"), ("updated_len", ">i4"), ("updated", ">i8"),
    ])
    rows = np.zeros(hi - lo, dtype=layout)
    rows["fields"] = 10
    rows["product_len"], rows["product"] = 8, np.arange(lo + 1, hi + 1)
    rows["key_len"], rows["key"] = 4, b"main"
    rows["model_len"], rows["model"] = len(model), model
    rows["dim_len"], rows["dim"] = 2, DIM
    rows["vector_len"], rows["vector_dim"], rows["vector"] = 4 + 2 * DIM, DIM, catalog.vectors[lo:hi]
    rows["status_len"], rows["status"] = 8, b"embedded"
    rows["attempts_len"], rows["updated_len"] = 2, 8
    epoch = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's timestamp epoch, in microseconds
    rows["updated"] = int((datetime.now(UTC) - epoch).total_seconds() * 1_000_000)
    return rows.tobytes()


def store_build(build: dict[str, Any]) -> None:
    """Remember what was loaded, and how, on the table itself (for ``--reuse``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        # Django's psycopg cursors bind on the client, so a parameter works in a utility statement.
        cursor.execute("COMMENT ON TABLE shop_clip_productvector IS %s", [json.dumps(build)])


def stored_build(dataset: dict[str, Any]) -> dict[str, Any] | None:
    """The build figures of the catalog already loaded, if it is ``dataset`` and its index exists."""
    from django.db import connection

    from shop_clip.encoders import get_encoder
    from shop_clip.hnsw import has_index
    from shop_clip.models import EmbeddingSpace

    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('shop_clip_productvector'::regclass, 'pg_class')")
        comment = cursor.fetchone()[0]
    try:
        build = json.loads(comment or "")
    except ValueError:
        return None
    same = all(build.get(key) == value for key, value in dataset.items())
    space = EmbeddingSpace.objects.filter(model_id=get_encoder().model_id, activated_at__isnull=False).exists()
    return build if same and space and has_index(get_encoder().model_id) else None


def sizes(space_id: str, using: str = "default") -> dict[str, int]:
    """Bytes of the vector table, the space's HNSW index, the table's other indexes and the products."""
    from django.db import connections

    from shop_clip.hnsw import index_name

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_table_size('shop_clip_productvector'), pg_relation_size(%s::regclass), "
                       "pg_indexes_size('shop_clip_productvector'), pg_total_relation_size('catalog_product')",
                       [index_name(space_id)])
        table, hnsw, all_indexes, products = cursor.fetchone()
    return {"table_bytes": table, "index_bytes": hnsw, "table_plus_index_bytes": table + hnsw,
            "other_indexes_bytes": all_indexes - hnsw, "products_table_bytes": products}


# -- SQL ---------------------------------------------------------------------------------------
def exact_neighbours(catalog: Catalog, queries: np.ndarray, mask: np.ndarray | None, k: int):
    """Exact cosine top-k over the stored half-precision vectors: (ids, distances), each (q, k)."""
    q = _unit(queries.astype(np.float32))
    best_d = np.full((len(q), 0), np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for lo in range(0, len(catalog), 100_000):
        x = catalog.vectors[lo:lo + 100_000].astype(np.float32)
        ids = np.arange(lo, lo + len(x))
        if mask is not None:
            keep = mask[lo:lo + len(x)]
            x, ids = x[keep], ids[keep]
        if not len(x):
            continue
        d = 1 - (q @ x.T) / np.linalg.norm(x, axis=1)
        if d.shape[1] > k:
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            d, ids = np.take_along_axis(d, part, 1), ids[part]
        else:
            ids = np.broadcast_to(ids, d.shape)
        d, i = np.concatenate([best_d, d], axis=1), np.concatenate([best_i, ids], axis=1)
        top = np.argsort(d, axis=1, kind="stable")[:, :k]
        best_d, best_i = np.take_along_axis(d, top, 1), np.take_along_axis(i, top, 1)
    return best_i + 1, best_d  # product ids are row numbers + 1


def recall(catalog: Catalog, query: np.ndarray, returned: list[int], truth_d: np.ndarray, k: int) -> float:
    """Share of the exact top-k found; a returned product tied with the exact k-th counts as found."""
    wanted = min(k, len(truth_d))
    if wanted == 0:
        return 1.0
    x = catalog.vectors[np.asarray(returned[:k], dtype=np.int64) - 1].astype(np.float32)
    q = _unit(query.astype(np.float32))
    d = 1 - (x @ q) / np.linalg.norm(x, axis=1) if len(x) else np.zeros(0)
    return min(wanted, int((d <= truth_d[wanted - 1] + TIE_EPS).sum())) / wanted


def explain_plan(sql: str, params: list) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return "hnsw index scan" if "shop_clip_hnsw_" in plan else "filter, then sort"


@dataclass
class Scenario:
    """One filter under one mode: what the app decides, and what each query measured."""

    mode: str
    overrides: dict[str, Any]
    filters: dict[str, Any]  # every filter of the KNN query
    store_filters: dict[str, Any]  # the store's alone
    words: str | None  # keyword mode's ranking: the keyword filter, planned by scan_plan.plan_for_words
    exact: bool
    code_s: list[float] = field(default_factory=list)
    bare_s: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)


def sql_benchmark(catalog: Catalog, space, queries: np.ndarray, args) -> list[dict[str, Any]]:
    """Every filter under every mode; the modes take turns query by query, so a burst of load from
    another process on this shared machine falls on all of them alike."""
    results = []
    for name, params in FILTERS:
        mask = catalog.mask(params)
        matching = len(catalog) if mask is None else int(mask.sum())
        _, truth_d = exact_neighbours(catalog, queries, mask, LIMIT)
        exact_check = _exact_sql_check(space, queries[:args.exact_check], params, truth_d)
        scenarios = [_scenario(mode, overrides, params) for mode, overrides in MODES]
        for scenario in scenarios:  # warm the caches
            for query in queries[:min(10, len(queries))]:
                _time_query(scenario, space, query, bare_first=False)
            scenario.code_s.clear(), scenario.bare_s.clear()
        for number, (query, truth) in enumerate(zip(queries, truth_d, strict=True)):
            for scenario in scenarios[number % len(scenarios):] + scenarios[:number % len(scenarios)]:
                ids = _time_query(scenario, space, query, bare_first=number % 2 == 1)
                scenario.rows.append(len(ids))
                scenario.recalls.append(recall(catalog, query, ids, truth, LIMIT))
        for scenario in scenarios:
            code, bare = latency_summary(scenario.code_s), latency_summary(scenario.bare_s)
            full = [r == LIMIT for r in scenario.rows] if matching >= LIMIT else [True]
            results.append({
                "filter": name, "params": params, "selectivity": round(matching / len(catalog), 4),
                "matching": matching, "iterative_scan": scenario.mode, "path": "exact" if scenario.exact else "hnsw",
                "plan": _plan(scenario, space, queries[0]),
                "p50_ms": code["p50_ms"], "p99_ms": code["p99_ms"], "mean_ms": code["mean_ms"],
                "bare_sql_p50_ms": bare["p50_ms"], "bare_sql_p99_ms": bare["p99_ms"],
                "ratio": round(code["p50_ms"] / bare["p50_ms"], 2),
                "rows_min": int(min(scenario.rows)), "rows_mean": round(float(np.mean(scenario.rows)), 2),
                "full_pages": round(float(np.mean(full)), 4),
                "recall_at_10": round(float(np.mean(scenario.recalls)), 4),
                "recall_at_10_min": round(min(scenario.recalls), 2), "queries": len(queries), **exact_check,
            })
            print(f"  sql {name:>4} {scenario.mode:<17} p50 {code['p50_ms']:7.2f} ms  "
                  f"recall@10 {results[-1]['recall_at_10']}", flush=True)
    return results


def _settings(overrides: dict[str, Any]):
    from django.conf import settings
    from django.test import override_settings

    return override_settings(SHOP_CLIP={**settings.SHOP_CLIP, **overrides})


def _scenario(mode: str, overrides: dict[str, Any], params: dict[str, str]) -> Scenario:
    from shop_clip.knn import Restriction
    from shop_clip.scan_plan import ScanPlan, plan_for, plan_for_words

    with _settings(overrides):
        store, filters = _filters(params)
        words = params.get(KEYWORDS)
        plan = plan_for_words(words, Restriction(store)) if words else plan_for(Restriction(filters))
        return Scenario(mode, overrides, filters, store, words, plan is ScanPlan.EXACT)


def _filters(params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """ORM filters for FILTERS' parameters: the store's and tag filters (``search.restriction_for``),
    and those with the keyword filter of ``mode=keyword`` added (every filter of the KNN query)."""
    from shop_clip.keywords import keyword_filter
    from shop_clip.search import restriction_for
    from shop_clip.spaces import active_space

    named = {name: value for name, value in params.items() if name != KEYWORDS}  # the words are no store filter
    store, words = dict(restriction_for(active_space(), filters=named).lookups), params.get(KEYWORDS)
    return store, {**store, **(keyword_filter(words) if words else {})}


def _time_query(scenario: Scenario, space, query: np.ndarray, bare_first: bool) -> list[int]:
    """Time ``knn.nearest`` (with the products, as an answer loads them) and its bare KNN
    statement; the product ids it returned.

    The second of the two finds the pages the first read in shared buffers, so they take turns.
    """
    from shop_clip.catalog import get_catalog
    from shop_clip.keywords import keyword_filter
    from shop_clip.knn import Restriction, nearest
    from shop_clip.scan_plan import plan_for_words, query_settings
    from shop_clip.search import hits_for

    with _settings(scenario.overrides):
        get_catalog(), query_settings(LIMIT)  # refill the caches a settings change empties
        if bare_first:
            _time_bare(scenario, space, query)
        start = time.perf_counter()
        if scenario.words:
            store = Restriction(scenario.store_filters)
            hits = hits_for(nearest(query, space, wanted=LIMIT, restriction=store.narrowed(
                **keyword_filter(scenario.words)), plan=plan_for_words(scenario.words, store, space)))
        else:
            hits = hits_for(nearest(query, space, wanted=LIMIT, restriction=Restriction(scenario.filters)))
        scenario.code_s.append(time.perf_counter() - start)
        if not bare_first:
            _time_bare(scenario, space, query)
    return [hit.product.pk for hit in hits]


def _time_bare(scenario: Scenario, space, query: np.ndarray) -> None:
    from shop_clip.knn import Restriction, knn_queryset

    plan = _scan_plan(scenario)
    sql, params = knn_queryset(query, space, LIMIT, Restriction(scenario.filters), plan).query.sql_with_params()
    scenario.bare_s.append(_bare(sql, params, plan)[0])


def _bare(sql: str, params, plan, also: dict[str, str] | None = None) -> tuple[float, list[tuple]]:
    """Seconds and rows of one KNN statement with its plan's SET LOCAL settings (and ``also``),
    timed on the psycopg cursor (no Django in the timing)."""
    from django.db import connection, transaction

    from shop_clip.knn import set_local
    from shop_clip.scan_plan import query_settings

    with transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, {**query_settings(LIMIT, plan), **(also or {})})
        raw = cursor.cursor
        start = time.perf_counter()
        raw.execute(sql, params)
        rows = raw.fetchall()
        return time.perf_counter() - start, rows


def _plan(scenario: Scenario, space, query: np.ndarray) -> str:
    from django.db import connection, transaction

    from shop_clip.knn import Restriction, knn_queryset, set_local
    from shop_clip.scan_plan import query_settings

    plan = _scan_plan(scenario)
    with _settings(scenario.overrides), transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, query_settings(LIMIT, plan))
        sql, params = knn_queryset(query, space, LIMIT, Restriction(scenario.filters), plan).query.sql_with_params()
        return explain_plan(sql, list(params))


def exact_statements(space, queries: np.ndarray) -> list[dict[str, Any]]:
    """The exact plan's statement two ways, bare SQL, query by query in turn (which goes first
    alternating): the vector rows joined to the restriction, a probe a product (before), and taken
    by ``product_id = ANY(ARRAY(<the matching ids>))`` (``Restriction.among_ids``, now).  Every
    filter the app searches exactly; the answers must agree."""
    from shop_clip.knn import _ranked_rows
    from shop_clip.scan_plan import ScanPlan

    results = []
    for name, params, restriction in _exact_filters(space):
        seconds: dict[bool, list[float]] = {False: [], True: []}
        agree = 0
        for number, query in enumerate(queries):
            answers = {}
            for by_ids in (True, False) if number % 2 else (False, True):
                statement = _ranked_rows(query, space, restriction, exact=True, by_ids=by_ids)
                sql, sql_params = statement.order_by("distance", "product_id")[:LIMIT].query.sql_with_params()
                took, answers[by_ids] = _bare(sql, sql_params, ScanPlan.EXACT)
                seconds[by_ids].append(took)
            agree += answers[True] == answers[False]
        joined, by_ids = latency_summary(seconds[False]), latency_summary(seconds[True])
        results.append({"filter": name, "params": params, "matching": restriction.products().count(),
                        "joined_p50_ms": joined["p50_ms"], "joined_p99_ms": joined["p99_ms"],
                        "by_ids_p50_ms": by_ids["p50_ms"], "by_ids_p99_ms": by_ids["p99_ms"],
                        "ratio": round(joined["p50_ms"] / by_ids["p50_ms"], 2),
                        "same_answers": round(agree / len(queries), 3), "queries": len(queries)})
    print_table(f"the exact plan's statement, bare SQL, {len(queries)} queries in turn: joined (before) "
                "against by the ids (now)", ["filter", "matching", "joined p50", "by ids p50", "ratio",
                                             "joined p99", "by ids p99", "same answers"],
                [[r["filter"], r["matching"], r["joined_p50_ms"], r["by_ids_p50_ms"], r["ratio"],
                  r["joined_p99_ms"], r["by_ids_p99_ms"], r["same_answers"]] for r in results])
    return results


def _exact_filters(space):
    """``(name, params, restriction)`` of every filter the app searches exactly."""
    from shop_clip.knn import Restriction
    from shop_clip.scan_plan import ScanPlan, plan_for, plan_for_words

    for name, params in FILTERS:
        store, filters = _filters(params)
        restriction, words = Restriction(filters), params.get(KEYWORDS)
        plan = plan_for_words(words, Restriction(store), space) if words else plan_for(restriction, space)
        if plan is ScanPlan.EXACT:
            yield name, params, restriction


def covering_statements(space, queries: np.ndarray) -> list[dict[str, Any]]:
    """The exact plan's vector rows three ways, bare SQL, query by query in turn (the order
    rotating): the app's statement (by the ids) reading each row's heap page, as it does now; the
    same statement with a covering index, ``(product_id) INCLUDE (model_id, dim, image_key,
    embedding)``, there for an index-only scan; and the rows joined to the restriction, forced onto
    a nested loop over that index.  Every filter the app searches exactly; the answers must agree.
    Builds the index and vacuums the table (index-only scans need the visibility map) first, and
    drops the index at the end."""
    from django.db import connection

    from shop_clip.knn import _ranked_rows
    from shop_clip.models import ProductVector
    from shop_clip.scan_plan import ScanPlan

    table, index = ProductVector._meta.db_table, f"shop_clip_bench_covering_{int(space.dim)}"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Not partial: the statement's "dim = %s" is a bound parameter, which no index predicate is proven by.
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} (product_id) "
                       "INCLUDE (model_id, dim, image_key, embedding)")
        built = time.perf_counter() - started
        cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [index])
        index_bytes = cursor.fetchone()[0]
    print(f"  covering index {index}: {index_bytes / 2**20:,.0f} MiB, built in {built:.0f} s, "
          f"vacuumed in {time.perf_counter() - started - built:.0f} s")
    forced = {name: "off" for name in ("enable_indexscan", "enable_bitmapscan", "enable_seqscan", "enable_hashjoin",
                                       "enable_mergejoin")}  # a nested loop probing the covering index
    # label: (by the ids, SET LOCAL)
    variants = {"heap": (True, {"enable_indexonlyscan": "off"}), "covering": (True, {}),
                "covering, joined": (False, forced)}
    results = []
    try:
        for name, params, restriction in _exact_filters(space):

            def statement_for(query, by_ids, restriction=restriction):
                rows = _ranked_rows(query, space, restriction, exact=True, by_ids=by_ids)
                return rows.order_by("distance", "product_id")[:LIMIT].query.sql_with_params()

            plans = {label: _analysed(*statement_for(queries[0], by_ids), extra)
                     for label, (by_ids, extra) in variants.items()}
            seconds: dict[str, list[float]] = {label: [] for label in variants}
            agree = 0
            for number, query in enumerate(queries):
                labels = list(variants)
                answers = {}
                for label in labels[number % 3:] + labels[:number % 3]:
                    by_ids, extra = variants[label]
                    took, answers[label] = _bare(*statement_for(query, by_ids), ScanPlan.EXACT, extra)
                    seconds[label].append(took)
                agree += len({tuple(rows) for rows in answers.values()}) == 1
            summary = {label: latency_summary(times) for label, times in seconds.items()}
            results.append({"filter": name, "params": params, "queries": len(queries),
                            "same_answers": round(agree / len(queries), 3), "plans": plans,
                            **{f"{label}_p50_ms": summary[label]["p50_ms"] for label in variants},
                            **{f"{label}_p99_ms": summary[label]["p99_ms"] for label in variants},
                            "ratio": round(summary["heap"]["p50_ms"] / summary["covering"]["p50_ms"], 2)})
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
    print_table(f"the exact plan's vector rows, bare SQL, {len(queries)} queries in turn: each row's heap page "
                "(now) against a covering index read index-only, by the ids and joined",
                ["filter", "heap p50", "covering p50", "ratio", "covering, joined p50", "heap p99", "covering p99",
                 "same answers", "covering's scan"],
                [[r["filter"], r["heap_p50_ms"], r["covering_p50_ms"], r["ratio"], r["covering, joined_p50_ms"],
                  r["heap_p99_ms"], r["covering_p99_ms"], r["same_answers"],
                  r["plans"]["covering"]["scan"].split(" on ")[0]]
                 for r in results])
    return [{**r, "index_bytes": index_bytes, "build_s": round(built, 1)} for r in results]


def _analysed(sql: str, params, also: dict[str, str]) -> dict[str, Any]:
    """How EXPLAIN ANALYZE reads the vector rows: the scan node and its heap fetches."""
    from django.db import connection, transaction

    from shop_clip.knn import set_local
    from shop_clip.models import ProductVector
    from shop_clip.scan_plan import ScanPlan, query_settings

    with transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, {**query_settings(LIMIT, ScanPlan.EXACT), **also})
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    table = f" on {ProductVector._meta.db_table} "
    scans = [line.strip().lstrip("-> ") for line in lines if table in line and "Scan" in line]
    if os.environ.get("BENCH_SHOW_PLANS"):
        print("\n".join(lines))
    fetches = [line.strip() for line in lines if "Heap Fetches" in line]
    return {"scan": scans[0].split("  (")[0] if scans else "?", "heap_fetches": fetches[:1],
            "execution": [line for line in lines if line.startswith("Execution Time")][:1]}


def _scan_plan(scenario: Scenario):
    from shop_clip.scan_plan import ScanPlan

    return ScanPlan.EXACT if scenario.exact else ScanPlan.INDEX


def _exact_sql_check(space, queries: np.ndarray, params: dict, truth_d: np.ndarray) -> dict[str, Any]:
    """PostgreSQL with index scans off (exact) against the numpy ground truth, on a few queries."""
    from django.db import connection, transaction

    from shop_clip.knn import Restriction, knn_queryset

    if not len(queries):
        return {}
    _, filters = _filters(params)
    agree, seconds = [], []
    for query, truth in zip(queries, truth_d, strict=False):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            start = time.perf_counter()
            rows = list(knn_queryset(query, space, LIMIT, Restriction(filters)))
            seconds.append(time.perf_counter() - start)
        distances = np.array([row[1] for row in rows])
        wanted = min(LIMIT, len(truth))
        agree.append(len(rows) == wanted and bool(np.all(np.abs(distances - truth[:wanted]) <= TIE_EPS)))
    return {"exact_sql_agreement": round(float(np.mean(agree)), 3),
            "exact_sql_p50_ms": latency_summary(seconds)["p50_ms"]}


# -- a second space: a model indexed beside the active one ------------------------------------
SECOND_SPACE = "bench-second-space-512"  # another 512-d model's space, not activated (a model switch)
TWO_SPACES = "two_spaces"  # DATABASES alias of the catalog with the second space
SECOND_SEED = 1000  # added to --seed: the second space's vectors are another model's


def second_space_database(catalog: Catalog, space, build: dict[str, Any], url: str, args) -> dict[str, Any]:
    """The loaded catalog with a second 512-d space for the same products (other vectors) and its
    own index, in the database ``<database>_two``; its figures.

    The database is a file copy of the first (CREATE DATABASE ... TEMPLATE), so the active space's
    index is the same graph in both and the comparison measures the second space alone.  Kept
    with ``--reuse`` when it was made from the same catalog.
    """
    from django.db import connections

    from shop_clip.hnsw import build_products_index, create_index_sql, index_name
    from shop_clip.models import EmbeddingSpace

    name = f"{args.database}_two"
    reused = _database_exists(url, name) and args.reuse
    add_database(TWO_SPACES, name)
    if reused:
        stored = _stored_comment(TWO_SPACES)
        with connections[TWO_SPACES].cursor() as cursor:
            cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                           [index_name(SECOND_SPACE)])
            present = (cursor.fetchone() or [False])[0]
        if present and stored.get("load", {}).get("build_s") == build.get("build_s"):
            print(f"reusing {name}, the catalog with a second space (--reuse)")
            vacuum_side_tables(TWO_SPACES)
            return {**stored["second_space"], "database": name, "reused": True}
    connections.close_all()  # the template must have no other sessions
    start = time.perf_counter()
    clone_database(url, name)
    figures: dict[str, Any] = {"database": name, "space": SECOND_SPACE,
                               "clone_s": round(time.perf_counter() - start, 2)}
    print(f"  copied the catalog to {name} in {figures['clone_s']:.1f} s", flush=True)
    vectors, _ = VectorModel.create(args.clusters, args.seed + SECOND_SEED).sample(
        np.random.default_rng(args.seed + SECOND_SEED + 1), len(catalog))
    other = Catalog(vectors, catalog.cluster, catalog.in_stock, catalog.in_category_10, catalog.price_cents,
                    catalog.words)
    connection = connections[TWO_SPACES]
    # Through the ORM, so the space's other columns take the model's defaults (index_kind, ...).
    EmbeddingSpace.objects.using(TWO_SPACES).create(model_id=SECOND_SPACE, model_ref="bench-second-model", dim=DIM)
    with connection.cursor() as cursor:
        start = time.perf_counter()
        with cursor.copy("COPY shop_clip_productvector (product_id, image_key, model_id, dim, embedding, "
                         "content_hash, status, error, attempts, updated_at) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
            for lo in range(0, len(other), 50_000):
                copy.write(_vector_rows(other, lo, min(lo + 50_000, len(other)), SECOND_SPACE))
            copy.write(b"\xff\xff")
        figures["copy_vectors_s"] = round(time.perf_counter() - start, 2)
        cursor.execute("VACUUM ANALYZE shop_clip_productvector")
        figures["build_s"] = _timed_build(cursor, create_index_sql(SECOND_SPACE, DIM), args)
        build_products_index(SECOND_SPACE, using=TWO_SPACES)
        cursor.execute("ANALYZE shop_clip_productvector")
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [index_name(SECOND_SPACE)])
        figures["second_index_bytes"] = cursor.fetchone()[0]
    vacuum_side_tables(TWO_SPACES)  # the copy's visibility map is not the template's: tag counts need it
    figures.update(sizes(space.model_id, TWO_SPACES))
    print(f"  built the second space's index in {figures['build_s']:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("COMMENT ON TABLE shop_clip_productvector IS %s",
                       [json.dumps({"load": build, "second_space": figures})])
    return figures


def _timed_build(cursor, create_sql: str, args) -> float:
    """Run ``create_sql`` with the benchmark's build memory and workers; seconds taken."""
    cursor.execute("SELECT set_config('maintenance_work_mem', %s, false), "
                   "set_config('max_parallel_maintenance_workers', %s, false)",
                   [args.maintenance_work_mem, str(args.build_workers)])
    start = time.perf_counter()
    cursor.execute(create_sql)
    seconds = round(time.perf_counter() - start, 2)
    cursor.execute("RESET maintenance_work_mem")
    cursor.execute("RESET max_parallel_maintenance_workers")
    return seconds


def _database_exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(f"{url.rsplit('/', 1)[0]}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _stored_comment(using: str) -> dict[str, Any]:
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT obj_description('shop_clip_productvector'::regclass, 'pg_class')")
        comment = cursor.fetchone()[0]
    try:
        return json.loads(comment or "{}")
    except ValueError:
        return {}


# -- fresh and warm ----------------------------------------------------------------------------
@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)


def fresh_and_warm(catalog: Catalog, space, queries: np.ndarray, variants: dict[str, tuple[str, dict[str, Any]]],
                   args) -> list[dict[str, Any]]:
    """Every filter (``knn.nearest`` and the products, as in the SQL table), from a cold server and
    then warm, for each of ``variants`` (label -> database alias, SHOP_CLIP overrides) in turn,
    query by query.

    For each filter PostgreSQL is restarted (empty shared buffers) and the OS page cache dropped;
    then the queries are dealt out to the variants in turn, each query run once by one of them
    ("fresh": it reads what no query read before it, as after a restart; colder than right after a
    build, whose pages are still cached), and then every variant runs every query twice, measured
    the second time ("warm").  With ``--prewarm`` a third pass starts cold again and runs the app's
    prewarm first (``shop_clip_prewarm``, as after a restart or before a new space is activated).
    """
    passes = (["fresh"] if args.fresh else []) + ["warm"] + (["prewarmed"] if args.prewarm else [])
    results = []
    for name, params in FILTERS:
        mask = catalog.mask(params)
        matching = len(catalog) if mask is None else int(mask.sum())
        _, truth_d = exact_neighbours(catalog, queries, mask, LIMIT)
        for pass_name in passes:
            cold = {}
            if pass_name != "warm":
                cold = {"restarted": restart_postgres(), "page_cache_dropped": drop_os_caches()}
            if pass_name == "prewarmed":
                cold["prewarm_s"] = {alias: _prewarm(space, alias) for alias in {a for a, _ in variants.values()}}
            timings = {label: Timings() for label in variants}
            labels = list(variants)
            if pass_name == "warm":  # every query once on every variant first, unmeasured
                for query in queries:
                    for label in labels:
                        _timed_search(params, space, query, *variants[label])
            for number, (query, truth) in enumerate(zip(queries, truth_d, strict=True)):
                # Cold passes deal the queries out: a query's second run on a database finds it cached.
                turn = labels[number % len(labels):] + labels[:number % len(labels)]
                for label in turn if pass_name == "warm" else turn[:1]:
                    seconds, ids = _timed_search(params, space, query, *variants[label])
                    timings[label].seconds.append(seconds)
                    timings[label].rows.append(len(ids))
                    timings[label].recalls.append(recall(catalog, query, ids, truth, LIMIT))
            for label, timing in timings.items():
                summary = latency_summary(timing.seconds)
                full = [r == LIMIT for r in timing.rows] if matching >= LIMIT else [True]
                results.append({
                    "filter": name, "params": params, "selectivity": round(matching / len(catalog), 4),
                    "matching": matching, "database": label, "pass": pass_name, **cold,
                    "settings": variants[label][1], "path": _path(params, *variants[label]),
                    "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "mean_ms": summary["mean_ms"],
                    "rows_min": int(min(timing.rows)), "full_pages": round(float(np.mean(full)), 4),
                    "recall_at_10": round(float(np.mean(timing.recalls)), 4), "queries": len(queries),
                })
                print(f"  {pass_name:<9} {name:>10} {label:<10} p50 {summary['p50_ms']:7.2f} ms  "
                      f"p99 {summary['p99_ms']:7.2f}  recall@10 {results[-1]['recall_at_10']}", flush=True)
    return results


def _timed_search(params: dict[str, str], space, query: np.ndarray, alias: str,
                  overrides: dict[str, Any]) -> tuple[float, list[int]]:
    """``knn.nearest`` and the products with SHOP_CLIP ``overrides``, reading database ``alias``:
    seconds (the scan plan's count included) and the product ids."""
    from shop_clip.catalog import get_catalog
    from shop_clip.keywords import keyword_filter
    from shop_clip.knn import Restriction, nearest
    from shop_clip.scan_plan import plan_for_words, query_settings
    from shop_clip.search import hits_for

    with _variant(alias, overrides):
        get_catalog(), query_settings(LIMIT)  # refill the caches a settings change empties
        store, filters = _filters(params)
        words = params.get(KEYWORDS)
        start = time.perf_counter()
        if words:
            hits = hits_for(nearest(query, space, wanted=LIMIT, restriction=Restriction(store).narrowed(
                **keyword_filter(words)), plan=plan_for_words(words, Restriction(store), space)))
        else:
            hits = hits_for(nearest(query, space, wanted=LIMIT, restriction=Restriction(filters)))
        return time.perf_counter() - start, [hit.product.pk for hit in hits]


@contextmanager
def _variant(alias: str, overrides: dict[str, Any]):
    """Reads on database ``alias`` under SHOP_CLIP ``overrides``.  Without overrides the settings
    stay as they are, so what a running server keeps between requests (the catalog, the remembered
    statements: a settings change forgets them) is kept from one query to the next, as there; a
    variant with overrides compiles its statements for every query (``NOTES["fresh.overrides"]``)."""
    from shop_clip.read_db import reading

    if overrides:
        with _settings({**overrides, "READ_DATABASE": alias}), reading():
            yield
        return
    with reading(alias):
        yield


def _path(params: dict[str, str], alias: str, overrides: dict[str, Any], space=None) -> str:
    """"exact" or "hnsw": the plan ``knn.nearest`` takes for ``params`` (in ``space``, which may
    search more exactly: a binary one)."""
    from shop_clip.knn import Restriction
    from shop_clip.scan_plan import ScanPlan, plan_for, plan_for_words

    with _variant(alias, overrides):
        store, filters = _filters(params)
        words = params.get(KEYWORDS)
        plan = (plan_for_words(words, Restriction(store), space) if words
                else plan_for(Restriction(filters), space))
    return "exact" if plan is ScanPlan.EXACT else "hnsw"


def _prewarm(space, alias: str) -> float:
    """The app's prewarm (``shop_clip_prewarm``: the space's indexes, its rows and the product
    tables, into shared buffers while they have room) on database ``alias``; seconds taken."""
    from shop_clip.prewarm import install, prewarm

    install(alias)
    start = time.perf_counter()
    prewarm(space, alias)
    return round(time.perf_counter() - start, 2)


# -- where the time goes -----------------------------------------------------------------------
def explain_filters(space, query: np.ndarray, alias: str = "default") -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement ``knn.nearest`` and the products run for one
    query at each filter, under the app's defaults: the statements are recorded as the search
    runs them, then run again in one transaction, the settings statements as they were."""
    from django.db import connections

    connection = connections[alias]
    plans = []
    for name, params in FILTERS:
        statements: list[tuple[str, Any]] = []

        def record(execute, sql, sql_params, many, context, statements=statements):
            statements.append((sql, sql_params))
            return execute(sql, sql_params, many, context)

        with connection.execute_wrapper(record):
            _timed_search(params, space, query, alias, {})  # the app's defaults
        steps = []
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            for sql, sql_params in statements:
                if not sql.lstrip().upper().startswith("SELECT") or "set_config(" in sql:
                    cursor.execute(sql, sql_params)  # SAVEPOINT, SET LOCAL: as the search ran them
                    continue
                start = time.perf_counter()
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, sql_params)
                plan = _short_vectors("\n".join(row[0] for row in cursor.fetchall()))
                steps.append({"sql": sql, "ms": round((time.perf_counter() - start) * 1000, 2), "plan": plan})
            cursor.execute("ROLLBACK")
        plans.append({"filter": name, "database": alias, "statements": steps})
        print(f"\n== {name}: {len(steps)} statements")
        for step in steps:
            print(f"-- {step['ms']} ms: {step['sql'][:300]}\n{step['plan']}")
    return plans


def _short_vectors(text: str) -> str:
    """``text`` with each vector literal cut to its first values."""
    return re.sub(r"'\[([^,\]]*,[^,\]]*),[^\]]*\]'", r"'[\1,...]'", text)


# -- binary quantisation -----------------------------------------------------------------------
BINARY_CANDIDATES = (40, 100, 200, 400, 800, 1000)  # hamming-nearest rows re-ranked by the halfvec distance
BINARY_FILTERS = ("none", "50%", "10%")  # those the index serves (selective ones are searched exactly)


def binary_index_name(space_id: str, m: int, centred: bool = False, ef_construction: int | None = None) -> str:
    from shop_clip.hnsw import index_name

    ef = f"_ef{int(ef_construction)}" if ef_construction else ""
    return index_name(space_id).replace("shop_clip_hnsw_", f"bench_hnsw_bit{'c' if centred else ''}_m{int(m)}{ef}_")


def binary_index_sql(space_id: str, m: int, centre: str | None = None, ef_construction: int | None = None) -> str:
    """The space's HNSW index over the sign bits of its vectors (pgvector's binary_quantize), or of
    their differences from the space's mean vector ``centre`` (a halfvec's text), with the app's
    expression (``hnsw.sign_bits_sql``) under the benchmark's own name, m and ef_construction."""
    from shop_clip.hnsw import HNSW_EF_CONSTRUCTION, sign_bits_sql, sql_literal

    name = binary_index_name(space_id, m, centre is not None, ef_construction)
    return (f"CREATE INDEX IF NOT EXISTS {name} ON shop_clip_productvector USING hnsw "
            f"(({sign_bits_sql(f'embedding::halfvec({DIM})', DIM, centre_vector(centre))}) bit_hamming_ops) "
            f"WITH (m = {int(m)}, ef_construction = {int(ef_construction or HNSW_EF_CONSTRUCTION)}) "
            f"WHERE model_id = {sql_literal(space_id)}")


def centre_vector(text: str | None) -> np.ndarray | None:
    """The build record's centre (a halfvec's text) as the vector the app keeps (``EmbeddingSpace.index_centre``)."""
    from shop_clip.hnsw import parse_halfvec

    return None if text is None else parse_halfvec(text)


def space_centre(space_id: str) -> str | None:
    """The mean of the space's vectors, as the app's binary index takes it (``space_index.mean_vector``),
    in a halfvec's text for the build record."""
    from shop_clip.hnsw import halfvec_literals
    from shop_clip.space_index import mean_vector

    centre = mean_vector(space_id)
    return None if centre is None else halfvec_literals(centre)[0]


def binary_index(space, build: dict[str, Any], args) -> dict[str, Any]:
    """Build the binary index of the active space unless it exists; its build time (remembered
    with the build figures) and bytes."""
    from django.db import connection

    name = binary_index_name(space.model_id, args.binary_m, args.binary_centred, args.binary_ef_construction)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        existing = cursor.fetchone()[0]
        figures = {"index": name, "m": args.binary_m, "centred": args.binary_centred,
                   "ef_construction": args.binary_ef_construction, **build.get(name, {})}
        if not existing:
            centre = space_centre(space.model_id) if args.binary_centred else None
            figures["build_s"] = _timed_build(cursor, binary_index_sql(space.model_id, args.binary_m, centre,
                                                                    args.binary_ef_construction), args)
            cursor.execute("ANALYZE shop_clip_productvector")
            print(f"  built the binary index in {figures['build_s']:.1f} s", flush=True)
            build[name] = {"build_s": figures["build_s"], "centre": centre}
            store_build(build)
            figures["centre"] = centre
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [name])
        figures["index_bytes"] = cursor.fetchone()[0]
    return figures


def binary_plan_uses_index(space, query: np.ndarray, binary: dict[str, Any]) -> bool:
    """Whether the candidates query walks the binary index (its expression must match the index's)."""
    from django.db import connection, transaction

    from shop_clip.knn import Restriction, set_local
    from shop_clip.scan_plan import query_settings

    sql, params = binary_sql(query, space, 100, Restriction(), binary.get("centre"))
    with transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, {**query_settings(100), "hnsw.ef_search": "100"})
        cursor.execute("EXPLAIN " + sql, params)
        return any(binary["index"] in row[0] for row in cursor.fetchall())


def binary_benchmark(catalog: Catalog, space, queries: np.ndarray, build: dict[str, Any],
                     binary: dict[str, Any]) -> list[dict[str, Any]]:
    """The halfvec index (the app's bare KNN statement) against the binary index re-ranked by
    halfvec distance, for each candidate count, query by query in turn, warm."""
    variants = ["halfvec"] + [f"binary, {n} candidates" for n in BINARY_CANDIDATES]
    binary["query_uses_index"] = binary_plan_uses_index(space, queries[0], binary)
    if not binary["query_uses_index"]:  # e.g. another index of the same expression: drop it first
        print(f"  WARNING: the candidates query does not walk {binary['index']}: these figures are not its own",
              flush=True)
    results = []
    for name, params in FILTERS:
        if name not in BINARY_FILTERS:
            continue
        mask = catalog.mask(params)
        _, truth_d = exact_neighbours(catalog, queries, mask, LIMIT)
        _, filters = _filters(params)
        timings = {variant: Timings() for variant in variants}
        for query in queries[:min(10, len(queries))]:  # warm the caches
            for variant in variants:
                _binary_or_halfvec(variant, space, query, filters, binary.get("centre"))
        for number, (query, truth) in enumerate(zip(queries, truth_d, strict=True)):
            for variant in variants[number % len(variants):] + variants[:number % len(variants)]:
                seconds, ids = _binary_or_halfvec(variant, space, query, filters, binary.get("centre"))
                timings[variant].seconds.append(seconds)
                timings[variant].rows.append(len(ids))
                timings[variant].recalls.append(recall(catalog, query, ids, truth, LIMIT))
        for variant, timing in timings.items():
            summary = latency_summary(timing.seconds)
            index_bytes = build["index_bytes"] if variant == "halfvec" else binary["index_bytes"]
            results.append({
                "filter": name, "variant": variant,
                "candidates": None if variant == "halfvec" else int(variant.split()[1]),
                "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "rows_min": int(min(timing.rows)),
                "recall_at_10": round(float(np.mean(timing.recalls)), 4), "index_bytes": index_bytes,
                "index_bytes_per_product": round(index_bytes / len(catalog), 1),
                "size_ratio": round(build["index_bytes"] / index_bytes, 2), "queries": len(queries),
            })
            print(f"  binary {name:>5} {variant:<24} p50 {summary['p50_ms']:7.2f} ms  "
                  f"recall@10 {results[-1]['recall_at_10']}", flush=True)
    return results


def _binary_or_halfvec(variant: str, space, query: np.ndarray, filters: dict[str, Any],
                       centre: str | None = None) -> tuple[float, list[int]]:
    """The bare statement of one variant, its settings SET LOCAL: seconds and product ids."""
    from django.db import connection, transaction

    from shop_clip.knn import Restriction, knn_queryset, set_local
    from shop_clip.scan_plan import ScanPlan, query_settings

    if variant == "halfvec":
        sql, params = knn_queryset(query, space, LIMIT, Restriction(filters), ScanPlan.INDEX).query.sql_with_params()
        settings = query_settings(LIMIT)
    else:
        candidates = int(variant.split()[1])
        sql, params = binary_sql(query, space, candidates, Restriction(filters), centre)
        settings = {**query_settings(candidates), "hnsw.ef_search": str(candidates)}
    with transaction.atomic(), connection.cursor() as cursor:
        set_local(cursor, settings)
        raw = cursor.cursor  # the psycopg cursor: no Django in the timing
        start = time.perf_counter()
        raw.execute(sql, params)
        rows = raw.fetchall()
        return time.perf_counter() - start, [row[0] for row in rows]


def binary_sql(query: np.ndarray, space, candidates: int, restriction, centre: str | None = None) -> tuple[str, tuple]:
    """The app's statement for a space with a binary index (``knn.binary_statement``): the
    ``candidates`` rows nearest by hamming distance of the sign bits, re-ranked by the halfvec
    cosine distance; SQL and parameters, rows ``(product_id, distance, ...)``."""
    from shop_clip.hnsw import BINARY
    from shop_clip.knn import binary_statement
    from shop_clip.models import EmbeddingSpace

    binary_space = EmbeddingSpace(model_id=space.model_id, dim=space.dim, index_kind=BINARY,
                                  index_centre=centre_vector(centre))
    return binary_statement(query, binary_space, LIMIT, restriction, candidates)


# -- HTTP --------------------------------------------------------------------------------------
def http_benchmark(products: int, args, log: Path) -> list[dict[str, Any]]:
    from django.db import connections

    connections.close_all()
    counter = itertools.count()
    scenarios = {
        # Hybrid, the default: the nearest products fused with the nearest of those with every word.
        "search/ cached": lambda rng: f"/api/shop-clip/search/?limit={LIMIT}&q={quote(rng.choice(CACHED_QUERIES))}",
        "search/ cached, mode=vector": lambda rng: (f"/api/shop-clip/search/?limit={LIMIT}&mode=vector&q="
                                                    + quote(rng.choice(CACHED_QUERIES))),
        # Every text new: the encoder runs for each request.
        "search/ uncached": lambda rng: (f"/api/shop-clip/search/?limit={LIMIT}&q="
                                         + quote(f"{' '.join(rng.sample(WORDS, 3))} {next(counter)}")),
        "products/<pk>/similar/": lambda rng: (f"/api/shop-clip/products/{rng.randint(1, products)}/similar/"
                                               f"?limit={LIMIT}"),
        # A product page's widget, 4 other categories of 3 products: a product never asked before
        # (computed), and one of 50 popular products (answered from the cache after the first time).
        "complete-the-look/ new product": lambda rng: (
            f"/api/shop-clip/products/{next(counter) * 7919 % products + 1}/complete-the-look/"
            "?categories=4&per_category=3"),
        "complete-the-look/ popular product": lambda rng: (
            f"/api/shop-clip/products/{rng.randint(1, 50) * 997 % products + 1}/complete-the-look/"
            "?categories=4&per_category=3"),
    }
    server = Server(args.workers, log)
    # (scenario, clients): every scenario at every concurrency level.
    runs = [(name, clients) for clients in args.clients for name in scenarios]
    loads = {run: Load([], [], 0, 0.0) for run in runs}
    rounds = max(1, round(args.duration / ROUND_SECONDS))
    try:
        server.wait_ready()
        # Unmeasured first: every worker loads the text encoder (on an uncached query) and fills its
        # own (LocMem) query cache with the few repeated queries.
        for next_path in scenarios.values():
            run_load(server.port, next_path, max(*args.clients, 2 * args.workers), args.warmup)
        # The runs take turns in short rounds, so load from other processes falls on all alike.
        for number in range(rounds):
            for name, clients in runs[number % len(runs):] + runs[:number % len(runs)]:
                load = run_load(server.port, scenarios[name], clients, args.duration / rounds)
                total = loads[name, clients]
                total.latencies += load.latencies
                total.rows += load.rows
                total.errors += load.errors
                total.seconds += load.seconds
    finally:
        server.stop()
    results = []
    for (name, clients), load in loads.items():
        summary = latency_summary(load.latencies)
        results.append({
            "scenario": name, "clients": clients, "workers": args.workers, "requests": len(load.latencies),
            "errors": load.errors, "seconds": round(load.seconds, 2),
            "throughput_rps": round(len(load.latencies) / load.seconds, 1),
            "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "mean_ms": summary["mean_ms"],
            "rows_min": min(load.rows, default=0), "rows_mean": round(float(np.mean(load.rows or [0])), 2),
        })
        print(f"  http {name:<24} {clients} clients {results[-1]['throughput_rps']:7.1f} req/s  "
              f"p50 {summary['p50_ms']:.1f} ms", flush=True)
    return results


def encoder_timing(space, count: int = 30) -> dict[str, Any]:
    """The text encoder alone, one query at a time, one torch thread (as in a gunicorn worker)."""
    import torch

    from shop_clip.encoders import get_encoder

    encoder = get_encoder(model=space.model_ref)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = random.Random(5)
    encoder.encode_texts(["warm up"])
    seconds = []
    for n in range(count):
        start = time.perf_counter()
        encoder.encode_texts([f"{' '.join(rng.sample(WORDS, 3))} {n}"])
        seconds.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return {"model": space.model_ref, "model_id": space.model_id, **latency_summary(seconds)}


# -- the run -----------------------------------------------------------------------------------
def space_ratios(fresh: list[dict[str, Any]]) -> list[list[Any]]:
    """[filter, pass, one p50, two p50, ratio, two recall, two rows min] of a fresh_and_warm run."""
    rows = []
    for one in (r for r in fresh if r["database"] == "one space"):
        two = next(r for r in fresh if r["database"] == "two spaces"
                   and (r["filter"], r["pass"]) == (one["filter"], one["pass"]))
        rows.append([one["filter"], one["pass"], one["p50_ms"], two["p50_ms"], round(two["p50_ms"] / one["p50_ms"], 2),
                     two["recall_at_10"], two["rows_min"]])
    return rows


def targets(products: int, build: dict, sql: list[dict], http: list[dict], fresh: list[dict],
            quantised: list[dict]) -> list[dict[str, Any]]:
    default = [r for r in sql if r["iterative_scan"] == DEFAULT_MODE]
    one = [r for r in fresh if r["database"] == "one space"]
    cached = [r for r in http if r["scenario"] == "search/ cached"]
    note = "" if products >= 1_000_000 else f"target is for 1M; measured at {products:,}"
    rows = []
    if default:
        plain = next(r for r in default if r["filter"] == "none")
        rows += [
            {"target": "recall@10 >= 0.95 at every filter", "value": min(r["recall_at_10"] for r in default),
             "met": all(r["recall_at_10"] >= 0.95 for r in default), "note": ""},
            {"target": "limit rows whenever enough products match", "value": min(r["full_pages"] for r in default),
             "met": all(r["full_pages"] == 1 for r in default), "note": "share of full pages"},
            {"target": "SQL KNN p50 <= 10 ms", "value": plain["p50_ms"], "met": plain["p50_ms"] <= 10, "note": note},
        ]
    for pass_name in ("fresh", "prewarmed", "warm"):
        measured = [r for r in one if r["pass"] == pass_name]
        if measured:
            slowest = max(measured, key=lambda r: r["p50_ms"])
            rows += [
                {"target": f"every filter p50 <= 20 ms, {pass_name}", "value": slowest["p50_ms"],
                 "met": slowest["p50_ms"] <= 20, "note": f"slowest: {slowest['filter']}; {note}".strip("; ")},
                {"target": f"every filter recall@10 >= 0.95, {pass_name}",
                 "value": min(r["recall_at_10"] for r in measured),
                 "met": all(r["recall_at_10"] >= 0.95 for r in measured), "note": ""},
            ]
    two = [r for r in fresh if r["database"] == "two spaces"]
    if two:
        ratios = space_ratios(fresh)
        rows += [
            {"target": "two spaces: p50 within 1.1x of one space, warm",
             "value": max(r[4] for r in ratios if r[1] == "warm"),
             "met": all(r[4] <= 1.1 for r in ratios if r[1] == "warm"), "note": "worst filter"},
            {"target": "two spaces: recall@10 >= 0.95", "value": min(r["recall_at_10"] for r in two),
             "met": all(r["recall_at_10"] >= 0.95 for r in two), "note": ""},
            {"target": "two spaces: full pages at every filter", "value": min(r["full_pages"] for r in two),
             "met": all(r["full_pages"] == 1 for r in two), "note": ""},
        ]
    binary = [r for r in quantised if r["variant"] != "halfvec" and r["filter"] == "none"]
    if binary:
        good = [r for r in binary if r["recall_at_10"] >= 0.95]
        best = min(good, key=lambda r: r["p50_ms"]) if good else max(binary, key=lambda r: r["recall_at_10"])
        rows.append({"target": "binary index: recall@10 >= 0.95, index >= 5x smaller", "value":
                     f"{best['recall_at_10']} at {best['candidates']} candidates, {best['size_ratio']}x",
                     "met": bool(good) and best["size_ratio"] >= 5, "note": "no filter"})
    rows += [
        *({"target": f"search/ p50 <= 25 ms, cached embedding, {r['clients']} clients on {r['workers']} workers",
           "value": r["p50_ms"], "met": r["p50_ms"] <= 25, "note": note} for r in cached),
        {"target": "table + index <= 3 GB", "value": round(build["table_plus_index_bytes"] / 2**30, 3),
         "met": build["table_plus_index_bytes"] * 1_000_000 / products <= 3 * 2**30,
         "note": note and note + " (scaled linearly)"},
    ]
    return rows


def server_settings() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), (SELECT extversion FROM pg_extension WHERE extname = 'vector')")
        version, pgvector = cursor.fetchone()
        found = {"postgresql": version.split(" on ")[0], "pgvector": pgvector}
        for name in ("shared_buffers", "huge_pages", "huge_pages_status", "work_mem", "effective_cache_size",
                     "max_parallel_workers_per_gather"):
            cursor.execute(f"SHOW {name}")
            found[name] = cursor.fetchone()[0]
    return found


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give one or more client counts, e.g. 2,4")
    return counts


def _overrides(text: str) -> dict[str, Any]:
    """``NAME=VALUE,NAME=VALUE`` as SHOP_CLIP overrides, each value a Python literal."""
    overrides = {}
    for part in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name.isupper():
            raise argparse.ArgumentTypeError(f"give SHOP_CLIP settings as NAME=VALUE, e.g. HNSW_EF_SEARCH=200; "
                                             f"got {part!r}")
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise argparse.ArgumentTypeError(f"{name}'s value is not a Python literal: {value!r}") from None
    if not overrides:
        raise argparse.ArgumentTypeError("give at least one NAME=VALUE")
    return overrides


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200, help="query vectors per SQL scenario")
    parser.add_argument("--exact-check", type=int, default=5, help="queries per filter checked against PostgreSQL")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", help="default: shop_clip_bench_<size>")
    parser.add_argument("--maintenance-work-mem", default="3GB", help="for the index build (1M needs about 2GB)")
    parser.add_argument("--build-workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="max_parallel_maintenance_workers for the build (the leader works too)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=_counts, default=[2, 4],
                        help="concurrent HTTP clients, one level or several (default 2,4: as many as "
                             "workers, then twice as many)")
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per HTTP scenario "
                        f"(in rounds of {ROUND_SECONDS:g} s, the scenarios taking turns)")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each HTTP scenario")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-modes", action="store_true", help="skip the table of iterative scan modes")
    parser.add_argument("--fresh", action="store_true", help="also the fresh and warm table (it restarts "
                        "the embedded PostgreSQL and drops the OS page cache for each filter)")
    parser.add_argument("--warm", action="store_true", help="the fresh and warm table's warm pass alone")
    parser.add_argument("--before", action="store_true", help="fresh and warm: also the search settings "
                        "before issue 17 (BEFORE), on the one-space database")
    parser.add_argument("--also", type=_overrides, action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                        help="fresh and warm: also these SHOP_CLIP settings on the one-space database, a variant "
                        "each time it is given (e.g. --also HNSW_EF_SEARCH=200 --also PLAN_CACHE_SECONDS=0)")
    parser.add_argument("--prewarm", action="store_true", help="fresh and warm: also a cold pass that runs "
                        "the app's prewarm first (shop_clip_prewarm)")
    parser.add_argument("--second-space", action="store_true", help="also a second 512-d space for the same "
                        "products, with its own index, in a copy of the database: one space against two")
    parser.add_argument("--binary", action="store_true", help="also a binary-quantised HNSW index of the "
                        "active space, re-ranked by the halfvec distance, against the halfvec index")
    parser.add_argument("--binary-m", type=int, default=16, help="m of the binary index")
    parser.add_argument("--binary-centred", action="store_true", help="the binary index quantises each vector's "
                        "difference from the space's mean vector (and the query's)")
    parser.add_argument("--binary-ef-construction", type=int, help="ef_construction of the binary index "
                        "(default: the app's)")
    parser.add_argument("--load-only", action="store_true", help="load and build, measure nothing")
    parser.add_argument("--shared-buffers", help="restart the embedded PostgreSQL with this shared_buffers "
                        "for the run (e.g. 6GB: both databases' indexes resident), and as it was afterwards")
    parser.add_argument("--huge-pages", action="store_true", help="restart the embedded PostgreSQL with its "
                        "shared memory in 2 MB pages, reserved for the run (root): docs/scaling.md")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) the statements of "
                        "one search at each filter (on each database), then stop")
    parser.add_argument("--covering", action="store_true",
                        help="time the exact plan's statement over a covering index (built, then dropped) read "
                             "index-only against the heap, bare SQL, at every filter searched exactly, then stop")
    parser.add_argument("--exact-statements", action="store_true",
                        help="time the exact plan's statement joined (before) and by the matching ids (now), "
                             "bare SQL, at every filter searched exactly, then stop")
    parser.add_argument("--reuse", action="store_true", help="keep the catalog and index of an earlier run of "
                        "the same size and seed (for re-measuring; build figures are from that run)")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards (smoke runs)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    size = f"{args.products // 1_000_000}m" if args.products % 1_000_000 == 0 else f"{args.products // 1000}k"
    out = args.json or RESULTS / f"search_{size}.json"
    args.database = args.database or f"shop_clip_bench_{size}"

    os.environ["SHOP_CLIP_TAGGING"] = "1"  # the demo store's TAGS and TAG_FILTERS, whose filters are measured
    url = setup_django(args.database)
    before = server_settings()
    reserved = huge_pages_reserved()
    try:
        if args.shared_buffers or args.huge_pages:
            restart_postgres(args.shared_buffers, "on" if args.huge_pages else None)
        return _run(args, out, url)
    finally:
        from django.db import connections

        connections.close_all()
        if args.shared_buffers or args.huge_pages:
            restart_postgres(before["shared_buffers"], before["huge_pages"] if args.huge_pages else None)
            release_huge_pages(reserved)
        if args.drop:
            drop_database(url)
            if args.second_space:
                drop_database(f"{url}_two")


def _run(args, out: Path, url: str) -> dict[str, Any]:
    from shop_clip.spaces import configured_space

    started = time.perf_counter()
    host = machine()
    print(f"search benchmark: {args.products:,} products, {DIM}-d, database {args.database}", flush=True)
    dataset = {"products": args.products, "clusters": args.clusters, "seed": args.seed, "titles": "words-v1"}
    build = stored_build(dataset) if args.reuse else None
    start = time.perf_counter()
    catalog = Catalog.generate(args.products, args.clusters, args.seed)  # also the ground truth's data
    generate_s = round(time.perf_counter() - start, 2)
    if build is None:
        reset()
        space = configured_space()  # the configured text encoder's space, active: search/ uses it
        build = {**dataset, "generate_s": generate_s, **load(catalog, space, args)}
        store_build(build)
    else:
        print("reusing the loaded catalog and index (--reuse): build figures are from when it was built")
        space = configured_space()
        build["reused"] = True
        if "tags_s" not in build:  # loaded before the tag filters were measured
            build["tags_s"] = load_tags(catalog, space)
            store_build(build)
        vacuum_side_tables()
    build.update(sizes(space.model_id))
    print_table("load and index", ["products", "copy s", "build s", "table MB", "hnsw MB", "m", "ef_constr",
                                   "maint_work_mem", "build workers"],
                [[build["products"], build["copy_vectors_s"] + build["copy_products_s"], build["build_s"],
                  round(build["table_bytes"] / 2**20), round(build["index_bytes"] / 2**20), build["m"],
                  build["ef_construction"], build["maintenance_work_mem"], build["max_parallel_maintenance_workers"]]])

    second = second_space_database(catalog, space, build, url, args) if args.second_space else None
    binary = binary_index(space, build, args) if args.binary else None
    if args.load_only:
        return {"load": build, "second_space": second, "binary_index": binary}

    queries, _ = VectorModel.create(args.clusters, args.seed).sample(np.random.default_rng(args.seed + 3), args.queries)
    aliases = {"one space": "default", **({"two spaces": TWO_SPACES} if second else {})}
    variants = {label: (alias, {}) for label, alias in aliases.items()}
    if args.before:
        variants = {"one space, before": ("default", BEFORE), **variants}
    for overrides in args.also:
        variants[", ".join(f"{name}={value}" for name, value in overrides.items())] = ("default", overrides)
    for wanted, name, statements in ((args.exact_statements, "exact_statements", exact_statements),
                                     (args.covering, "covering", covering_statements)):
        if wanted:  # one table of bare statements, then stop
            rows = statements(space, queries)
            write_json(out, {"benchmark": f"search --{name.replace('_', '-')}", "command": "python bench/search.py "
                             + " ".join(sys.argv[1:]), "when": datetime.now(UTC).isoformat(timespec="seconds"),
                             "machine": {**host, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
                             "server": server_settings(), "load": build, name: rows})
            return {name: rows}
    if args.explain:
        plans = [plan for alias in aliases.values() for plan in explain_filters(space, queries[0], alias)]
        write_json(out, {"command": "python bench/search.py " + " ".join(sys.argv[1:]), "explain": plans})
        return {"explain": plans}
    fresh = fresh_and_warm(catalog, space, queries, variants, args) if args.fresh or args.warm else []
    if fresh:
        print_table(f"fresh and warm, knn.nearest() with the defaults, {args.queries} queries",
                    ["filter", "matching", "database", "pass", "path", "p50 ms", "p99 ms", "rows min", "recall@10"],
                    [[r["filter"], r["matching"], r["database"], r["pass"], r["path"], r["p50_ms"], r["p99_ms"],
                      r["rows_min"], r["recall_at_10"]] for r in fresh])
        if second:
            print_table("one space against two (p50 ratio, two over one)", ["filter", "pass", "one p50", "two p50",
                        "ratio", "two recall@10", "two rows min"], space_ratios(fresh))
    sql = [] if args.skip_modes else sql_benchmark(catalog, space, queries, args)
    if sql:
        print_table(f"SQL KNN, limit {LIMIT}: knn.nearest() and its bare SQL, {args.queries} queries",
                    ["filter", "sel", "iterative", "path", "plan", "p50 ms", "p99 ms", "bare p50", "bare p99",
                     "rows min", "rows mean", "recall@10"],
                    [[r["filter"], r["selectivity"], r["iterative_scan"], r["path"], r["plan"], r["p50_ms"],
                      r["p99_ms"], r["bare_sql_p50_ms"], r["bare_sql_p99_ms"], r["rows_min"], r["rows_mean"],
                      r["recall_at_10"]] for r in sql])
    quantised = binary_benchmark(catalog, space, queries, build, binary) if binary else []
    if quantised:
        print_table(f"binary index (m={binary['m']}) re-ranked by halfvec distance, against the halfvec index, "
                    "bare SQL, warm", ["filter", "variant", "p50 ms", "p99 ms", "rows min", "recall@10",
                                        "index MB", "B/product", "smaller"],
                    [[r["filter"], r["variant"], r["p50_ms"], r["p99_ms"], r["rows_min"], r["recall_at_10"],
                      round(r["index_bytes"] / 2**20), r["index_bytes_per_product"], r["size_ratio"]]
                     for r in quantised])

    encoder = encoder_timing(space)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.stem}.gunicorn.log.tmp"  # ignored by git
    http = [] if args.skip_http else http_benchmark(len(catalog), args, log)
    if http:
        cached = {r["clients"]: r for r in http if r["scenario"] == "search/ cached"}
        for row in http:
            row["ratio"] = round(row["p50_ms"] / cached[row["clients"]]["p50_ms"], 2)
        print_table(f"HTTP, gunicorn {args.workers} workers, {args.duration:g} s each",
                    ["scenario", "clients", "req/s", "p50 ms", "p99 ms", "vs cached", "requests", "errors",
                     "rows mean"],
                    [[r["scenario"], r["clients"], r["throughput_rps"], r["p50_ms"], r["p99_ms"], r["ratio"],
                      r["requests"], r["errors"], r["rows_mean"]] for r in http])
    print(f"\ntext encoder alone ({encoder['model']}): p50 {encoder['p50_ms']} ms, p99 {encoder['p99_ms']} ms")
    checks = targets(len(catalog), build, sql, http, fresh, quantised)
    print_table("targets", ["target", "value", "met", "note"],
                [[t["target"], t["value"], "yes" if t["met"] else "NO", t["note"]] for t in checks])
    result = {
        "benchmark": "search", "command": "python bench/search.py " + " ".join(sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**host, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "server": server_settings(), "limit": LIMIT, "queries": args.queries, "load": build,
        "second_space": second, "binary_index": binary, "fresh_and_warm": fresh, "sql": sql,
        "binary": quantised, "text_encoder": encoder, "http": http, "targets": checks, "notes": NOTES,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    write_json(out, result)
    return result


if __name__ == "__main__":
    main()
