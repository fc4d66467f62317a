"""Backfill: a new space written into a live HNSW graph, against written with no index and built
in bulk afterwards (what ``spaces.complete_backfill`` does now), end to end, side by side.

The demo store's products (JPEG photos), every row of one space pending; then ``process_pending``,
the code a Celery worker runs, claims, reads, decodes, encodes with shop-clip-mini on this CPU and
writes the vectors:
- incremental: the space's (empty) index exists first, so each write inserts into the graph (how
  every backfill ran before the index per space);
- bulk: no index while the rows are written; the drained space's index is then built in one go
  with ``HNSW_BUILD_WORKERS`` parallel workers and ``HNSW_BUILD_MEMORY``.
Rounds alternate the two modes; each starts from the same reset table (rows pending, hashes
forgotten, index dropped, vacuumed).  Reported: rows per second end to end (medians), the write
phase, and the bulk build's seconds and share of the time.

    python bench/backfill.py                                     # 100k products (about 40 minutes here)
    python bench/backfill.py --products 2000 --rounds 1 --json /tmp/b.json   # smoke
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import RESULTS, machine, print_table, setup_django, write_json  # noqa: E402

MODES = ("incremental", "bulk")


class BuildTimes(logging.Handler):
    """The seconds of each bulk build, from the line ``spaces.complete_backfill`` logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("built the HNSW index"):
            self.seconds.append(float(record.args[-1]))


def load_catalog(count: int) -> list[int]:
    """``count`` demo products with their photos, marked pending; an earlier run's are reused."""
    from demo_project.catalog.loading import load_demo_catalog
    from demo_project.catalog.models import Product
    from shop_clip.marking import mark_pending

    ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    if len(ids) != count:
        Product.objects.all().delete()
        print(f"generating {count:,} demo products with photos", flush=True)
        ids = load_demo_catalog(count, seed=23, progress=True, enqueue=False)
    for start in range(0, len(ids), 5000):
        mark_pending(ids[start:start + 5000], enqueue=False, keywords=False)
    return ids


def reset(mode: str) -> None:
    """Every row pending and forgotten, the table vacuumed; the index there (empty) or not."""
    from django.db import connection

    from shop_clip.hnsw import create_index_sql, drop_index_sql
    from shop_clip.models import EmbeddingSpace, ProductVector

    space = EmbeddingSpace.objects.get()
    with connection.cursor() as cursor:
        cursor.execute(drop_index_sql(space.pk))
        ProductVector.objects.update(status="pending", content_hash="", embedding=None, attempts=0)
        EmbeddingSpace.objects.update(activated_at=None)  # as a model switch's new space
        cursor.execute(f"VACUUM ANALYZE {ProductVector._meta.db_table}")
        if mode == "incremental":
            cursor.execute(create_index_sql(space.pk, space.dim))


def run_round(mode: str, builds: BuildTimes) -> dict:
    from shop_clip.claim_lanes import process_pending
    from shop_clip.hnsw import has_index
    from shop_clip.models import EmbeddingSpace, ProductVector

    reset(mode)
    load_before = os.getloadavg()[0]
    rows = ProductVector.objects.count()
    built_before = len(builds.seconds)
    start = time.perf_counter()
    result, more = process_pending()
    wall = time.perf_counter() - start
    space = EmbeddingSpace.objects.get()
    assert not more and result.embedded == rows, f"embedded {result.embedded} of {rows}"
    assert has_index(space.pk) and space.activated_at is not None, "the space was not indexed and activated"
    build = sum(builds.seconds[built_before:])
    return {"mode": mode, "rows": rows, "wall_s": round(wall, 2), "rows_per_s": round(rows / wall, 1),
            "write_s": round(result.seconds.get("write", 0.0), 2),
            "model_s": round(result.seconds.get("model", 0.0), 2),
            "build_s": round(build, 2), "build_share": round(build / wall, 3),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each mode, alternating")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--load-only", action="store_true", help="generate the catalog only")
    args = parser.parse_args()

    setup_django(f"shop_clip_bench_backfill_{args.products}")
    import torch

    from shop_clip.conf import shop_clip_settings

    torch.set_num_threads(2)
    builds = BuildTimes()
    logging.getLogger("shop_clip.spaces").addHandler(builds)
    logging.getLogger("shop_clip.spaces").setLevel(logging.INFO)
    started = time.perf_counter()
    load_catalog(args.products)
    if args.load_only:
        return
    runs = []
    for number in range(args.rounds):
        for mode in MODES if number % 2 == 0 else MODES[::-1]:
            print(f"round {number + 1}/{args.rounds}: {mode}", flush=True)
            runs.append(run_round(mode, builds))
            print(f"  {runs[-1]}", flush=True)
    summary = {mode: {key: statistics.median(run[key] for run in runs if run["mode"] == mode)
                      for key in ("wall_s", "rows_per_s", "write_s", "model_s", "build_s", "build_share")}
               for mode in MODES}
    gain = summary["bulk"]["rows_per_s"] / summary["incremental"]["rows_per_s"]
    print_table(f"backfill of {args.products:,} rows, shop-clip-mini on CPU (medians of {args.rounds} rounds each)",
                ["mode", "rows/s", "wall s", "write s", "model s", "build s", "build share"],
                [[mode, s["rows_per_s"], s["wall_s"], s["write_s"], s["model_s"], s["build_s"], s["build_share"]]
                 for mode, s in summary.items()])
    print(f"bulk / incremental rows per second: {gain:.2f}x")
    write_json(args.json or RESULTS / f"backfill_{args.products // 1000}k.json", {
        "benchmark": "backfill", "command": " ".join(["python", "bench/backfill.py", *sys.argv[1:]]),
        "machine": machine(), "products": args.products, "rounds": args.rounds,
        "settings": {"HNSW_BUILD_WORKERS": shop_clip_settings.HNSW_BUILD_WORKERS,
                     "HNSW_BUILD_MEMORY": shop_clip_settings.HNSW_BUILD_MEMORY,
                     "CLAIM_BATCH_SIZE": shop_clip_settings.CLAIM_BATCH_SIZE},
        "runs": runs, "median": summary, "bulk_over_incremental": round(gain, 3),
        "elapsed_s": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
