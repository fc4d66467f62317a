"""Fine-tuning on the store's own catalog, model switch when the new index is complete, evaluation."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

from shop_clip import retrieval_eval
from shop_clip.indexing import process_pending
from shop_clip.models import ProductVector
from shop_clip.spaces import active_space, configured_space


@pytest.fixture
def small_store(transactional_db, settings):
    from demo_project.catalog.loading import load_demo_catalog

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    ids = load_demo_catalog(48, seed=5, progress=False, enqueue=False)
    process_pending()
    return ids


def test_finetune_then_switch_when_the_new_index_is_complete(small_store, settings, tmp_path, capsys):
    old = active_space()
    out = tmp_path / "tuned"
    call_command("shop_clip_finetune", "--output", str(out), "--epochs", "1", "--batch-size", "16")
    printed = capsys.readouterr().out
    assert "held-out text -> image retrieval" in printed and "recall_at_1" in printed
    assert (out / "modules.json").exists()

    settings.SHOP_CLIP = {**settings.SHOP_CLIP,
                          "ENCODER": {**settings.SHOP_CLIP["ENCODER"], "MODEL": str(out)}}
    new = configured_space()
    assert new.model_id != old.model_id and new.activated_at is None
    call_command("shop_clip_index", "--all")  # marks the new model's rows; no worker runs here
    assert ProductVector.objects.filter(space=new, status="pending").count() == len(small_store)
    # Half-built index: shoppers still get the old model's results.
    assert Client().get("/api/shop-clip/search/", {"q": "red mug"}).json()["model"] == old.model_id

    process_pending(max_batches=1)
    assert active_space().pk == old.pk or not ProductVector.objects.filter(space=new, status="pending").exists()
    process_pending()
    assert active_space().pk == new.pk
    body = Client().get("/api/shop-clip/search/", {"q": "red mug", "limit": 5}).json()
    assert body["model"] == new.model_id and len(body["results"]) == 5
    # The old vectors stay beside the new ones (a rollback is a setting change away).
    assert ProductVector.objects.filter(space=old, status="embedded").count() == len(small_store)


def test_eval_numbers_come_from_real_search_results(small_store, tmp_path, monkeypatch):
    out = tmp_path / "eval.json"
    call_command("shop_clip_eval", "--json", str(out), "--min-relevant", "2", "--all-pairs",
                 "--look-alike-sample", "20", "--look-scenes", "6")
    report = json.loads(out.read_text())
    look = report["shop_the_look"]
    assert look["scenes"] == 6 and look["products"] >= 6
    assert look["category_recall"] >= 0.6 and look["category_precision"] >= 0.6
    metrics = report["metrics"]
    assert report["products"] == len(small_store)
    assert report["queries"]["category"] > 0 and report["queries"]["look_alike"] == 20
    assert 0 < metrics["text P@10, category"]["exact"] <= 1
    assert metrics["text P@10, category"]["hnsw"] == pytest.approx(metrics["text P@10, category"]["exact"], abs=0.05)

    # Break the search and the HNSW numbers follow it, while exact search does not move.
    monkeypatch.setattr(retrieval_eval, "nearest_products", lambda *args, **kwargs: [])
    broken = retrieval_eval.evaluate(active_space(), min_relevant=2, held_out_only=False, look_alike_sample=20)
    assert broken.metrics["text P@10, category"]["hnsw"] == 0
    assert broken.metrics["text P@10, category"]["exact"] == metrics["text P@10, category"]["exact"]
    assert broken.metrics["index recall@10 (HNSW vs exact ids)"]["hnsw"] == 0
