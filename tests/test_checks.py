"""System checks report misconfiguration with the fix."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import connection

from shop_clip.hnsw import index_name
from shop_clip.models import ProductVector


def ids(messages) -> set[str]:
    return {m.id for m in messages}


def test_demo_configuration_is_clean(db):
    messages = [m for m in run_checks(databases=["default"]) if m.id.startswith("shop_clip")]
    assert messages == []


def test_missing_field_is_reported(settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "IMAGE_FIELD": "picture", "FILTERS": {"colour": "hue"}}
    messages = [m for m in run_checks() if m.id == "shop_clip.E003"]
    assert any("picture" in m.msg for m in messages)
    assert any("hue" in m.msg for m in messages)


def test_unknown_product_model_is_reported(settings):
    settings.SHOP_CLIP_PRODUCT_MODEL = "shop.Missing"
    messages = [m for m in run_checks() if m.id == "shop_clip.E003"]
    assert messages and "shop.Missing" in messages[0].msg


def test_unknown_read_database_is_reported(settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "READ_DATABASE": "replica"}
    messages = [m for m in run_checks() if m.id == "shop_clip.E008"]
    assert messages and "'replica'" in messages[0].msg and "default" in messages[0].msg


def test_missing_broker_is_reported(settings):
    settings.CELERY_BROKER_URL = ""
    assert "shop_clip.E004" in ids(run_checks())


def test_encoder_dimension_mismatch_is_reported(db, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP,
                          "ENCODER": {**settings.SHOP_CLIP["ENCODER"], "DIM": 768}}
    messages = [m for m in run_checks(databases=["default"]) if m.id == "shop_clip.E002"]
    assert messages and "768" in messages[0].msg


def test_stored_vectors_of_another_size_are_reported(db):
    from shop_clip.encoders import get_encoder
    from shop_clip.models import EmbeddingSpace

    encoder = get_encoder()
    EmbeddingSpace.objects.update_or_create(model_id=encoder.model_id, defaults={"model_ref": "x", "dim": 256})
    assert "shop_clip.E002" in ids(run_checks(databases=["default"]))


def test_unloadable_model_is_reported(db, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP,
                          "ENCODER": {**settings.SHOP_CLIP["ENCODER"], "MODEL": "/nonexistent/model"}}
    messages = [m for m in run_checks(databases=["default"]) if m.id == "shop_clip.E005"]
    assert messages and "local sentence-transformers directory" in messages[0].msg


def test_a_drained_space_without_its_index_is_a_warning_and_one_being_written_is_not(db, make_product):
    from shop_clip.spaces import configured_space

    space = configured_space()
    product = make_product("Red mug")
    assert "shop_clip.W002" not in ids(run_checks(databases=["default"]))  # no vectors: nothing to index
    ProductVector.objects.filter(product=product).update(status="embedded")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {index_name(space.pk)}")  # rolled back with the test's transaction
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "shop_clip.W002"]
    assert len(warnings) == 1 and space.model_id in warnings[0].msg
    ProductVector.objects.filter(product=product).update(status="pending")  # its backfill is running
    assert "shop_clip.W002" not in ids(run_checks(databases=["default"]))


def test_pgvector_present(db):
    from shop_clip.checks import check_pgvector

    assert check_pgvector(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert tuple(map(int, cursor.fetchone()[0].split(".")[:2])) >= (0, 8)


@pytest.mark.django_db
def test_migrations_leave_no_index_shared_by_the_spaces_of_a_dimension():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'shop_clip_productvector' "
                       "AND indexdef LIKE '%USING hnsw%'")
        definitions = [definition for (definition,) in cursor.fetchall()]
    assert all("WHERE ((model_id)::text = " in definition for definition in definitions), definitions


def test_tagging_settings_are_checked_at_start(settings):
    from shop_clip.checks import check_tagging

    assert check_tagging() == []
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TAGS": {"colour": ["red", "blue"]}, "TAG_FILTERS": ["pattern"]}
    errors = check_tagging()
    assert [error.id for error in errors] == ["shop_clip.E006"] and "'pattern'" in errors[0].msg
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TAG_FILTERS": [], "MODERATION": {"HIDE_FLAGGED": ["spam"]}}
    assert [error.id for error in check_tagging()] == ["shop_clip.E006"]


def test_look_categories_that_are_not_lists_are_reported(settings):
    """A string where a list belongs was read letter by letter: "trousers" offered t, r, o, ..."""
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_CATEGORIES": {"t-shirt": "trousers", "hat": ["scarf"]}}
    messages = [m for m in run_checks() if m.id == "shop_clip.E010"]
    assert [m.msg for m in messages] == ["SHOP_CLIP['LOOK_CATEGORIES']['t-shirt'] is not a list of category names."]
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_CATEGORIES": {"t-shirt": ("trousers",), "hat": {"scarf"}}}
    assert "shop_clip.E010" not in ids(run_checks())  # tuples and sets are lists enough
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_CATEGORIES": [("t-shirt", ["trousers"])]}
    assert "not a mapping" in next(m.msg for m in run_checks() if m.id == "shop_clip.E010")


def test_look_categories_the_store_does_not_have_are_reported_with_what_was_meant(settings, db):
    from demo_project.catalog.models import Category

    Category.objects.get_or_create(slug="trousers", defaults={"name": "Trousers"})
    Category.objects.get_or_create(slug="sneaker", defaults={"name": "Sneaker"})
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_CATEGORIES": {"Trousers": ["sneakr", "sneaker"]}}
    warnings = {m.msg.split("'")[3]: m.hint for m in run_checks(databases=["default"]) if m.id == "shop_clip.W005"}
    assert warnings == {"Trousers": "Did you mean 'trousers'?", "sneakr": "Did you mean 'sneaker'?"}
    assert "shop_clip.W005" not in ids(run_checks())  # it reads the database: only with databases
