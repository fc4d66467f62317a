"""The contract every test store keeps, run against each of them as Wagtail runs one test mixin
against every search backend.

A store's test module subclasses ``StoreContract`` as ``TestContract`` and gives it these fixtures:

- ``contract_catalog``: a ``ContractCatalog`` of committed, embedded products, built once for the
  class (``committed_catalog`` builds one); each test reads it in a transaction that rolls back;
- ``contract_filters``: ``FilterCase`` objects that between them name every filter the search
  schema documents;
- ``contract_queryset``: a ``StoreQueryset``, the store's own restriction for the Python API;
- ``contract_hidden`` (optional): the products shoppers may not see, with their photos.

The tests speak only the HTTP API and the typed Python API (``shop_clip.search``, ``shop_clip.look``).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from shop_clip import look, search
from shop_clip.catalog import UnknownFilter

T = TypeVar("T")
ProductJson = Mapping[str, Any]

PAGE = 100  # the API's largest page: a contract catalog fits in one
SAMPLE = 12  # products whose every answer is asked for, one by one
SEARCH_PARAMS = {"q", "mode", "limit", "offset"}  # every store's; the schema's other parameters are its filters
# Path segments (URL-encoded) that are no primary key of any type: each a 404, never a 500.
MALFORMED_PKS = ("not-a-number", "1.5", "%00", "%20", "9" * 30)
PRODUCT_PATHS = ("similar", "complete-the-look", "tags")


@dataclass(frozen=True)
class Photo:
    data: bytes  # the file, as a shopper would upload it
    url: str  # where the store serves it (``FieldFile.url``)


@dataclass(frozen=True)
class ContractCatalog:
    """A store's committed, embedded products, by primary key (as the model has them)."""

    products: Sequence[Any]  # every product a search shows (a family once), all embedded
    categories: Mapping[Any, set[str]]  # each product's category slugs, as complete the look names them
    image_urls: Mapping[Any, set[str]]  # each product's photos' URLs (a family's: its visible members' too)
    # Photos only that product has (its own, or a variant's); the first's product has one image of its own.
    photos: Mapping[Any, Photo]
    families: Mapping[Any, set[Any]] = field(default_factory=dict)  # a product or variant -> its family's others
    unknown_pk: str = "987654321"  # well formed, nobody's
    malformed_pks: Sequence[str] = ()  # the store's own, besides MALFORMED_PKS
    text: str = "a product"  # a query: vector search ranks every product for any
    asked: Sequence[Any] = ()  # the products whose look-alikes and looks are asked for; default the first SAMPLE
    # The shortest page whose JSON costs a whole page's queries (a prefetch with nothing to fetch sends none).
    short_page: int = 1

    def __post_init__(self) -> None:
        assert 6 <= len(self.products) < PAGE, "a contract catalog has three pages of two or more, and fits in one"
        assert self.photos, "a photo search needs a photo"
        assert set(self.categories) >= set(self.products) and set(self.image_urls) >= set(self.products)

    @property
    def sample(self) -> Sequence[Any]:
        return self.asked or self.products[:SAMPLE]

    @property
    def shown(self) -> set[str]:
        return {str(pk) for pk in self.products}

    def family(self, pk: Any) -> set[str]:
        """``pk`` and its family, which its look-alikes leave out."""
        return {str(pk), *map(str, self.families.get(pk, ()))}

    def categories_of(self, product_id: str) -> set[str]:
        return next(slugs for pk, slugs in self.categories.items() if str(pk) == product_id)

    def image_urls_of(self, product_id: str) -> set[str]:
        return next({absolute(url) for url in urls} for pk, urls in self.image_urls.items() if str(pk) == product_id)


@dataclass(frozen=True)
class FilterCase:
    """Search parameters naming store filters, and what the products they keep are: ``keeps`` reads
    a product's JSON (from an unfiltered answer).  ``rejects``: values of its one filter that answer
    400 naming it."""

    params: Mapping[str, str]
    keeps: Callable[[ProductJson], bool]
    rejects: Sequence[str] = ()

    def __post_init__(self) -> None:
        assert not self.rejects or len(self.params) == 1, "rejected values belong to one filter"


@dataclass(frozen=True)
class StoreQueryset:
    """A queryset of the store's products, whether a product instance is in it, and a piece of its
    SQL that shows it inside the KNN statement."""

    queryset: Any
    keeps: Callable[[Any], bool]
    marker: str


def absolute(url: str) -> str:
    return f"http://testserver{url}"


def upload(data: bytes) -> SimpleUploadedFile:
    name, kind = ("photo.jpg", "image/jpeg") if data[:2] == b"\xff\xd8" else ("photo.png", "image/png")
    return SimpleUploadedFile(name, data, content_type=kind)


def product_url(name: str, pk: Any, *, raw: bool = False) -> str:
    """The URL of product ``pk``'s ``name`` endpoint; ``raw``: ``pk`` is a URL path segment already."""
    url = reverse(f"shop_clip:{name}", args=["__pk__"])
    return url.replace("__pk__", str(pk) if raw else quote(str(pk), safe=""))


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return [str(hit["product"]["id"]) for hit in response.json()["results"]]


def look_groups(response) -> list[tuple[str, list[str]]]:
    assert response.status_code == 200, response.content[:500]
    return [(group["category"], [str(hit["product"]["id"]) for hit in group["results"]])
            for group in response.json()["groups"]]


def has_tag(group: str, label: str) -> Callable[[ProductJson], bool]:
    """A ``FilterCase.keeps`` for a zero-shot tag filter: what the product's tags endpoint says."""
    def keeps(product: ProductJson) -> bool:
        response = Client().get(product_url("tags", product["id"]))
        assert response.status_code == 200, response.content[:500]
        return response.json()["tags"].get(group, {}).get("label") == label

    return keeps


@contextlib.contextmanager
def committed_catalog(django_db_blocker, build: Callable[[], T]) -> Iterator[T]:
    """What ``build()`` makes, committed and embedded in this process (no worker), with zero-shot
    tags where the store tags, for a class of contract tests to read; the database emptied
    afterwards, as a transactional test leaves it."""
    from django.core.cache import caches
    from django.core.management import call_command

    from shop_clip.claim_lanes import process_pending
    from shop_clip.models import ProductVector
    from shop_clip.tagging import tag_products

    with django_db_blocker.unblock():
        assert connection.settings_dict["NAME"].startswith("test_"), "not on a test database"
        caches["default"].clear()  # no cached answer about another test's products
        built = build()
        process_pending()
        assert set(ProductVector.objects.values_list("status", flat=True)) == {"embedded"}
        tag_products()
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
            caches["default"].clear()


def flat_lay(photos: Sequence[bytes], side: int = 200, margin: int = 20) -> bytes:
    """The photos side by side on a white backdrop, as a PNG: a scene for shop the look."""
    scene = Image.new("RGB", (margin + (side + margin) * len(photos), side + 2 * margin), (255, 255, 255))
    for index, data in enumerate(photos):
        photo = Image.open(io.BytesIO(data)).convert("RGB").resize((side, side))
        scene.paste(photo, (margin + (side + margin) * index, margin))
    buffer = io.BytesIO()
    scene.save(buffer, "PNG")
    return buffer.getvalue()


def every_page(client: Client, path: str, params: Mapping[str, str], limit: int,
               photo: bytes | None = None) -> list[list[str]]:
    """The answer's pages, each fetched from the last one's ``next`` (a photo is sent again with each)."""
    pages: list[list[str]] = []
    url: str | None = f"{path}?{urlencode({**params, 'limit': limit})}"
    while url:
        response = client.post(url, {"image": upload(photo)}) if photo else client.get(url)
        pages.append(ids(response))
        body = response.json()
        assert (body["offset"], body["limit"], body["count"]) == (limit * (len(pages) - 1), limit, len(pages[-1]))
        url = body["next"]
        if url:
            assert len(pages[-1]) == limit and parse_qs(urlsplit(url).query)["offset"] == [str(limit * len(pages))]
        else:  # the last page: full when the answer ends on a page's edge, never an empty one after the first
            assert len(pages[-1]) <= limit and (pages[-1] or len(pages) == 1)
        assert len(pages) <= PAGE, "next never ends"
    return pages


class StoreContract:
    """What shop-clip promises every store, whatever its keys, images, categories and variants."""

    pytestmark = pytest.mark.django_db  # the catalog is committed once for the class; a test's writes roll back

    @pytest.fixture
    def contract_hidden(self) -> Mapping[Any, bytes | None] | None:
        """Hidden product -> a photo of it (None: it has none of its own); None: the store hides none."""
        return None

    @pytest.fixture
    def contract_client(self) -> Client:
        return Client()

    def search_everything(self, client: Client, catalog: ContractCatalog, **params: str) -> dict[str, ProductJson]:
        """Every product a vector search shows under ``params``, by id, each once."""
        response = client.get(reverse("shop_clip:search"), {"q": catalog.text, "mode": "vector", "limit": PAGE,
                                                            **params})
        found = ids(response)
        assert len(found) == len(set(found)), "a product listed twice"
        return {str(hit["product"]["id"]): hit["product"] for hit in response.json()["results"]}

    # -- the tests ------------------------------------------------------------------------------------------
    def test_a_products_own_photo_finds_it_first_showing_that_photo(self, contract_catalog, contract_client):
        for pk, photo in contract_catalog.photos.items():
            response = contract_client.post(f"{reverse('shop_clip:search-image')}?limit=3",
                                            {"image": upload(photo.data)})
            assert ids(response)[0] == str(pk)
            best = response.json()["results"][0]
            assert best["score"] > 0.99 and best["product"]["image_url"] == absolute(photo.url), pk
            typed = search.search_by_image(photo.data, limit=1)
            assert [str(hit.product.pk) for hit in typed] == [str(pk)] and typed.hits[0].score > 0.99

    def test_look_alikes_never_include_the_product_or_its_family(self, contract_catalog, contract_client):
        catalog = contract_catalog
        for pk in [*catalog.sample, *(member for member in catalog.families if member not in catalog.products)]:
            hits = ids(contract_client.get(product_url("similar", pk), {"limit": PAGE}))
            assert len(hits) == len(set(hits)) and hits, pk
            # Every other product (the catalog is smaller than a page), none of the family.
            assert set(hits) == catalog.shown - catalog.family(pk), pk
            assert [str(hit.product.pk) for hit in search.similar(pk, limit=PAGE)] == hits

    def test_pages_never_repeat_a_product_and_next_leads_on(self, contract_catalog, contract_client):
        catalog = contract_catalog
        first, photo = catalog.products[0], next(iter(catalog.photos.values()))
        limit = len(catalog.products) // 3  # three pages and a part
        answers = (("vector search", reverse("shop_clip:search"), {"q": catalog.text, "mode": "vector"}, None,
                    catalog.shown),
                   ("search", reverse("shop_clip:search"), {"q": catalog.text}, None, catalog.shown),
                   ("photo search", reverse("shop_clip:search-image"), {}, photo.data, catalog.shown),
                   ("look-alikes", product_url("similar", first), {}, None, catalog.shown - catalog.family(first)))
        for what, path, params, data, expected in answers:
            pages = every_page(contract_client, path, params, limit, data)
            seen = [pk for page in pages for pk in page]
            assert len(pages) >= 3 and len(seen) == len(set(seen)), what
            assert set(seen) == expected, what
            offset = limit * (len(pages) - 1)
            if data is None:  # the typed API's page at an offset is the HTTP one
                typed = (search.similar(first, limit=limit, offset=offset) if what == "look-alikes" else
                         search.search(catalog.text, mode=params.get("mode"), limit=limit, offset=offset))
                assert [str(hit.product.pk) for hit in typed] == pages[-1], what

    def test_every_filter_in_the_schema_narrows_results_as_its_predicate_says(self, contract_catalog,
                                                                              contract_filters, contract_client):
        catalog, client = contract_catalog, contract_client
        schema = client.get(reverse("shop_clip:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert schema.status_code == 200, schema.content[:500]
        parameters = schema.json()["paths"][reverse("shop_clip:search")]["get"]["parameters"]
        documented = {param["name"] for param in parameters} - SEARCH_PARAMS
        assert {name for case in contract_filters for name in case.params} == documented
        everything = self.search_everything(client, catalog)
        assert set(everything) == catalog.shown
        first, photo = catalog.products[0], next(iter(catalog.photos.values()))
        for case in contract_filters:
            expected = {pk for pk, product in everything.items() if case.keeps(product)}
            assert expected and expected < set(everything), f"{case.params} keeps none or all: nothing to test"
            assert set(self.search_everything(client, catalog, **case.params)) == expected, case.params
            query = urlencode({**case.params, "limit": PAGE})
            by_photo = ids(client.post(f"{reverse('shop_clip:search-image')}?{query}", {"image": upload(photo.data)}))
            assert len(by_photo) == len(set(by_photo)) and set(by_photo) == expected, case.params
            alike = ids(client.get(product_url("similar", first), {**case.params, "limit": PAGE}))
            assert set(alike) == expected - catalog.family(first), case.params
            for value in case.rejects:
                (name,) = case.params
                response = client.get(reverse("shop_clip:search"), {"q": catalog.text, name: value})
                assert response.status_code == 400, (name, value, response.content[:300])
                assert name in response.json()["detail"], (name, value)

    def test_a_misspelt_filter_is_refused_naming_the_filter_meant(self, contract_catalog, contract_filters,
                                                                 contract_client):
        catalog, client = contract_catalog, contract_client
        first, photo = catalog.products[0], next(iter(catalog.photos.values()))
        names = sorted({name for case in contract_filters for name in case.params})
        for name, value in ((name, case.params[name]) for case in contract_filters for name in case.params):
            typo = name[:-1]  # a letter short: nearer its own name than any other's
            meant = f"did you mean '{name}'?"
            answers = {"search": client.get(reverse("shop_clip:search"), {"q": catalog.text, typo: value}),
                       "photo search": client.post(f"{reverse('shop_clip:search-image')}?{urlencode({typo: value})}",
                                                   {"image": upload(photo.data)}),
                       "look-alikes": client.get(product_url("similar", first), {typo: value}),
                       "complete the look": client.get(product_url("complete-the-look", first), {typo: value})}
            for what, response in answers.items():
                assert response.status_code == 400, (what, typo, response.content[:300])
                detail = response.json()["detail"]
                assert f"unknown parameter '{typo}' ({meant})" in detail and all(n in detail for n in names), detail
            with pytest.raises(UnknownFilter, match=re.escape(f"unknown filter '{typo}' ({meant})")):
                search.search(catalog.text, filters={typo: value})
            with pytest.raises(UnknownFilter, match=re.escape(meant)):
                look.complete_the_look(first, filters={typo: value})
        # The operation's own names are no filters: a page size is not taken for one.
        with pytest.raises(UnknownFilter, match="unknown filter 'limit'"):
            search.search(catalog.text, filters={"limit": "5"})
        response = client.get(reverse("shop_clip:search"), {"q": catalog.text, "limt": "5"})
        assert response.status_code == 400 and "'limt' (did you mean 'limit'?)" in response.json()["detail"]

    def test_an_unknown_or_malformed_product_is_404(self, contract_catalog, contract_client):
        catalog = contract_catalog
        assert contract_client.get(product_url("similar", catalog.products[0])).status_code == 200
        unknown = [product_url(path, catalog.unknown_pk) for path in PRODUCT_PATHS]
        malformed = [product_url(path, pk, raw=True) for pk in (*MALFORMED_PKS, *catalog.malformed_pks)
                     for path in PRODUCT_PATHS]
        for url in (*unknown, *malformed):
            response = contract_client.get(url)
            assert response.status_code == 404, (url, response.status_code, response.content[:300])
            assert response.json()["detail"], url

    def test_the_stores_queryset_restricts_the_typed_api_inside_one_knn_statement(self, contract_catalog,
                                                                                  contract_queryset):
        catalog, restricted = contract_catalog, contract_queryset
        pk, photo = next(iter(catalog.photos.items()))
        calls = {"search": lambda **kw: search.search(catalog.text, mode="vector", limit=PAGE, **kw),
                 "search_by_image": lambda **kw: search.search_by_image(photo.data, limit=PAGE, **kw),
                 "similar": lambda **kw: search.similar(pk, limit=PAGE, **kw)}
        for name, call in calls.items():
            everything = call()
            with CaptureQueriesContext(connection) as queries:
                page = call(queryset=restricted.queryset)
            knn = [query["sql"] for query in queries.captured_queries if "<=>" in query["sql"]]
            assert len(knn) == 1 and restricted.marker in knn[0], (name, knn)
            kept = {str(hit.product.pk) for hit in everything if restricted.keeps(hit.product)}
            assert kept < {str(hit.product.pk) for hit in everything}, f"{name}: the queryset leaves every product"
            assert {str(hit.product.pk) for hit in page} == kept and len(page) == len(kept), name
            scores = [hit.score for hit in page]
            assert scores == sorted(scores, reverse=True), name
        result = look.complete_the_look(pk, queryset=restricted.queryset, categories=look.MAX_GROUPS,
                                        per_category=look.MAX_GROUPS)
        assert result.groups and all(restricted.keeps(hit.product) for group in result for hit in group.hits)

    def test_complete_the_look_never_offers_the_products_own_category(self, contract_catalog, contract_client):
        catalog = contract_catalog
        every_category = set().union(*(catalog.categories[pk] for pk in catalog.products))
        for pk in catalog.sample:
            own = catalog.categories[pk]
            groups = look_groups(contract_client.get(product_url("complete-the-look", pk),
                                                     {"categories": look.MAX_GROUPS, "per_category": look.MAX_GROUPS}))
            names = [category for category, _ in groups]
            assert len(names) == len(set(names)) and set(names) <= every_category - own, (pk, own, names)
            for category, hits in groups:
                assert hits and set(hits) <= catalog.shown - catalog.family(pk), (pk, category)
                assert all(category in catalog.categories_of(hit) for hit in hits), (pk, category)
            typed = look.complete_the_look(pk, categories=look.MAX_GROUPS, per_category=look.MAX_GROUPS)
            assert [(group.category, [str(hit.product.pk) for hit in group.hits]) for group in typed] == groups
            assert groups, f"no look for {pk}: a contract catalog gives each product a category that goes with it"

    def test_a_pages_json_costs_the_same_queries_whatever_its_length(self, contract_catalog, contract_client):
        catalog, client = contract_catalog, contract_client
        photo = next(iter(catalog.photos.values()))
        sends = {"search": lambda limit: client.get(reverse("shop_clip:search"), {"q": catalog.text, "limit": limit}),
                 "photo search": lambda limit: client.post(f"{reverse('shop_clip:search-image')}?limit={limit}",
                                                           {"image": upload(photo.data)})}
        short, whole = catalog.short_page, len(catalog.products)
        for what, send in sends.items():
            send(short)  # warm: the query's embedding cached
            counts = {}
            for limit in (short, whole):
                with CaptureQueriesContext(connection) as queries:
                    response = send(limit)
                assert len(ids(response)) == limit, what
                counts[limit] = len(queries)
            assert counts[short] == counts[whole], (what, counts)  # no query per hit (image URLs, categories, prices)
            for hit in response.json()["results"]:  # each product's own photo (or its family's), not a neighbour's
                product = hit["product"]
                assert product["image_url"] in catalog.image_urls_of(str(product["id"])), (what, product)

    def test_hidden_products_never_appear(self, contract_catalog, contract_hidden, contract_queryset, contract_client):
        assert contract_hidden, "a store that hides nothing sets test_hidden_products_never_appear = None"
        catalog, client = contract_catalog, contract_client
        hidden = {str(pk) for pk in contract_hidden}
        visible = catalog.shown - hidden
        assert hidden and visible
        assert set(self.search_everything(client, catalog)) == visible
        photos = [data for data in contract_hidden.values() if data][:4]
        for data in photos:  # its twin, if any, may come first; never itself
            by_photo = ids(client.post(f"{reverse('shop_clip:search-image')}?limit={PAGE}", {"image": upload(data)}))
            assert by_photo and not set(by_photo) & hidden
        scene = client.post(f"{reverse('shop_clip:shop-the-look')}?categories=5&per_category=20",
                            {"image": upload(flat_lay(photos))})
        shown = {pk for _, hits in look_groups(scene) for pk in hits}
        assert shown and not shown & hidden
        for pk in (pk for pk in catalog.sample if str(pk) in visible):
            assert not set(ids(client.get(product_url("similar", pk), {"limit": PAGE}))) & hidden, pk
            looks = look_groups(client.get(product_url("complete-the-look", pk),
                                           {"categories": look.MAX_GROUPS, "per_category": look.MAX_GROUPS}))
            assert not {hit for _, hits in looks for hit in hits} & hidden, pk
        for pk in contract_hidden:
            for path in PRODUCT_PATHS:
                assert client.get(product_url(path, pk)).status_code == 404, (pk, path)
        # The Python API too, whatever queryset store code passes.
        everyone = contract_queryset.queryset.model._default_manager.all()
        page = search.search(catalog.text, queryset=everyone, mode="vector", limit=PAGE)
        assert {str(hit.product.pk) for hit in page} == visible
