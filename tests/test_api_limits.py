"""The API's limits: throttles, upload sizes, database errors from shoppers' values, and what a
409 tells a shopper."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.versioning import QueryParameterVersioning

from shop_clip.api.refusals import caused_by_input
from shop_clip.api.throttling import DEFAULT_RATES, IMAGE_SCOPE, SEARCH_SCOPE, ShopClipRateThrottle
from shop_clip.api.views import SearchView
from shop_clip.models import ProductVector

from .conftest import committed_demo_catalog, png_bytes


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, 24, seed=5) as ids:
        yield ids


@pytest.fixture
def api(catalog, db):
    cache.clear()  # throttle counts of earlier tests
    return Client()


def rates(settings, **scopes):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": scopes}


def test_search_is_throttled_with_retry_after(api, settings):
    rates(settings, shop_clip_search="3/min", shop_clip_image="1/min")
    answers = [api.get("/api/shop-clip/search/", {"q": "red mug"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and "throttled" in answers[-1].json()["detail"]
    # The image endpoints count apart from text search, at their own rate.
    first = api.post("/api/shop-clip/search/image/", {"image": _file(png_bytes())})
    second = api.post("/api/shop-clip/shop-the-look/", {"image": _file(png_bytes())})
    assert (first.status_code, second.status_code) == (200, 429)


def test_a_client_cannot_escape_its_rate_by_naming_other_addresses_unless_the_store_trusts_a_proxy(api, settings):
    rates(settings, shop_clip_search="2/min")
    forged = [api.get("/api/shop-clip/search/", {"q": "red mug"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
              for n in range(3)]
    assert [a.status_code for a in forged] == [200, 200, 429]
    # Behind the one proxy the store names (NUM_PROXIES), the address that proxy appends is the
    # client, whatever the client wrote before it.
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    one = [api.get("/api/shop-clip/search/", {"q": "red mug"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 1.2.3.4")
           for n in range(3)]
    assert [a.status_code for a in one] == [200, 200, 429]
    other = api.get("/api/shop-clip/search/", {"q": "red mug"}, HTTP_X_FORWARDED_FOR="10.0.0.0, 5.6.7.8")
    assert other.status_code == 200


def test_a_scope_the_store_leaves_out_gets_shop_clips_default_and_none_turns_it_off(settings):
    rates(settings)
    throttle = ShopClipRateThrottle()
    for scope in (IMAGE_SCOPE, SEARCH_SCOPE):
        throttle.scope = scope
        assert throttle.get_rate() == DEFAULT_RATES[scope]
    rates(settings, shop_clip_image=None)
    throttle.scope = IMAGE_SCOPE
    assert throttle.get_rate() is None


def test_fields_over_djangos_limits_are_refused_in_a_shoppers_words(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = api.post("/api/shop-clip/search/image/", {"image": _file(png_bytes()), "note": "x" * 20_000})
    assert big.status_code == 413
    assert big.json()["detail"].startswith("the request's fields besides the photo are over 9.77 KB")
    many = api.post("/api/shop-clip/search/image/", {"image": _file(png_bytes()),
                                                     **{f"f{n}": "1" for n in range(1001)}})
    assert many.status_code == 400 and many.json()["detail"] == (
        "the request has more than 1000 parameters; send only those the search uses")


def test_an_uploads_paging_and_filters_may_be_form_fields_beside_the_photo(api):
    photo = png_bytes(size=(120, 120))
    in_form = api.post("/api/shop-clip/search/image/", {"image": _file(photo), "limit": "3", "max_price": "60"})
    in_query = api.post("/api/shop-clip/search/image/?limit=3&max_price=60", {"image": _file(photo)})
    assert in_form.status_code == in_query.status_code == 200
    assert [hit["product"]["id"] for hit in in_form.json()["results"]] == [
        hit["product"]["id"] for hit in in_query.json()["results"]]
    assert len(in_form.json()["results"]) == 3
    assert all(float(hit["product"]["price"]) <= 60 for hit in in_form.json()["results"])
    look = api.post("/api/shop-clip/shop-the-look/", {"image": _file(photo), "per_category": "0"})
    assert look.status_code == 400 and "per_category" in look.json()["detail"]
    twice = api.post("/api/shop-clip/search/image/?limit=3", {"image": _file(photo), "limit": "5"})
    assert twice.status_code == 400
    assert twice.json()["detail"] == "limit given both in the query string and as a form field; send each once"
    two_photos = api.post("/api/shop-clip/search/image/", {"image": [_file(photo), _file(png_bytes())]})
    assert two_photos.status_code == 400 and two_photos.json()["detail"].startswith("image given more than once")


def test_a_format_no_renderer_has_is_a_406_that_names_the_formats(api):
    response = api.get("/api/shop-clip/search/", {"q": "red mug", "format": "xml"})
    assert response.status_code == 406
    assert response.json()["detail"].startswith("format must be one of json")


def test_an_operation_refuses_a_name_it_does_not_take_in_the_query_or_beside_an_upload(api, catalog,
                                                                                       monkeypatch):
    status = api.get("/api/shop-clip/status/", {"verbose": "1"})
    assert status.status_code == 400
    assert status.json()["detail"] == "unknown parameter 'verbose'; there are no parameters"
    assert api.get("/api/shop-clip/status/", {"format": "json"}).status_code == 200  # DRF's own
    tags = api.get(f"/api/shop-clip/products/{catalog[0]}/tags/", {"colour": "red"})  # no filters there
    assert tags.status_code == 400 and "unknown parameter 'colour'" in tags.json()["detail"]
    look = api.post("/api/shop-clip/shop-the-look/", {"image": _file(png_bytes(size=(120, 120))), "limit": "3"})
    assert look.status_code == 400 and "unknown parameter 'limit'" in look.json()["detail"]
    assert "per_category" in look.json()["detail"]  # what it takes instead
    price = api.get("/api/shop-clip/search/", {"q": "mug", "price": "5"})
    assert "'price' (did you mean 'max_price' or 'min_price'?)" in price.json()["detail"]
    # Names others read pass: jQuery's cache-buster; a query-parameter API version where the store versions so.
    assert api.get("/api/shop-clip/search/", {"q": "mug", "_": "1733600000"}).status_code == 200
    assert api.get("/api/shop-clip/search/", {"q": "mug", "version": "1.0"}).status_code == 400
    monkeypatch.setattr(SearchView, "versioning_class", QueryParameterVersioning)
    assert api.get("/api/shop-clip/search/", {"q": "mug", "version": "1.0"}).status_code == 200
    long = api.get("/api/shop-clip/search/", {"q": "mug", "x" * 3000: "1", **{f"n{i}": "1" for i in range(50)}})
    assert long.status_code == 400 and len(long.json()["detail"]) < 500  # not echoed back whole
    assert "and 46 more" in long.json()["detail"]
    # A method the operation does not take is told so, whatever the names.
    wrong_method = api.get("/api/shop-clip/search/image/", {"colur": "red"})
    assert wrong_method.status_code == 405


def _file(data: bytes, name: str = "photo.png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(api, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MAX_UPLOAD_BYTES": 100_000}
    # The test client's payload raises if more is read than it holds: a 413 here read none of it.
    response = api.post("/api/shop-clip/search/image/", {"image": _file(png_bytes())}, CONTENT_LENGTH="50000000")
    assert response.status_code == 413 and response.json()["detail"].startswith(
        "the upload is 47.7 MB, larger than 97.7 KB")


def test_a_body_over_the_limit_is_cut_by_the_upload_handler_and_never_spooled(api, settings, tmp_path):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MAX_UPLOAD_BYTES": 100_000}
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000  # Django's own handlers would spool this to disk
    big = png_bytes() + b"\0" * 150_000  # a declared length within the allowance, a file over the limit
    response = api.post("/api/shop-clip/search/image/", {"image": _file(big)})
    assert response.status_code == 413, response.content
    assert list(tmp_path.iterdir()) == []
    ok = api.post("/api/shop-clip/search/image/", {"image": _file(png_bytes(size=(200, 200)))})
    assert ok.status_code == 200 and ok.json()["results"]


def test_a_failed_products_409_keeps_the_stored_reason_from_shoppers(api, catalog, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TAGS": {"colour": ["red", "blue"]}}
    product_id = catalog[0]
    ProductVector.objects.filter(product_id=product_id).update(
        status=ProductVector.Status.FAILED, embedding=None, error="could not read /srv/secret-bucket/p1.jpg: EIO")
    for path in ("similar", "complete-the-look", "tags"):
        response = api.get(f"/api/shop-clip/products/{product_id}/{path}/")
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert "its image could not be embedded" in detail and "secret" not in detail, (path, detail)


@pytest.mark.parametrize("sql, params, from_input", [
    ("SELECT %s::text", ["red\x00dress"], True),            # NUL in text
    ("SELECT %s::numeric(10, 2)", ["1e20"], True),          # numeric overflow
    ("SELECT websearch_to_tsquery('english', %s)", ["-" * 40], True),  # the parser's stack
    ("SELECT no_such_column FROM pg_class", [], False),      # our own SQL: a 500 to fix, not a 400
])
def test_database_errors_a_shoppers_values_cause_are_told_from_the_others(db, sql, params, from_input):
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert caused_by_input(caught.value) is from_input


def test_the_schema_documents_every_error_response_and_every_bound(api, settings):
    schema = api.get("/api/shop-clip/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = {(path, method): operation for path, item in schema["paths"].items()
                  for method, operation in item.items()}
    assert len(operations) == 7
    for (path, method), operation in operations.items():
        codes = set(operation["responses"])
        assert {"200", "400", "429"} <= codes, (path, codes)
        if "/products/" in path:
            assert {"404", "409"} <= codes, (path, codes)
        if method == "post":
            assert "413" in codes, (path, codes)
        for code in codes - {"200"}:
            body = operation["responses"][code]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}, (path, code)
        bounds = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
        for name, low, high in (("limit", 1, settings.SHOP_CLIP.get("MAX_LIMIT", 100)), ("offset", 0, 10_000),
                                ("categories", 1, 20), ("per_category", 1, 20)):
            if name in bounds:
                assert (bounds[name]["minimum"], bounds[name]["maximum"]) == (low, high), (path, name)
    assert "detail" in schema["components"]["schemas"]["Error"]["properties"]
    search = operations[("/api/shop-clip/search/", "get")]
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert q["required"] and q["schema"]["maxLength"] == 200


def test_the_schema_follows_the_filters_configured_when_it_is_built(api, settings):
    def filters_of(operation: str) -> set:
        schema = api.get("/api/shop-clip/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        return {p["name"] for p in schema["paths"][operation]["get"].get("parameters", [])}

    assert {"min_price", "in_stock"} <= filters_of("/api/shop-clip/search/")
    schema = api.get("/api/shop-clip/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = schema["paths"]["/api/shop-clip/search/"]["get"]["parameters"]
    described = {parameter["name"]: parameter.get("description") for parameter in parameters}
    assert described["min_price"] == "filter: price at least the value"  # not the ORM's price__gte
    assert described["category"] == "filter: category slug is the value" and "__" not in str(described)
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "FILTERS": {"colourway": "attributes__colour",
                                                           "cheap": "tests.test_catalog_contract.cheap"}}
    assert {"colourway", "cheap"} <= filters_of("/api/shop-clip/search/")
    assert "min_price" not in filters_of("/api/shop-clip/search/")
    assert "cheap" not in filters_of("/api/shop-clip/status/")
