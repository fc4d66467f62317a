"""The catalog contract on the demo store: visible products, computed filters, the store's own
queryset through the Python API, and the checks that name a wrong setting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shop_clip import look, search
from shop_clip.catalog import get_catalog

from .conftest import committed_demo_catalog, png_bytes

ENDPOINTS = ("similar", "complete-the-look")


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, 60, seed=11) as ids:
        yield ids


@pytest.fixture
def api(catalog, db):
    return Client()


def cheap(value: str) -> Q:
    """A computed filter for the tests: ``cheap=yes`` keeps products under 30, anything else fails."""
    if value != "yes":
        raise ValueError(f"{value!r} is not yes")
    return Q(price__lt=Decimal("30"))


def _ids(response) -> set:
    body = response.json()
    if "groups" in body:
        return {hit["product"]["id"] for group in body["groups"] for hit in group["results"]}
    return {hit["product"]["id"] for hit in body["results"]}


def test_hidden_products_never_appear_in_any_answer(api, catalog, settings):
    from demo_project.catalog.models import Product

    hidden = set(Product.objects.filter(in_stock=False).values_list("pk", flat=True))
    shown = [pk for pk in catalog if pk not in hidden]
    assert hidden and shown
    everywhere = [("get", "/api/shop-clip/search/", {"q": "a red striped t-shirt", "limit": 50}),
                  ("get", "/api/shop-clip/search/", {"q": "mug", "limit": 50, "mode": "keyword"}),
                  ("get", f"/api/shop-clip/products/{shown[0]}/similar/", {"limit": 50}),
                  ("get", f"/api/shop-clip/products/{shown[0]}/complete-the-look/", {"per_category": 20})]
    before = set().union(*(_ids(getattr(api, method)(url, params)) for method, url, params in everywhere))
    assert before & hidden  # without the setting, they are served: the test can fail
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VISIBLE": {"in_stock": True}}
    for method, url, params in everywhere:
        response = getattr(api, method)(url, params)
        assert response.status_code == 200 and _ids(response) and not _ids(response) & hidden, url
    for path in ("image/",):
        response = api.post(f"/api/shop-clip/search/{path}", {"image": _upload()})
        assert response.status_code == 200 and not _ids(response) & hidden
    look_answer = api.post("/api/shop-clip/shop-the-look/", {"image": _upload()})
    assert look_answer.status_code == 200 and not _ids(look_answer) & hidden
    # A hidden product's own pages are not there at all.
    for path in (*ENDPOINTS, "tags"):
        assert api.get(f"/api/shop-clip/products/{min(hidden)}/{path}/").status_code == 404
    # The Python API too, whatever queryset store code passes.
    page = search.search("a lamp", queryset=Product.objects.all(), limit=50)
    assert page.hits and not {hit.product.pk for hit in page} & hidden


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("p.png", png_bytes(size=(120, 120)), content_type="image/png")


def test_a_computed_filter_restricts_and_a_failing_one_answers_400_naming_it(api, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP,
                          "FILTERS": {**settings.SHOP_CLIP.get("FILTERS", get_catalog().filters),
                                      "cheap": "tests.test_catalog_contract.cheap"}}
    response = api.get("/api/shop-clip/search/", {"q": "scarf", "cheap": "yes", "limit": 30})
    assert response.status_code == 200
    prices = [Decimal(hit["product"]["price"]) for hit in response.json()["results"]]
    assert prices and all(price < 30 for price in prices)
    everything = api.get("/api/shop-clip/search/", {"q": "scarf", "limit": 30}).json()["results"]
    assert any(Decimal(hit["product"]["price"]) >= 30 for hit in everything)
    bad = api.get("/api/shop-clip/search/", {"q": "scarf", "cheap": "perhaps"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("cheap: ")


def test_store_code_gets_eight_in_stock_look_alikes_in_one_knn_statement(catalog, db):
    from django.db.models import F

    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[0])
    in_stock = Product.objects.filter(in_stock=True).annotate(doubled=F("price") * 2).filter(doubled__gt=10)
    with CaptureQueriesContext(connection) as queries:
        page = search.similar(product, queryset=in_stock, limit=8)
    assert len(page) == 8 and product.pk not in {hit.product.pk for hit in page}
    assert all(hit.product.in_stock and hit.product.price * 2 > 10 for hit in page)
    assert all(hit.image_key == "main" and -1 <= hit.score <= 1 for hit in page)
    scores = [hit.score for hit in page]
    assert scores == sorted(scores, reverse=True)
    knn = [query["sql"] for query in queries.captured_queries if "<=>" in query["sql"]]
    assert len(knn) == 1 and "in_stock" in knn[0]  # the store's queryset inside the KNN statement
    # The same restriction as the store's named filter (what the HTTP API sends) gives the same page.
    assert [hit.product.pk for hit in page] == [hit.product.pk for hit in search.similar(
        product.pk, filters={"in_stock": "true"}, queryset=Product.objects.filter(price__gt=5), limit=8)]


def test_typed_looks_take_the_stores_queryset(catalog, db):
    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[0])
    under_50 = Product.objects.filter(price__lt=50)
    result = look.complete_the_look(product, queryset=under_50, categories=3, per_category=2)
    assert result.groups and all(hit.product.price < 50 for group in result for hit in group.hits)
    assert all(group.category != product.category.slug for group in result)
    with pytest.raises(search.QueryError, match="between 1 and 20"):
        look.complete_the_look(product, categories=0)
    with pytest.raises(search.QueryError, match="limit must be between"):
        search.search("mug", limit=0)


@pytest.mark.parametrize("override, fragment", [
    ({"VISIBLE": {"is_public": True}}, "SHOP_CLIP['VISIBLE']"),
    ({"VARIANT_PARENT_FIELD": "category"}, "VARIANT_PARENT_FIELD"),
    ({"VARIANT_PARENT_FIELD": "no_such_field"}, "VARIANT_PARENT_FIELD"),
])
def test_a_visibility_or_variant_setting_naming_a_wrong_field_is_a_check_error(settings, override, fragment):
    from shop_clip.checks import check_catalog

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, **override}
    errors = check_catalog()
    assert [error.id for error in errors] == ["shop_clip.E003"] and fragment in errors[0].msg


def test_the_schema_is_served_whatever_the_stores_default_schema_class(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_SCHEMA_CLASS": "rest_framework.schemas.openapi.AutoSchema"}
    response = api.get("/api/shop-clip/schema/")
    assert response.status_code == 200 and b"/api/shop-clip/search/" in response.content
