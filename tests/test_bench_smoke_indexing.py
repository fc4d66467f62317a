"""Smoke run of the indexing benchmark at tiny size: it runs, prints its table, writes its JSON.

(Numbers are not asserted: speed is judged by the benchmark itself, on a quiet machine.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_indexing_benchmark_smoke(tmp_path):
    out = tmp_path / "indexing.json"
    completed = subprocess.run(
        [sys.executable, "bench/indexing.py", "--model", "mini", "--images", "24", "--batch", "8",
         "--rounds", "1", "--worker-processes", "1,2", "--claim", "8", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "pipeline img/s" in completed.stdout
    result = json.loads(out.read_text())["results"][0]
    assert {"bare_images_per_s", "pipeline_images_per_s", "ratio", "pipeline_ms_per_image",
            "worker_images_per_s", "worker_ratio"} <= set(result)
    assert result["images"] == 24 and result["pipeline_images_per_s"] > 0
    phases = result["pipeline_ms_per_image"]  # where the time went, from the pipeline's own clocks
    assert all(phases[p] > 0 for p in ("wall", "claim", "model", "write", "decode", "preprocess"))
    assert "where the pipeline's time goes" in completed.stdout
    # Workers of one and of two children, one task sent to each, embedded every row (asserted inside
    # the benchmark): the task's helpers reach the second child.
    assert [w["children"] for w in result["workers"]] == [1, 2]
    assert all(w["images_per_s"] > 0 for w in result["workers"])
    assert result["worker_images_per_s"] == max(w["images_per_s"] for w in result["workers"])
