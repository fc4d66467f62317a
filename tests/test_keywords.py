"""Keyword documents: written on save and by marking, caught up by the index command, checked at start."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.management import call_command

from shop_clip.catalog import SettingsCatalog
from shop_clip.keywords import keyword_filter, missing_document_ids, refresh_documents
from shop_clip.models import ProductDocument
from shop_clip.search import resolve_mode


def matching(text: str) -> set:
    from demo_project.catalog.models import Product

    return set(Product.objects.filter(**keyword_filter(text)).values_list("pk", flat=True))


def test_a_save_writes_the_document_and_an_edit_replaces_it(make_product):
    product = make_product(title="Crimson linen shirt", description="Breathable, with mother-of-pearl buttons.")
    assert matching("linen shirts") == {product.pk}  # stemmed: shirts -> shirt
    assert matching("pearl buttons") == {product.pk}
    product.title = "Crimson wool shirt"
    product.save()
    assert matching("linen") == set() and matching("wool shirt") == {product.pk}
    assert matching('"shirt crimson"') == set()  # a quoted phrase keeps its order
    product.delete()
    assert not ProductDocument.objects.filter(product_id=product.pk).exists()


def test_bulk_created_products_get_documents_from_marking_or_the_index_command(category, make_product):
    from demo_project.catalog.models import Product
    from shop_clip.indexing import mark_pending

    rows = Product.objects.bulk_create([Product(title=f"Velvet cushion {n}", category=category, price=Decimal(9))
                                        for n in range(3)])
    ids = {p.pk for p in rows}
    assert set(missing_document_ids()) == ids and matching("velvet") == set()
    mark_pending([rows[0].pk], enqueue=False)  # what a store's import command calls after bulk_create
    assert matching("velvet") == {rows[0].pk}
    # Products older than keyword search: vectors, no document.  The command catches them up.
    older = make_product(title="Tweed cap")
    ProductDocument.objects.filter(product_id=older.pk).delete()
    call_command("shop_clip_index", "--inline")
    assert missing_document_ids() == [] and matching("velvet") == ids and matching("tweed") == {older.pk}


def test_refresh_documents_of_every_product_follows_bulk_updates(make_product):
    from demo_project.catalog.models import Product

    product = make_product(title="Denim jacket")
    Product.objects.filter(pk=product.pk).update(title="Corduroy jacket")  # no signal
    assert matching("corduroy") == set()
    assert refresh_documents() >= 1
    assert matching("corduroy") == {product.pk}


def test_a_wrong_text_search_configuration_is_reported_and_never_breaks_a_save(make_product, settings, caplog):
    from shop_clip.checks import check_keywords

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "KEYWORD_CONFIG": "klingon"}
    errors = check_keywords(databases=["default"])
    assert [error.id for error in errors] == ["shop_clip.E007"]
    assert "'klingon' is not a PostgreSQL text search configuration" in errors[0].msg
    assert "english" in errors[0].msg  # the configurations it could be
    with caplog.at_level(logging.ERROR, logger="shop_clip.keywords"):
        product = make_product(title="Saved anyway")
    assert product.pk and "keywords were not indexed" in caplog.text and "shop_clip_index --missing" in caplog.text
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "KEYWORD_CONFIG": "pg_catalog.simple"}
    assert check_keywords(databases=["default"]) == []


@pytest.mark.parametrize("override, mode", [({}, "hybrid"), ({"KEYWORD_SEARCH": False}, "vector"),
                                            ({"TEXT_FIELDS": []}, "vector")])
def test_the_default_mode_follows_the_settings(settings, override, mode):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, **override}
    assert resolve_mode(None) == mode and resolve_mode("") == mode


def test_status_says_how_many_products_lack_keywords(make_product, capsys):
    make_product(title="Listed")
    missing = make_product(title="Imported")
    ProductDocument.objects.filter(product_id=missing.pk).delete()
    call_command("shop_clip_status")
    assert "keyword documents: 1 of 2 products (1 missing: run `python manage.py shop_clip_index --missing`)" \
        in capsys.readouterr().out



class BrandedCatalog(SettingsCatalog):
    """A store whose words include what no column says: its catalog's ``text``."""

    def text(self, product) -> str:
        return f"{super().text(product)} Zanzibar Outfitters"


def test_documents_are_the_catalogs_text_one_definition_for_every_reader(make_product, settings, monkeypatch):
    from shop_clip import keywords

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "CATALOG": "tests.test_keywords.BrandedCatalog"}
    product = make_product(title="Plain mug", description="Stoneware.")
    assert matching("zanzibar outfitters") == {product.pk}  # only text() says it
    assert matching("stoneware mug") == {product.pk}
    monkeypatch.setattr(keywords, "DOCUMENT_BATCH", 2)  # more products than one statement takes
    others = [make_product(title=f"Mug {n}") for n in range(3)]
    ProductDocument.objects.all().delete()
    assert refresh_documents() == 4 and matching("zanzibar") == {product.pk, *(p.pk for p in others)}


def test_words_few_products_have_are_remembered_as_their_keys_until_a_document_is_written(make_product, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from demo_project.catalog.models import Product
    from shop_clip.knn import Restriction
    from shop_clip.models import ProductVector
    from shop_clip.scan_plan import ScanPlan, plan_for_words

    scarf, hat = make_product(title="Saffron linen scarf"), make_product(title="Saffron wool hat")
    make_product(title="Grey wool hat")
    assert set(keyword_filter("saffron")) == {"id__in"}  # not pk__in: tag filters' key
    assert sorted(keyword_filter("saffron")["id__in"].keys) == sorted([scarf.pk, hat.pk])
    with CaptureQueriesContext(connection) as queries:
        assert sorted(keyword_filter("saffron")["id__in"].keys) == sorted([scarf.pk, hat.pk])
    # Remembered: no posting list read (PostgreSQL's estimate, EXPLAIN, reads its statistics).
    assert not [query for query in queries if "@@" in query["sql"] and not query["sql"].startswith("EXPLAIN")]
    assert plan_for_words("saffron", Restriction()) is ScanPlan.EXACT
    exact = str(Restriction(keyword_filter("saffron")).among_ids(ProductVector.objects.all()).query)
    assert "@@" not in exact and Product._meta.db_table not in exact  # the vector rows by the keys alone
    tie = make_product(title="Saffron silk tie")  # its document is written: every list forgotten
    assert sorted(keyword_filter("saffron")["id__in"].keys) == sorted([scarf.pk, hat.pk, tie.pk])
    assert set(Product.objects.filter(**keyword_filter("saffron -silk")).values_list("pk", flat=True)) == {
        scarf.pk, hat.pk}
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MAX_ROWS": 2, "EXACT_SEARCH_MIN_ROWS": 2}
    assert set(keyword_filter("saffron")) == {"clip_document__document"}  # more than exact search takes
    assert matching("saffron") == {scarf.pk, hat.pk, tie.pk}
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MAX_ROWS": 5000, "PLAN_CACHE_SECONDS": 0}
    assert set(keyword_filter("saffron")) == {"clip_document__document"}  # nothing remembered
