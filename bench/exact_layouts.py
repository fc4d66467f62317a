"""Exact search at 1M, laid out five ways: where a filter leaving a few thousand products spends
its time, and what other indexes would save.  Bare SQL, query by query in turn, on a copy of the
active space's vector rows (so the store's tables stay as they are), for three price filters and
``bench/search.py``'s "words 0.1%":

- ``by ids``: the app's exact statement (``product_id = ANY(ARRAY(<the filter's ids>))``), its
  vector rows by the ``(product_id, model_id)`` B-tree;
- ``ids given``: the same with the filter's ids read beforehand, as an array parameter: what a
  remembered list of a filter's products would leave (the vector rows alone);
- ``+ price covering``: the same with ``(price) INCLUDE (id)`` on the products, so the filter's
  ids come from the index alone (a store's own index);
- ``hash probes``: a hash index on ``product_id`` instead of the B-tree (PostgreSQL reads it as a
  bitmap scan for ``= ANY``);
- ``sign codes N``: a B-tree ``(product_id) INCLUDE (model_id, code)`` holding each vector's sign
  bits (64 bytes at 512-d): the filter's rows ranked by hamming distance index-only, the nearest
  ``N`` re-ranked by the halfvec distance (with the covering price index).

Recall@10 is against ``by ids`` (exact).  The database is ``bench/search.py``'s, loaded first::

    python bench/search.py --products 1000000 --load-only
    python bench/exact_layouts.py --products 1000000

Writes ``bench/results/search_<size>_exact_layouts.json``; drops what it built.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import search as bench  # noqa: E402  the catalog's queries and the database
from bench.support import RESULTS, machine, print_table, write_json  # noqa: E402

COPY, PRICE_COVERING = "bench_exact_vectors", "bench_exact_price_id"
PRODUCTS, DOCUMENTS = "catalog_product", "shop_clip_productdocument"
PRICE = f"SELECT id FROM {PRODUCTS} WHERE price >= %(lo)s AND price <= %(hi)s"
# name -> the filter's ids (SQL), its parameters; the words are bench/search.py's "words 0.1%".
FILTERS = {
    "1%": (PRICE, {"lo": 500, "hi": 509.99}),
    "0.5%": (PRICE, {"lo": 500, "hi": 504.99}),
    "0.2%": (PRICE, {"lo": 500, "hi": 501.99}),
    "words 0.1%": (f"SELECT product_id FROM {DOCUMENTS} WHERE document @@ websearch_to_tsquery('english', %(words)s)",
                   {"words": "red leather boots"}),
}
EXACT = f"""SELECT product_id, embedding <=> %(q)s::halfvec(512) AS d FROM {COPY}
 WHERE product_id = ANY({{ids}})
 AND model_id = %(m)s AND dim = 512 AND embedding IS NOT NULL ORDER BY d, product_id LIMIT 10"""
CODES = f"""SELECT product_id, embedding <=> %(q)s::halfvec(512) AS d FROM {COPY}
 WHERE product_id = ANY(ARRAY(SELECT product_id FROM {COPY}
     WHERE product_id = ANY(ARRAY({{filter}}))
     AND model_id = %(m)s ORDER BY code <~> %(bits)s::bit(512) LIMIT {{candidates}}))
 AND model_id = %(m)s AND dim = 512 AND embedding IS NOT NULL ORDER BY d, product_id LIMIT 10"""
# Each variant's statement (with {filter}, the filter's ids SQL) and the indexes it may not use
# (marked invalid inside its transaction).  "ids given": the filter's ids read before, as an array
# parameter: what a remembered list of a filter's products would leave of the statement.
INDEXES = {"btree": f"{COPY}_product", "hash": f"{COPY}_hash", "codes": f"{COPY}_codes", "price": PRICE_COVERING}
VARIANTS = {
    "by ids": (EXACT.format(ids="ARRAY({filter})"), ("hash", "codes", "price")),
    "ids given": (EXACT.format(ids="%(ids)s::bigint[]"), ("hash", "codes", "price")),
    "+ price covering": (EXACT.format(ids="ARRAY({filter})"), ("hash", "codes")),
    "hash probes": (EXACT.format(ids="ARRAY({filter})"), ("btree", "codes")),
    "sign codes 200": (CODES.replace("{candidates}", "200"), ("hash",)),
    "sign codes 400": (CODES.replace("{candidates}", "400"), ("hash",)),
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--database", help="default: bench/search.py's for the size")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    size = f"{args.products // 1_000_000}m" if args.products % 1_000_000 == 0 else f"{args.products // 1000}k"
    bench.setup_django(args.database or f"shop_clip_bench_{size}")
    from django.db import connection

    from shop_clip.spaces import active_space

    space = active_space()
    with connection.cursor() as cursor:
        built_s = build(cursor.cursor, space.model_id)
        try:
            rows = measure(cursor.cursor, space.model_id, args.queries)
        finally:
            drop(cursor.cursor)
    print_table(f"exact search laid out five ways, bare SQL, {args.queries} queries",
                ["filter", "matching", "variant", "p50 ms", "ratio to by ids", "recall@10"],
                [[r["filter"], r["matching"], r["variant"], r["p50_ms"], r["ratio"], r["recall_at_10"]] for r in rows])
    out = args.json or RESULTS / f"search_{size}_exact_layouts.json"
    result = {"benchmark": "exact_layouts", "command": "python bench/exact_layouts.py " + " ".join(sys.argv[1:]),
              "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
              "built_s": built_s, "rows": rows}
    write_json(out, result)
    return result


def build(cursor, model_id: str) -> float:
    started = time.perf_counter()
    drop(cursor)
    cursor.execute(f"""CREATE TABLE {COPY} AS SELECT product_id, model_id, dim, embedding,
        binary_quantize(embedding)::bit(512) AS code FROM shop_clip_productvector WHERE model_id = %s""", [model_id])
    cursor.execute(f"CREATE INDEX {INDEXES['btree']} ON {COPY} (product_id, model_id)")
    cursor.execute(f"CREATE INDEX {INDEXES['hash']} ON {COPY} USING hash (product_id)")
    cursor.execute(f"CREATE INDEX {INDEXES['codes']} ON {COPY} (product_id) INCLUDE (model_id, code)")
    cursor.execute(f"CREATE INDEX {PRICE_COVERING} ON {PRODUCTS} (price) INCLUDE (id)")
    cursor.execute(f"VACUUM (ANALYZE) {COPY}")
    cursor.execute(f"VACUUM (ANALYZE) {PRODUCTS}")
    seconds = round(time.perf_counter() - started, 1)
    print(f"copied the vectors and built the indexes in {seconds} s", flush=True)
    return seconds


def drop(cursor) -> None:
    cursor.execute(f"DROP INDEX IF EXISTS {PRICE_COVERING}")
    cursor.execute(f"DROP TABLE IF EXISTS {COPY}")


def measure(cursor, model_id: str, count: int) -> list[dict]:
    queries, _ = bench.VectorModel.create(300, 0).sample(np.random.default_rng(3), count)
    rows = []
    for name, (filter_sql, filter_params) in FILTERS.items():
        ids = [row[0] for row in cursor.execute(filter_sql, filter_params).fetchall()]
        matching = len(ids)
        seconds = {label: [] for label in VARIANTS}
        recalls = {label: [] for label in VARIANTS}
        for number, query in enumerate(queries.astype(np.float32)):
            params = {"q": "[" + ",".join(f"{x:.6g}" for x in query) + "]", "m": model_id, **filter_params,
                      "bits": "".join("1" if x > 0 else "0" for x in query), "ids": ids}
            labels = list(VARIANTS)
            found = {}
            for label in labels[number % len(labels):] + labels[:number % len(labels)]:
                if number == 0:  # once unmeasured: every variant finds its pages in shared buffers
                    _timed(cursor, label, params, filter_sql)
                spent, found[label] = _timed(cursor, label, params, filter_sql)
                seconds[label].append(spent)
            for label in labels:
                recalls[label].append(len(set(found[label]) & set(found["by ids"])) / bench.LIMIT)
        base = statistics.median(seconds["by ids"])
        for label in VARIANTS:
            p50 = statistics.median(seconds[label])
            rows.append({"filter": name, "matching": matching, "variant": label, "p50_ms": round(p50 * 1000, 2),
                         "ratio": round(base / p50, 2), "recall_at_10": round(float(np.mean(recalls[label])), 4)})
            print(f"  {name:>5} {label:<17} p50 {p50 * 1000:6.2f} ms  recall@10 {rows[-1]['recall_at_10']}", flush=True)
    return rows


def _timed(cursor, label: str, params: dict, filter_sql: str) -> tuple[float, list]:
    sql, hidden = VARIANTS[label]
    sql = sql.replace("{filter}", filter_sql)
    cursor.execute("BEGIN")
    try:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0")
        for key in hidden:  # rolled back with the transaction
            cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [INDEXES[key]])
        started = time.perf_counter()
        ids = [row[0] for row in cursor.execute(sql, params).fetchall()]
        return time.perf_counter() - started, ids
    finally:
        cursor.execute("ROLLBACK")


if __name__ == "__main__":
    main()
