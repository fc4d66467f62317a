"""Smoke run of ``bench/search.py`` at a tiny size: it runs end to end and writes every figure.

Its own throwaway database on the same server (dropped afterwards); no timing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_search_benchmark_runs_at_tiny_size(tmp_path):
    out = tmp_path / "search.json"
    env = dict(os.environ, SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]))
    result = subprocess.run(
        [sys.executable, "bench/search.py", "--products", "2000", "--queries", "20", "--exact-check", "2",
         "--workers", "1", "--clients", "1,2", "--duration", "1", "--warmup", "0.5",
         "--database", "shop_clip_bench_smoke", "--drop", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())

    load = data["load"]
    assert {"build_s", "table_bytes", "index_bytes", "m", "ef_construction", "maintenance_work_mem"} <= set(load)
    assert load["products"] == 2000
    modes = ("off", "strict_order", "strict, hnsw only", "relaxed_order")
    scenarios = {(row["filter"], row["iterative_scan"]) for row in data["sql"]}
    filters = ("none", "50%", "10%", "1%", "0.5%", "0.2%", "words 10%", "words 1%", "words 0.1%", "tag 10%", "tags 2%")
    assert scenarios == {(f, m) for f in filters for m in modes}
    assert load["keyword_documents_s"] >= 0
    for row in data["sql"]:
        assert {"p50_ms", "p99_ms", "bare_sql_p50_ms", "rows_min", "recall_at_10", "selectivity", "path"} <= set(row)
        assert 0 <= row["recall_at_10"] <= 1
    rows = {"search/ cached": 10, "search/ cached, mode=vector": 10, "search/ uncached": 10,
            "products/<pk>/similar/": 10,
            "complete-the-look/ new product": 4 * 3, "complete-the-look/ popular product": 4 * 3}
    assert {(row["scenario"], row["clients"]) for row in data["http"]} == {(s, c) for s in rows for c in (1, 2)}
    for row in data["http"]:
        assert {"p50_ms", "p99_ms", "throughput_rps", "ratio"} <= set(row)
        assert row["requests"] > 0 and row["errors"] == 0 and row["rows_mean"] == rows[row["scenario"]]
    assert {"p50_ms", "model"} <= set(data["text_encoder"])
    assert all({"target", "value", "met"} <= set(t) for t in data["targets"])
    # The defaults fill every page and find the exact neighbours of the 20 products a 1% filter leaves.
    default = {row["filter"]: row for row in data["sql"] if row["iterative_scan"] == "strict_order"}
    assert all(row["full_pages"] == 1 for row in default.values())
    assert default["1%"]["path"] == "exact" and default["1%"]["recall_at_10"] == 1
    # Keyword filters: the products with every word (counted here from the generated titles) are
    # the ones the selective filter returns, nearest first, exactly.
    assert default["words 0.1%"]["path"] == "exact" and default["words 0.1%"]["recall_at_10"] == 1
    assert default["words 10%"]["matching"] > default["words 1%"]["matching"] > default["words 0.1%"]["matching"]
    # Tag filters (?colour=red&pattern=striped) through search.shopper_filters: every page full,
    # the products the generated tags say, exactly where few match.
    assert 0.05 < default["tag 10%"]["selectivity"] < 0.15 and 0.005 < default["tags 2%"]["selectivity"] < 0.04
    assert default["tags 2%"]["path"] == "exact" and default["tags 2%"]["recall_at_10"] == 1
    assert load["tags_s"] >= 0


def test_binary_benchmark_runs_centred_and_its_query_walks_its_index(tmp_path):
    out = tmp_path / "binary.json"
    env = dict(os.environ, SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]))
    result = subprocess.run(
        [sys.executable, "bench/search.py", "--products", "2000", "--queries", "10", "--exact-check", "1",
         "--skip-http", "--skip-modes", "--binary", "--binary-m", "8", "--binary-centred",
         "--database", "shop_clip_bench_smoke_binary", "--drop", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    index = data["binary_index"]
    assert index["centred"] and index["m"] == 8 and index["index"].startswith("bench_hnsw_bitc_m8_")
    assert index["centre"].startswith("[") and len(index["centre"].split(",")) == 512
    # The query spells the centred expression as the index does, so the planner uses the index.
    assert index["query_uses_index"] is True
    variants = {(row["filter"], row["variant"]) for row in data["binary"]}
    assert ("none", "binary, 1000 candidates") in variants and ("10%", "halfvec") in variants
    assert all(0 <= row["recall_at_10"] <= 1 and row["size_ratio"] > 0 for row in data["binary"])


def test_the_apps_binary_index_benchmark_switches_a_loaded_database_and_measures_every_filter(tmp_path):
    out = tmp_path / "binary_app.json"
    env = dict(os.environ, SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]))
    database = "shop_clip_bench_smoke_binary_app"
    loaded = subprocess.run(
        [sys.executable, "bench/search.py", "--products", "2000", "--database", database, "--load-only",
         "--json", str(tmp_path / "load.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    result = subprocess.run(
        [sys.executable, "bench/binary_app.py", "--products", "2000", "--queries", "10", "--database", database,
         "--switch", "--drop", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "search walks its binary index" in result.stdout
    data = json.loads(out.read_text())
    rows = {row["filter"]: row for row in data["results"]}
    assert data["index"] == "binary" and len(rows) == 11
    assert rows["none"]["path"] == "hnsw" and rows["none"]["full_pages"] == 1 and rows["none"]["recall_at_10"] >= 0.9
    assert all(0 <= row["recall_at_10"] <= 1 and row["path"] in ("hnsw", "exact") for row in rows.values())


def test_the_second_space_benchmark_adds_a_space_beside_the_active_one_and_measures_both(tmp_path):
    out = tmp_path / "spaces.json"
    env = dict(os.environ, SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]))
    result = subprocess.run(
        [sys.executable, "bench/search.py", "--products", "2000", "--queries", "5", "--exact-check", "1",
         "--skip-http", "--skip-modes", "--second-space", "--warm",
         "--database", "shop_clip_bench_smoke_spaces", "--drop", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    second = data["second_space"]
    assert second["database"] == "shop_clip_bench_smoke_spaces_two" and second["second_index_bytes"] > 0
    rows = {(row["filter"], row["database"]): row for row in data["fresh_and_warm"]}
    filters = {name for name, _ in rows}
    assert len(filters) == 11 and {database for _, database in rows} == {"one space", "two spaces"}
    # The second space's vectors are other vectors: a search that read them would lose its recall.
    for name in filters:
        one, two = rows[name, "one space"], rows[name, "two spaces"]
        assert two["full_pages"] == 1 and two["recall_at_10"] == one["recall_at_10"] >= 0.9
    assert {"two spaces: p50 within 1.1x of one space, warm", "two spaces: full pages at every filter"} <= {
        target["target"] for target in data["targets"]}


def test_the_covering_index_benchmark_times_the_heap_against_the_covering_index_with_the_same_answers(tmp_path):
    out = tmp_path / "covering.json"
    env = dict(os.environ, SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]))
    result = subprocess.run(
        [sys.executable, "bench/search.py", "--products", "2000", "--queries", "6", "--covering",
         "--database", "shop_clip_bench_smoke_covering", "--drop", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads(out.read_text())["covering"]
    assert rows and all(row["same_answers"] == 1 and row["index_bytes"] > 0 for row in rows)
    # The app's statement as it runs now reads each row's heap page. Whether 2,000 products' plans take
    # the covering index varies with their statistics; at 1M they do (docs/decisions/filtered-search-at-1m.md).
    assert not any(row["plans"]["heap"]["scan"].startswith("Index Only Scan") for row in rows)
    assert all(row["heap_p50_ms"] > 0 and row["covering_p50_ms"] > 0 and row["ratio"] > 0 for row in rows)
