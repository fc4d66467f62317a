"""The shopper API under fuzzing: whatever a request holds, the answer is 200 or a 4xx with a
JSON ``detail``, never a 5xx.

Schemathesis generates requests from the OpenAPI schema the API serves (schema-valid and
schema-violating ones, derandomized), mixed with the hostile values below; the parametrized tests
after it pin each hostile value to the answer it must get, so a failure names the case.
"""

from __future__ import annotations

import traceback
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import hypothesis.strategies as st
import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from .conftest import committed_demo_catalog, png_bytes

CATALOG_SIZE = 40
API = "/api/shop-clip"
EXAMPLES_PER_OPERATION = 60

# Values from the issue: NUL and control characters, stacked keyword operators, numbers past any
# column's range, limits far outside theirs, more parameters than Django parses.
NUL_QUERY = "red\x00dress"
DASHES = "-" * 33
WORD_THEN_DASHES = "dress " + "-" * 32
HUGE_NUMBER = "1e99999999999"
HUGE_INT = "9" * 40
CONTROL_CHARACTERS = "red\x01\x02\x1b[31m\x7fdress"
TOO_MANY_PARAMETERS = {f"p{n}": "1" for n in range(1001)}

HOSTILE_QUERIES = [
    {"q": NUL_QUERY}, {"q": DASHES}, {"q": WORD_THEN_DASHES}, {"q": CONTROL_CHARACTERS},
    {"q": "\x00"}, {"q": "-" * 32 + "dress"}, {"q": "dress" + " -" * 32}, {"q": "dress " + "-x " * 40},
    {"q": '"' * 41}, {"q": "or " * 60},
    {"min_price": "10\x00"}, {"max_price": "\x00"}, {"category": "t-shirt\x00"}, {"in_stock": "true\x00"},
    {"min_price": HUGE_NUMBER}, {"max_price": "-" + HUGE_NUMBER}, {"min_price": "1e-99999999999"},
    {"min_price": "9" * 5000}, {"max_price": "123456789012345678901234567890.5"},
    {"limit": "0"}, {"limit": HUGE_INT}, {"offset": HUGE_INT}, {"limit": "9" * 5000}, {"offset": "-" + HUGE_INT},
    {"categories": HUGE_INT}, {"per_category": HUGE_INT}, {"categories": "0"}, {"per_category": "-1"},
    {"mode": "vector\x00"}, TOO_MANY_PARAMETERS,
]
HOSTILE_PKS = ["0", "-1", HUGE_INT, "-" + HUGE_INT, "9" * 5000, "1.5", "1e3", "0x10", " 0", "1\x00", "\x00",
               "%00", "abc", "'; select 1; --", "null"]


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    """A small committed, embedded demo catalog: the fuzzer's requests find real products."""
    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=23) as ids:
        yield ids


@pytest.fixture
def api(catalog, db):
    return Client()


@pytest.fixture
def wsgi_log():
    """The path each request reached Django with, and the tracebacks of views that raised (a 500
    says only "Server Error").  As Django's test client does, the end of a request does not close
    the connection that holds the test's transaction."""
    log = SimpleNamespace(paths=[], errors=[])

    def started(sender, environ=None, **kwargs):
        log.paths.append(environ["PATH_INFO"])

    def failed(sender, request=None, **kwargs):
        log.errors.append(traceback.format_exc())

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    request_started.connect(started)
    got_request_exception.connect(failed)
    yield log
    got_request_exception.disconnect(failed)
    request_started.disconnect(started)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _routed(path: str) -> bool:
    """Whether ``path`` reaches a shop-clip view (else Django's own 404 page answers)."""
    try:
        return resolve(path).namespace == "shop_clip"
    except Resolver404:
        return False


# -- schema fuzzing ---------------------------------------------------------------------------------------
schema = schemathesis.openapi.from_wsgi(f"{API}/schema/?format=json", WSGIHandler()).include(
    path_regex=rf"^{API}/(?!schema/)")
OPERATIONS = [result.ok() for result in schema.get_all_operations()]
# Schema-violating requests need a parameter a value can violate: a string in the path cannot.
FUZZED = [(operation, GenerationMode.POSITIVE) for operation in OPERATIONS] + [
    (operation, GenerationMode.NEGATIVE) for operation in OPERATIONS if list(operation.query) or list(operation.body)]
# A real photo in some requests, so the upload endpoints get past the decoder to the filters.
PHOTO = png_bytes((200, 30, 30), (96, 96))


@pytest.mark.parametrize("operation, mode", FUZZED, ids=[
    f"{operation.label} {'schema-valid' if mode == GenerationMode.POSITIVE else 'schema-violating'}"
    for operation, mode in FUZZED])
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_operation_answers_a_server_error(operation, mode, data, catalog, db, wsgi_log):
    case = data.draw(operation.as_strategy(mode), "request")
    if data.draw(st.booleans(), "hostile query"):
        case.query = {**(case.query or {}), **data.draw(st.sampled_from(HOSTILE_QUERIES), "hostile values")}
    if case.path_parameters and "id" in case.path_parameters:
        real = [str(pk) for pk in catalog[:5]]
        case.path_parameters["id"] = data.draw(
            st.one_of(st.sampled_from(real), st.sampled_from(HOSTILE_PKS), st.just(case.path_parameters["id"])), "pk")
    if case.method == "POST" and data.draw(st.booleans(), "real photo"):
        case.body, case.media_type = {"image": PHOTO}, "multipart/form-data"
    response = case.call()
    status, content_type = response.status_code, response.headers.get("content-type", [""])[0]
    query = case.query or {}
    request = f"{case.method} {case.formatted_path} with {len(query)} parameters {dict(list(query.items())[:8])!r:.300}"
    assert status < 500, f"{status} for {request}\n" + "\n".join(wsgi_log.errors[-1:])
    if status >= 400 and _routed(wsgi_log.paths[-1]):
        assert content_type.startswith("application/json"), f"{status} for {request}: {response.content[:300]!r}"
        assert response.json().get("detail"), f"{status} for {request} has no detail: {response.content[:300]!r}"


def test_the_fuzzed_operations_are_every_shopper_operation():
    assert {(operation.method.upper(), operation.path) for operation in OPERATIONS} == {
        ("GET", f"{API}/search/"), ("POST", f"{API}/search/image/"), ("GET", f"{API}/products/{{id}}/similar/"),
        ("GET", f"{API}/products/{{id}}/complete-the-look/"), ("POST", f"{API}/shop-the-look/"),
        ("GET", f"{API}/products/{{id}}/tags/"), ("GET", f"{API}/status/"),
    }


# -- each hostile value, and the answer it gets ----------------------------------------------------------
def assert_refused(response, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    detail = response.json().get("detail")
    assert detail and "settings." not in detail, response.content[:300]  # words a shopper can act on


# The query text itself: refused with a message, not searched for with its hostile characters
# stripped or its operators dropped.
# Control characters are stripped from q and runs of "-" are one operator: each answers as its
# cleaned words do.  Only what is left empty, or too many operators, is refused.
CLEANED_QUERY_CASES = {
    "q with NUL": ({"q": NUL_QUERY}, {"q": "red dress"}),
    "q with control characters": ({"q": CONTROL_CHARACTERS}, {"q": "red [31m dress"}),
    # The pictures' side reads the words as typed: only the keyword side's operators are bounded.
    "q of 33 dashes": ({"q": DASHES}, None),
    "q a word then 32 dashes": ({"q": WORD_THEN_DASHES}, None),
    "q keyword mode word then 32 dashes": ({"q": WORD_THEN_DASHES, "mode": "keyword"},
                                           {"q": "dress", "mode": "keyword"}),
}


@pytest.mark.parametrize("params, cleaned", CLEANED_QUERY_CASES.values(), ids=CLEANED_QUERY_CASES.keys())
def test_hostile_query_text_is_cleaned_and_answered_as_its_words(api, params, cleaned):
    response = api.get(f"{API}/search/", params)
    assert response.status_code == 200, response.content[:500]
    ids = [hit["product"]["id"] for hit in response.json()["results"]]
    if params.get("mode") != "keyword":
        assert ids  # a vector ranking always fills the page
    if cleaned is not None:  # the same products (the pictures' side may rank them by the words as typed)
        assert set(ids) == {hit["product"]["id"] for hit in api.get(f"{API}/search/", cleaned).json()["results"]}


REFUSED_QUERY_CASES = {
    "q only NUL": {"q": "\x00"},
    "q only control characters": {"q": "\x01\x02\x7f"},
    "q with 17 operators": {"q": " ".join(f"-w{n}" for n in range(17))},
    "q with 17 quoted phrases and ors": {"q": " or ".join(f'"w{n}"' for n in range(9))},
    "q keyword mode 33 dashes": {"q": DASHES, "mode": "keyword"},  # no word left to look for
}


@pytest.mark.parametrize("params", REFUSED_QUERY_CASES.values(), ids=REFUSED_QUERY_CASES.keys())
def test_query_text_with_nothing_left_or_too_many_operators_answers_400(api, params):
    assert_refused(api.get(f"{API}/search/", params))


SEARCH_CASES = {
    "min_price with NUL": {"q": "dress", "min_price": "10\x00"},
    "max_price only NUL": {"q": "dress", "max_price": "\x00"},
    "category with NUL": {"q": "dress", "category": "t-shirt\x00"},
    "in_stock with NUL": {"q": "dress", "in_stock": "true\x00"},
    "mode with NUL": {"q": "dress", "mode": "vector\x00"},
    "min_price 1e99999999999": {"q": "dress", "min_price": HUGE_NUMBER},
    "max_price -1e99999999999": {"q": "dress", "max_price": "-" + HUGE_NUMBER},
    "min_price 5000 digits": {"q": "dress", "min_price": "9" * 5000},
    "max_price past the column's digits": {"q": "dress", "max_price": "123456789012345678901234567890.5"},
    "limit 0": {"q": "dress", "limit": "0"},
    "limit 40 digits": {"q": "dress", "limit": HUGE_INT},
    "limit 5000 digits": {"q": "dress", "limit": "9" * 5000},
    "offset 40 digits": {"q": "dress", "offset": HUGE_INT},
    "offset -40 digits": {"q": "dress", "offset": "-" + HUGE_INT},
    "more than 1000 parameters": {"q": "dress", **TOO_MANY_PARAMETERS},
    # int() takes these; each is a client's bug, not a number
    "limit in Arabic-Indic digits": {"q": "dress", "limit": "\u0663"},
    "limit 1_0": {"q": "dress", "limit": "1_0"},
    "limit +5": {"q": "dress", "limit": "+5"},
    "offset with a space": {"q": "dress", "offset": " 5"},
    # each is read as one value: the last winning in silence answers another question
    "q twice": {"q": ["red", "blue"]},
    "category twice": {"q": "dress", "category": ["mug", "boot"]},
    "limit twice": {"q": "dress", "limit": ["3", "5"]},
}


@pytest.mark.parametrize("params", SEARCH_CASES.values(), ids=SEARCH_CASES.keys())
def test_hostile_search_values_answer_400_with_a_message(api, params):
    assert_refused(api.get(f"{API}/search/", params))


PRODUCT_CASES = {
    "similar min_price 1e99999999999": ("similar", {"min_price": HUGE_NUMBER}),
    "similar min_price with NUL": ("similar", {"min_price": "1\x00"}),
    "similar category with NUL": ("similar", {"category": "\x00"}),
    "similar limit 0": ("similar", {"limit": "0"}),
    "similar limit 40 digits": ("similar", {"limit": HUGE_INT}),
    "similar more than 1000 parameters": ("similar", TOO_MANY_PARAMETERS),
    "complete-the-look min_price 1e99999999999": ("complete-the-look", {"min_price": HUGE_NUMBER}),
    "complete-the-look max_price with NUL": ("complete-the-look", {"max_price": "5\x00"}),
    "complete-the-look category with NUL": ("complete-the-look", {"category": "mug\x00"}),
    "complete-the-look categories 40 digits": ("complete-the-look", {"categories": HUGE_INT}),
    "complete-the-look per_category 40 digits": ("complete-the-look", {"per_category": HUGE_INT}),
    "complete-the-look categories 0": ("complete-the-look", {"categories": "0"}),
    "complete-the-look per_category 5000 digits": ("complete-the-look", {"per_category": "9" * 5000}),
    "complete-the-look more than 1000 parameters": ("complete-the-look", TOO_MANY_PARAMETERS),
}


@pytest.mark.parametrize("endpoint, params", PRODUCT_CASES.values(), ids=PRODUCT_CASES.keys())
def test_hostile_product_page_values_answer_400_with_a_message(api, catalog, endpoint, params):
    assert_refused(api.get(f"{API}/products/{catalog[0]}/{endpoint}/", params))


UPLOAD_CASES = {
    "search/image min_price 1e99999999999": ("search/image", {"min_price": HUGE_NUMBER}),
    "search/image category with NUL": ("search/image", {"category": "\x00"}),
    "search/image limit 40 digits": ("search/image", {"limit": HUGE_INT}),
    "search/image more than 1000 parameters": ("search/image", TOO_MANY_PARAMETERS),
    "shop-the-look min_price 1e99999999999": ("shop-the-look", {"min_price": HUGE_NUMBER}),
    "shop-the-look in_stock with NUL": ("shop-the-look", {"in_stock": "\x00"}),
    "shop-the-look per_category 40 digits": ("shop-the-look", {"per_category": HUGE_INT}),
    "shop-the-look more than 1000 parameters": ("shop-the-look", TOO_MANY_PARAMETERS),
}


def _photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("photo.png", PHOTO, content_type="image/png")


@pytest.mark.parametrize("endpoint, params", UPLOAD_CASES.values(), ids=UPLOAD_CASES.keys())
def test_hostile_upload_query_values_answer_400_with_a_message(api, endpoint, params):
    assert_refused(api.post(f"{API}/{endpoint}/?{urlencode(params)}", {"image": _photo()}))


@pytest.mark.parametrize("endpoint, params", UPLOAD_CASES.values(), ids=UPLOAD_CASES.keys())
def test_hostile_upload_form_values_answer_400_with_a_message(api, endpoint, params):
    assert_refused(api.post(f"{API}/{endpoint}/", {"image": _photo(), **params}))


def test_more_than_1000_form_fields_answer_400_with_a_message(api):
    fields = {f"f{n}": "1" for n in range(1001)}
    assert_refused(api.post(f"{API}/search/image/", {"image": _photo(), **fields}))


@pytest.mark.parametrize("endpoint", ["similar", "complete-the-look", "tags"])
@pytest.mark.parametrize("pk", HOSTILE_PKS, ids=[repr(pk)[:24] for pk in HOSTILE_PKS])
def test_unknown_product_shapes_answer_404_with_a_message(api, endpoint, pk):
    assert_refused(api.get(f"{API}/products/{quote(pk, safe='')}/{endpoint}/"), 404)
