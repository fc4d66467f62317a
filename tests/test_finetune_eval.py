"""Fine-tuning on the store's own catalog, model switch when the new index is complete, evaluation."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from shop_clip import retrieval_eval
from shop_clip.indexing import process_pending
from shop_clip.models import ProductVector
from shop_clip.spaces import active_space, configured_space

from .conftest import embedded_demo_catalog


@pytest.fixture
def small_store(transactional_db, settings):
    return embedded_demo_catalog(settings, 48, seed=5)


def test_finetune_then_switch_when_the_new_index_is_complete(small_store, settings, tmp_path, capsys):
    old = active_space()
    out = tmp_path / "tuned"
    call_command("shop_clip_finetune", "--output", str(out), "--epochs", "1", "--batch-size", "16")
    printed = capsys.readouterr().out
    assert "held-out text -> image retrieval" in printed and "recall_at_1" in printed
    assert (out / "modules.json").exists()
    # The bundled model's region tower reads regions into the old catalog space: a tuned model has none.
    assert not (out / "look_regions").exists()

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
    from demo_project.training.eval_set import write_look_scenes

    out = tmp_path / "eval.json"
    scenes = write_look_scenes(tmp_path / "scenes", count=6, kinds=("flat_lay",))
    # No queries file: queries are built from the products' own attributes.
    call_command("shop_clip_eval", "--json", str(out), "--min-relevant", "2", "--look-alike-sample", "20",
                 "--scenes", str(scenes))
    report = json.loads(out.read_text())
    look = report["shop_the_look"]
    assert look["scenes"] == 6 and look["products"] >= 12 and set(look["kinds"]) == {"flat_lay"}
    assert look["category_recall"] >= 0.6 and look["category_precision"] >= 0.6
    # The scenes show the demo store's products, which this small store lacks: no "very product" to find.
    assert look["exact_measured"] == 0 and look["exact_in_top5"] is None
    metrics = report["metrics"]
    assert report["products"] == len(small_store)
    assert report["queries"]["category"] > 0 and report["queries"]["look_alike"] == 20
    assert 0 < metrics["text P@10, category"]["exact"] <= 1
    assert metrics["text P@10, category"]["hnsw"] == pytest.approx(metrics["text P@10, category"]["exact"], abs=0.05)

    # Break the search and the HNSW numbers follow it, while exact search does not move.
    monkeypatch.setattr(retrieval_eval, "nearest", lambda *args, **kwargs: [])
    broken = retrieval_eval.evaluate(active_space(), min_relevant=2, look_alike_sample=20)
    assert broken.metrics["text P@10, category"]["hnsw"] == 0
    assert broken.metrics["text P@10, category"]["exact"] == metrics["text P@10, category"]["exact"]
    assert broken.metrics["index recall@10 (HNSW vs exact ids)"]["hnsw"] == 0


def test_eval_reads_the_stores_queries_from_a_file(small_store, tmp_path, capsys):
    """The demo's own queries file: queries fewer than 2 of this 48-product store match are skipped."""
    from demo_project.training.eval_set import QUERIES_FILE

    out = tmp_path / "eval.json"
    call_command("shop_clip_eval", "--queries", str(QUERIES_FILE), "--min-relevant", "2", "--look-alike-sample", "5",
                 "--json", str(out))
    report = json.loads(out.read_text())
    queries = retrieval_eval.load_queries(QUERIES_FILE)
    labelled = retrieval_eval._labelled_products().values()

    def relevant(query) -> int:
        return sum(all(item.get(key) == value for key, value in query.relevant.items()) for item in labelled)

    kept = Counter(query.kind for query in queries if relevant(query) >= 2)
    assert {kind: n for kind, n in report["queries"].items() if kind != "look_alike"} == kept
    assert kept["category"] > 0 and report["skipped_queries"] == len(queries) - sum(kept.values()) > 0
    assert f"{report['skipped_queries']} queries skipped" in capsys.readouterr().out


def test_an_eval_whose_every_query_is_skipped_says_what_to_check(small_store, tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "queries.json"
    path.write_text('[{"query": "red mug", "relevant": {"colour ": "red"}}, '
                    '{"query": "red mug", "relevant": {"colour": "Red"}}]')  # a stray space, a capital
    with pytest.raises(CommandError, match="all 2 queries were skipped: none has 2 relevant products"):
        call_command("shop_clip_eval", "--queries", str(path), "--min-relevant", "2", "--look-alike-sample", "5")


@pytest.mark.parametrize(("content", "message"), [
    ("{}", "non-empty JSON list"),
    ('[{"query": "red mug"}]', '"relevant" must be'),
    ('[{"query": "", "relevant": {"category": "mug"}}]', 'non-empty "query"'),
    ("[1", "cannot read queries"),
])
def test_a_malformed_queries_file_is_refused_with_the_reason(content, message, tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "queries.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("shop_clip_eval", "--queries", str(path))


def test_a_query_is_grouped_by_the_attributes_it_names_unless_it_says_otherwise(tmp_path):
    path = tmp_path / "queries.json"
    path.write_text(json.dumps([{"query": "red mug", "relevant": {"colour": "red", "category": "mug"}},
                                {"query": "gift", "relevant": {"category": "mug"}, "kind": "gifts"}]))
    first, second = retrieval_eval.load_queries(path)
    assert (first.text, first.relevant, first.kind) == ("red mug", {"colour": "red", "category": "mug"},
                                                        "colour_category")
    assert second.kind == "gifts"


@pytest.mark.parametrize("name, found", [("category", "is a ForeignKey, not a JSON field"),
                                         ("labels", "does not exist")])
def test_eval_names_an_attributes_field_that_is_not_json(small_store, settings, name, found):
    """Oscar's Product.attributes is a many-to-many: eval said no product had a 'category' label."""
    from django.core.management.base import CommandError

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EVAL_ATTRIBUTES_FIELD": name}
    with pytest.raises(CommandError, match=f"names catalog.Product.{name}, which {found}: evaluation reads"):
        call_command("shop_clip_eval")
