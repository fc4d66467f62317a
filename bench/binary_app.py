"""Search through the app (``knn.nearest`` and the products) at every filter of ``bench/search.py``
on a database whose active space walks a binary index: p50, recall@10 against numpy's exact
neighbours, and the share of full pages.

The database is ``bench/search.py``'s, loaded first, then switched the way a store switches::

    python bench/search.py --products 1000000 --load-only
    python bench/binary_app.py --products 1000000 --switch      # shop_clip_index --switch-index, then measure
    python bench/binary_app.py --products 1000000               # measure again

Writes ``bench/results/search_<size>_binary_app_filters.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import search as bench  # noqa: E402  the catalog, its filters and the ground truth
from bench.support import RESULTS, drop_database, machine, print_table, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--database", help="default: bench/search.py's for the size")
    parser.add_argument("--switch", action="store_true", help="switch the active space to a binary index first")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards (smoke runs)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    size = f"{args.products // 1_000_000}m" if args.products % 1_000_000 == 0 else f"{args.products // 1000}k"
    os.environ["SHOP_CLIP_TAGGING"] = "1"  # the demo store's TAG_FILTERS, as bench/search.py measures them
    url = bench.setup_django(args.database or f"shop_clip_bench_{size}")
    try:
        return _measure(args, size)
    finally:
        if args.drop:
            from django.db import connections

            connections.close_all()
            drop_database(url)


def _measure(args, size: str) -> dict:

    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    from shop_clip.spaces import configured_space

    with override_settings(SHOP_CLIP={**settings.SHOP_CLIP, "VECTOR_INDEX": "binary"}):
        if args.switch:
            started = time.monotonic()
            call_command("shop_clip_index", "--switch-index")
            print(f"switched in {time.monotonic() - started:.0f} s", flush=True)
        space = configured_space()
        if space.index_kind != "binary":
            raise SystemExit(f"search walks a {space.index_kind} index for {space.model_id}: run with --switch")
        catalog = bench.Catalog.generate(args.products, 300, 0)
        queries, _ = bench.VectorModel.create(300, 0).sample(np.random.default_rng(3), args.queries)
        rows = []
        for name, params in bench.FILTERS:
            _, truth = bench.exact_neighbours(catalog, queries, catalog.mask(params), bench.LIMIT)
            for query in queries[:5]:  # warm the caches
                bench._timed_search(params, space, query, "default", {})
            seconds, recalls, full = [], [], []
            for query, exact in zip(queries, truth, strict=True):
                spent, ids = bench._timed_search(params, space, query, "default", {})
                seconds.append(spent)
                recalls.append(bench.recall(catalog, query, ids, exact, bench.LIMIT))
                full.append(len(ids) == bench.LIMIT)
            rows.append({"filter": name, "path": bench._path(params, "default", {}, space),
                         "p50_ms": round(statistics.median(seconds) * 1000, 1),
                         "recall_at_10": round(float(np.mean(recalls)), 3),
                         "full_pages": round(float(np.mean(full)), 3)})
    print_table(f"knn.nearest on a binary index, {args.products:,} products",
                ["filter", "path", "p50 ms", "recall@10", "full pages"],
                [[row[key] for key in ("filter", "path", "p50_ms", "recall_at_10", "full_pages")] for row in rows])
    result = {"command": "python bench/binary_app.py " + " ".join(sys.argv[1:]), "machine": machine(),
              "products": args.products, "queries": args.queries, "index": "binary", "results": rows}
    out = args.json or RESULTS / f"search_{size}_binary_app_filters.json"
    write_json(out, result)
    return result


if __name__ == "__main__":
    main()
