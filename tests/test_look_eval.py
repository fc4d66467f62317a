"""Shop the look's per-kind evaluation (look_eval, shop_clip_eval --scenes) and each group's
confidence, against the demo store's own 600 products embedded in pgvector."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from demo_project.training.eval_set import write_look_scenes
from demo_project.training.vocabulary import CATEGORIES
from shop_clip import look, look_eval
from shop_clip.look import Region
from shop_clip.search import product_vectors
from shop_clip.spaces import active_space

from .conftest import committed_demo_catalog


@pytest.fixture(scope="module")
def store(django_db_setup, django_db_blocker):
    """The demo store's catalog (600 products, seed 0): the products the eval's scenes show."""
    with committed_demo_catalog(django_db_blocker, 600, seed=0) as ids:
        yield ids


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return look_eval.load_scenes(write_look_scenes(tmp_path_factory.mktemp("scenes"), count=4))


def test_each_kind_is_reported_with_every_product_found_in_the_store(store, scenes, db):
    report = look_eval.evaluate_shop_the_look(scenes)
    assert set(report["kinds"]) == {"flat_lay", "collage", "busy", "not_stocked"}
    stocked = sum(figures["products"] for kind, figures in report["kinds"].items() if kind != "not_stocked")
    assert report["scenes"] == 16 and report["exact_measured"] == stocked  # every lookup names one
    for kind, figures in report["kinds"].items():
        assert figures["scenes"] == 4 and figures["products"] >= 8, kind
        errors = figures["errors"]
        # A product is found, or missed with no region on it, or missed under another category.
        assert figures["category_recall"] + errors["no_region"] + errors["wrong_category"] == pytest.approx(1, abs=1e-3)
        assert 0 < figures["p50_ms"] <= figures["p95_ms"]
        assert set(figures["met"]) == set(look_eval.TARGETS)
        if kind == "not_stocked":  # no very product in the store: only its category can be right
            assert figures["exact_measured"] == 0 and figures["exact_in_top5"] is None
            assert figures["met"]["exact_in_top5"] is None and errors["not_in_top5"] == 0
        else:
            assert figures["exact_measured"] == figures["products"], kind
            assert figures["exact_in_top5"] + errors["not_in_top5"] == pytest.approx(figures["category_recall"],
                                                                                     abs=1e-3)
    # Flat-lays of the store's own products: most are found, and as the very product.
    assert report["kinds"]["flat_lay"]["category_recall"] >= 0.7
    assert report["kinds"]["flat_lay"]["exact_in_top5"] >= 0.6


def test_misses_are_blamed_on_the_step_that_made_them(store, scenes, db, monkeypatch):
    monkeypatch.setattr(look, "find_regions", lambda image, space: [])
    nothing = look_eval.evaluate_shop_the_look(scenes)
    assert nothing["category_recall"] == 0 and nothing["errors"]["no_region"] == 1
    assert nothing["spurious_per_scene"] == 0

    # A region on each product, named after another category the store has.
    vector = product_vectors(store[0], active_space())[0]
    wrong = products = spurious = 0
    for scene in scenes:
        shown = {product["category"] for product in scene.products}
        others = [category.slug for category in CATEGORIES if category.slug not in shown]
        regions = [Region(tuple(product["box"]), others[index], 0.9, vector, 0.9)
                   for index, product in enumerate(scene.products)]
        monkeypatch.setattr(look, "find_regions", lambda image, space, regions=regions: regions)
        figures = look_eval.evaluate_shop_the_look([scene])
        wrong += figures["errors"]["wrong_category"] * figures["products"]
        products += figures["products"]
        spurious += figures["spurious_per_scene"]
    assert wrong == pytest.approx(products) and spurious == pytest.approx(products)  # every group one it lacks


def test_the_command_prints_every_kind_against_its_targets(store, scenes, db, tmp_path, capsys):
    out = tmp_path / "eval.json"
    call_command("shop_clip_eval", "--scenes", str(scenes[0].photo.parent), "--look-alike-sample", "5",
                 "--json", str(out))
    printed = capsys.readouterr().out
    for needle in ("flat_lay", "collage", "busy", "not_stocked", ">= 0.9", ">= 0.7", "<= 100", "p95 ms", "no region"):
        assert needle in printed
    look = json.loads(out.read_text())["shop_the_look"]
    assert set(look["kinds"]) == {"flat_lay", "collage", "busy", "not_stocked"}
    assert look["targets"]["category_recall"] == ">= 0.9"


def test_scenes_file_errors_name_the_problem(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    for scenes, needle in (([{"image": "a.jpg", "products": [{"category": "mug", "box": [0, 1]}]}], "box"),
                           ([{"image": "a.jpg", "products": [{"category": "mug", "lookup": []}]}], "lookup"),
                           ([{"image": "b.jpg", "products": [{"category": "mug"}]}], "no photo")):
        (tmp_path / "scenes.json").write_text(json.dumps(scenes))
        with pytest.raises(ValueError, match=needle):
            look_eval.load_scenes(tmp_path)


def test_a_region_lies_on_a_product_it_mostly_holds_and_is_not_much_bigger_than():
    tie = (0.4, 0.1, 0.5, 0.6)
    assert look_eval.lies_on((0.2, 0.05, 0.75, 0.65), tie)  # the padded square round it
    assert not look_eval.lies_on((0.0, 0.0, 1.0, 1.0), tie)  # the whole photo
    assert not look_eval.lies_on((0.48, 0.1, 0.9, 0.6), tie)  # mostly beside it
    assert not look_eval.lies_on((0.6, 0.1, 0.9, 0.6), tie)


def test_iou():
    assert look_eval.iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1
    assert look_eval.iou((0, 0, 0.5, 1), (0.5, 0, 1, 1)) == 0
    assert look_eval.iou((0, 0, 1, 1), (0, 0, 0.5, 0.5)) == pytest.approx(0.25)


# -- confidence in the API ------------------------------------------------------------------------

def _jpeg(path) -> io.BytesIO:
    buffer = io.BytesIO(path.read_bytes())
    buffer.name = "scene.jpg"
    return buffer


def test_each_shop_the_look_group_says_how_sure_it_is(store, scenes, db):
    api = Client()
    confidences = []
    for scene in scenes:
        body = api.post("/api/shop-clip/shop-the-look/", {"image": _jpeg(scene.photo), "categories": 6}).json()
        for group in body["groups"]:
            assert len(group["box"]) == 4
            confidences.append(group["confidence"])
    assert confidences and all(0 < value <= 1 for value in confidences)
    assert len(set(confidences)) > 1  # a measure, not a constant
    complete = api.get(f"/api/shop-clip/products/{store[0]}/complete-the-look/").json()
    assert complete["groups"] and all(group["confidence"] is None for group in complete["groups"])
    schema = api.get("/api/shop-clip/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    group_schema = next(body for name, body in schema["components"]["schemas"].items() if name.startswith("LookGroup"))
    assert group_schema["properties"]["confidence"]["nullable"] is True


def test_a_region_nothing_matches_well_is_left_out(store, scenes, db, settings):
    api = Client()
    photo = scenes[0].photo
    answered = api.post("/api/shop-clip/shop-the-look/", {"image": _jpeg(photo)}).json()["groups"]
    assert answered
    least = min(group["confidence"] for group in answered)
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_MIN_CONFIDENCE": least + 1e-3}
    fewer = api.post("/api/shop-clip/shop-the-look/", {"image": _jpeg(photo)}).json()["groups"]
    assert all(group["confidence"] > least for group in fewer) and len(fewer) < len(answered)
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_MIN_CONFIDENCE": 0.0, "LOOK_MIN_SCORE": 1.01}
    assert api.post("/api/shop-clip/shop-the-look/", {"image": _jpeg(photo)}).json()["groups"] == []


def test_the_command_without_scenes_says_how_to_make_them(tmp_path, db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=r"scenes.json.*python -m demo_project.training.eval_set"):
        call_command("shop_clip_eval", "--scenes", str(tmp_path / "look_scenes"))
