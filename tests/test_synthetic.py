"""The deterministic demo catalog generator and the demo's evaluation set (no database, no model)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from demo_project.training.synthetic import (
    CATEGORIES,
    COLOURS,
    HELD_OUT_PAIRS,
    PATTERNS,
    SyntheticProduct,
    all_pairs,
    describe,
    generate_catalog,
    make_product,
    query_for,
    render_product_image,
)
from demo_project.training.vocabulary import DEPARTMENTS

SMALL = 48  # pixels: enough to test behaviour, cheap to render


def _fingerprint(products: list[SyntheticProduct]) -> list[tuple]:
    return [(p.title, p.description, p.attributes, p.image.tobytes()) for p in products]


def test_same_seed_gives_identical_products_and_pixels():
    first = list(generate_catalog(8, seed=7, image_size=SMALL))
    second = list(generate_catalog(8, seed=7, image_size=SMALL))
    assert _fingerprint(first) == _fingerprint(second)


def test_another_seed_gives_other_products():
    first = list(generate_catalog(8, seed=7, image_size=SMALL))
    other = list(generate_catalog(8, seed=8, image_size=SMALL))
    assert _fingerprint(first) != _fingerprint(other)


def test_vocabulary_is_wide_enough():
    assert len(CATEGORIES) >= 12
    assert len(COLOURS) >= 10
    assert len(PATTERNS) >= 5
    assert {category.department for category in CATEGORIES} == set(DEPARTMENTS)
    assert len({category.slug for category in CATEGORIES}) == len(CATEGORIES)


def test_catalog_covers_the_vocabulary_with_consistent_attributes():
    products = list(generate_catalog(400, seed=1, image_size=24))
    seen = {key: {p.attributes[key] for p in products} for key in ("category", "colour", "pattern")}
    assert seen["category"] == {category.slug for category in CATEGORIES}
    assert seen["colour"] == {colour.name for colour in COLOURS}
    assert seen["pattern"] == {pattern.slug for pattern in PATTERNS}
    by_slug = {category.slug: category for category in CATEGORIES}
    for product in products:
        category = by_slug[product.attributes["category"]]
        assert set(product.attributes) == {"category", "department", "colour", "pattern", "material"}
        assert product.attributes["department"] == category.department
        assert product.attributes["material"] in category.materials
        assert product.title and product.description
        assert product.image.mode == "RGB" and product.image.size == (24, 24)


def test_held_out_pairs_are_a_fair_minority():
    pairs = set(all_pairs())
    assert HELD_OUT_PAIRS < pairs
    assert 0.10 <= len(HELD_OUT_PAIRS) / len(pairs) <= 0.15
    training = pairs - HELD_OUT_PAIRS
    assert {colour for colour, _ in training} == {colour.name for colour in COLOURS}
    assert {category for _, category in training} == {category.slug for category in CATEGORIES}


def test_excluded_pairs_are_never_produced_and_only_pairs_are_respected():
    excluded = generate_catalog(300, seed=2, image_size=16, exclude_pairs=HELD_OUT_PAIRS)
    assert not {(p.attributes["colour"], p.attributes["category"]) for p in excluded} & HELD_OUT_PAIRS
    only = generate_catalog(60, seed=2, image_size=16, only_pairs=HELD_OUT_PAIRS)
    assert {(p.attributes["colour"], p.attributes["category"]) for p in only} <= HELD_OUT_PAIRS


def test_no_pairs_left_is_an_error():
    with pytest.raises(ValueError):
        next(generate_catalog(1, exclude_pairs=all_pairs()))


def test_same_attributes_still_give_different_pictures():
    rng = np.random.default_rng(0)
    attributes = {"category": "t-shirt", "department": "clothing", "colour": "red", "pattern": "striped",
                  "material": "cotton"}
    first, second = make_product(attributes, rng, SMALL), make_product(attributes, rng, SMALL)
    assert first.attributes == second.attributes
    assert first.image.tobytes() != second.image.tobytes()


def test_the_product_is_drawn_in_its_colour():
    """The object's dominant saturated colour is the attribute's colour, not the backdrop's."""
    rng = np.random.default_rng(3)
    attributes = {"category": "cushion", "colour": "blue", "pattern": "solid", "material": "cotton"}
    pixels = np.asarray(render_product_image(attributes, rng, 64), dtype=float)
    centre = pixels[24:40, 24:40].reshape(-1, 3).mean(axis=0)
    assert centre[2] > centre[0] + 60 and centre[2] > centre[1] + 40


def test_copy_keeps_canonical_names_in_attributes_and_varies_wording():
    rng = np.random.default_rng(5)
    attributes = {"category": "t-shirt", "colour": "red", "pattern": "striped", "material": "cotton"}
    titles = {describe(attributes, rng)[0] for _ in range(30)}
    assert len(titles) > 10
    assert any("crimson" in title.lower() or "scarlet" in title.lower() for title in titles)


def test_query_for_uses_shopper_words():
    attributes = {"category": "t-shirt", "colour": "red", "pattern": "striped"}
    assert query_for(attributes, "colour_pattern_category") == "red striped t-shirt"
    assert query_for(attributes, "category") == "t-shirt"
    assert query_for(attributes, "colour_category") == "red t-shirt"
    assert query_for({**attributes, "pattern": "solid"}, "colour_pattern_category") == "plain red t-shirt"
    with pytest.raises(ValueError):
        query_for(attributes, "brand")


def test_generation_is_fast():
    started = time.perf_counter()
    products = list(generate_catalog(50, seed=4, image_size=256))
    elapsed = time.perf_counter() - started
    assert len(products) == 50
    assert elapsed < 5.0, f"50 products at 256 px took {elapsed:.1f}s"  # about 0.2s unloaded


def test_the_committed_eval_queries_are_what_the_demo_generates_and_hold_every_held_out_pair():
    from demo_project.training.eval_set import QUERIES_FILE, eval_queries

    committed = json.loads(QUERIES_FILE.read_text())
    assert committed == eval_queries()  # rewrite with `python -m demo_project.training.eval_set`
    held_out = {(q["relevant"]["colour"], q["relevant"]["category"]) for q in committed if "colour" in q["relevant"]}
    assert held_out == HELD_OUT_PAIRS
    assert {q["relevant"]["category"] for q in committed if len(q["relevant"]) == 1} == {c.slug for c in CATEGORIES}


def test_look_scenes_are_written_with_their_labels_and_the_same_bytes_each_time(tmp_path):
    from demo_project.training.eval_set import SCENES_FILE, write_look_scenes

    first = write_look_scenes(tmp_path / "a", count=3, seed=11)
    again = write_look_scenes(tmp_path / "b", count=3, seed=11)
    scenes = json.loads((first / SCENES_FILE).read_text())
    assert [scene["kind"] for scene in scenes] == (["flat_lay"] * 3 + ["collage"] * 3 + ["busy"] * 3
                                                   + ["not_stocked"] * 3)
    for scene in scenes:
        assert 2 <= len(scene["products"]) <= 4
        categories = [product["category"] for product in scene["products"]]
        assert len(set(categories)) == len(categories)  # distinct categories, as shop the look answers
        for product in scene["products"]:
            x0, y0, x1, y1 = product["box"]
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            if scene["kind"] == "not_stocked":  # nothing in the store to name, no colour it sells of the category
                assert "lookup" not in product and "colour" not in product
            else:
                assert product["lookup"]["image__startswith"].startswith("products/demo-0-")
        assert (first / scene["image"]).read_bytes() == (again / scene["image"]).read_bytes()
    collages = [scene for scene in scenes if scene["kind"] == "collage"]
    assert all(60 <= scene["jpeg_quality"] <= 80 for scene in collages)
    # Only the flat-lays' own stream moves when a kind is left out: each kind has its own.
    alone = write_look_scenes(tmp_path / "c", count=3, seed=11, kinds=("busy",))
    assert (alone / "busy-000.jpg").read_bytes() == (first / "busy-000.jpg").read_bytes()


def test_look_scenes_show_store_products_training_never_saw():
    from demo_project.training.eval_set import TRAINING_SEEDS, scene_products, write_look_scenes
    from demo_project.training.store_catalog import demo_store_products, image_name
    from demo_project.training.train_mini import MiniRecipe

    recipe = MiniRecipe()
    assert {recipe.seed, recipe.seed + 1} == set(TRAINING_SEEDS)  # mini_data's two streams
    for seed in TRAINING_SEEDS:
        with pytest.raises(ValueError, match="training"):
            write_look_scenes("unused", seed=seed)
    pool = scene_products()
    assert len(pool) >= 60 and len({p.attributes["category"] for _, p in pool}) == len(CATEGORIES)
    assert all((p.attributes["colour"], p.attributes["category"]) in HELD_OUT_PAIRS for _, p in pool)
    looks = [(p.attributes["category"], p.attributes["colour"], p.attributes["pattern"]) for _, p in pool]
    assert len(set(looks)) == len(looks)
    store = list(demo_store_products())
    name, product = pool[0]
    index = next(i for i in range(len(store)) if image_name(0, i) == name)
    assert store[index].image.tobytes() == product.image.tobytes()  # the store's very photo


def test_not_stocked_scenes_show_colours_of_a_category_the_store_sells_none_of():
    from demo_project.training.eval_set import not_stocked_products
    from demo_project.training.store_catalog import demo_store_products

    held = {(p.attributes["colour"], p.attributes["category"]) for p in demo_store_products()}
    products = not_stocked_products(seed=11)
    assert len(products) >= 2 * len(CATEGORIES)
    assert not any((p.attributes["colour"], p.attributes["category"]) in held for p in products)
    # Every category of them is one the store sells: the right answer is a group of that category.
    assert {p.attributes["category"] for p in products} <= {category for _, category in held}
    assert len({p.attributes["category"] for p in products}) >= 10
    again = not_stocked_products(seed=11)
    assert [p.image.tobytes() for p in products] == [p.image.tobytes() for p in again]


def test_the_mask_comes_from_the_same_draws_as_the_photo():
    from demo_project.training.rendering import render_product_photo

    attributes = {"category": "mug", "colour": "red", "pattern": PATTERNS[1].slug, "material": "ceramic"}
    photo, mask = render_product_photo(attributes, np.random.default_rng(3), SMALL)
    assert photo.tobytes() == render_product_image(attributes, np.random.default_rng(3), SMALL).tobytes()
    assert mask.mode == "L" and 0.1 < np.asarray(mask).astype(bool).mean() < 0.9
