"""Search, filters, paging and look-alikes over a generated catalog embedded in pgvector."""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from shop_clip import search
from shop_clip.catalog import SettingsCatalog
from shop_clip.knn import Restriction, nearest
from shop_clip.models import ProductVector
from shop_clip.query_vectors import encode_query
from shop_clip.scan_plan import ScanPlan, plan_for, plan_for_words
from shop_clip.spaces import active_space

from .conftest import committed_demo_catalog

CATALOG_SIZE = 300


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    """A committed, embedded demo catalog shared by this module's tests."""
    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=7) as ids:
        yield ids


@pytest.fixture
def api(catalog, db):
    return Client()


def product_ids(response) -> list:
    return [hit["product"]["id"] for hit in response.json()["results"]]


def test_search_returns_products_with_scores(api):
    # mode=vector: ranked by the score alone (hybrid also weighs words; its scores need not decrease)
    response = api.get("/api/shop-clip/search/", {"q": "red striped cotton t-shirt", "limit": 10, "mode": "vector"})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 10
    first = body["results"][0]["product"]
    assert {"id", "title", "category", "price", "image_url", "attributes"} <= set(first)
    assert set(first["category"]) == {"name", "slug"}
    assert first["image_url"].startswith("http://testserver/media/")
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["next"].endswith("offset=10") or "offset=10" in body["next"]


def test_next_is_null_when_the_answer_ends_on_a_pages_edge(api):
    """A full page used to carry a ``next`` whose page was empty."""
    params = {"q": "dress", "category": "dress", "mode": "vector"}
    everything = product_ids(api.get("/api/shop-clip/search/", {**params, "limit": 50}))
    size = len(everything)
    assert 2 < size < 50
    whole = api.get("/api/shop-clip/search/", {**params, "limit": size}).json()
    assert (whole["count"], whole["next"]) == (size, None)
    first = api.get("/api/shop-clip/search/", {**params, "limit": size - 1}).json()
    assert first["count"] == size - 1 and first["next"]
    last = api.get(first["next"]).json()
    assert [hit["product"]["id"] for hit in last["results"]] == everything[-1:] and last["next"] is None
    assert search.search("dress", filters={"category": "dress"}, mode="vector", limit=size).more is False
    assert search.search("dress", filters={"category": "dress"}, mode="vector", limit=size - 1).more is True


def test_pages_never_repeat_a_product(api):
    seen = []
    for offset in range(0, 100, 20):
        response = api.get("/api/shop-clip/search/", {"q": "blue shoes", "limit": 20, "offset": offset})
        seen += product_ids(response)
    assert len(seen) == 100 and len(set(seen)) == 100


def test_the_nearest_few_are_the_first_of_the_nearest_many(catalog, db):
    """An index scan's rows carry the distance the index ordered them by: with ``<=>``'s own
    rounding, two rows 1e-5 apart came the other way round, and a page cut between them
    repeated one product and never showed the other."""
    import numpy as np

    space = active_space()
    stored = ProductVector.objects.filter(space=space, embedding__isnull=False).values_list("embedding", flat=True)
    vectors = np.array([np.asarray(vector, dtype=np.float32) for vector in stored[:40]])
    noise = np.random.default_rng(3).normal(0, 0.05, vectors.shape).astype(np.float32)
    for query in vectors + noise:
        many = [row.group_id for row in nearest(query, space, wanted=60, plan=ScanPlan.INDEX)]
        assert len(many) == 60
        for few in range(1, 60):
            assert [row.group_id for row in nearest(query, space, wanted=few, plan=ScanPlan.INDEX)] == many[:few]


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_pages_of_any_size_are_cut_from_one_order(catalog, db, mode):
    """Deep pages (past KEYWORD_DEPTH) and small ones: each page size gives the same products in the
    same order, so paging never repeats a product nor skips one.  Near ties once swapped between
    depths (the index rounds the distance unlike ``<=>``), and hybrid's fusion once deepened with
    the page."""
    for words in ("striped", "red", "wool scarf", "blue shoes"):
        whole = [hit.product.pk for hit in search.search(words, mode=mode, limit=100, offset=0)]
        whole += [hit.product.pk for hit in search.search(words, mode=mode, limit=100, offset=100)]
        paged = []
        for offset in range(0, 200, 7):
            paged += [hit.product.pk for hit in search.search(words, mode=mode, limit=7, offset=offset)]
        assert paged[:200] == whole and len(set(whole)) == 200, words


@pytest.mark.parametrize("params, check", [
    ({"category": "mug"}, lambda p: p.category.slug == "mug"),
    ({"min_price": "150"}, lambda p: p.price >= 150),
    ({"max_price": "20"}, lambda p: p.price <= 20),
    ({"in_stock": "false"}, lambda p: not p.in_stock),
    ({"in_stock": "true", "category": "boot", "max_price": "120"},
     lambda p: p.in_stock and p.category.slug == "boot" and p.price <= 120),
])
def test_each_filter_is_applied_and_fills_the_page(api, params, check):
    from demo_project.catalog.models import Product

    matching = [p for p in Product.objects.select_related("category") if check(p)]
    assert matching, "the generated catalog should contain matching products"
    limit = 10
    response = api.get("/api/shop-clip/search/", {"q": "something nice", "limit": limit, **params})
    assert response.status_code == 200, response.content
    ids = product_ids(response)
    assert len(ids) == min(limit, len(matching))
    assert set(ids) <= {p.pk for p in matching}


def test_selective_filter_fills_the_page_where_a_plain_hnsw_scan_would_not(catalog, db, settings):
    """About 2% of products match: a plain HNSW scan (ef_search=40) sees too few of them; the
    iterative scan goes on until the page is full, and the default (exact search for filters this
    selective, see scan_plan.plan_for) returns all of them too."""
    from demo_project.catalog.models import Product

    filters = {"attributes__colour": "red", "attributes__pattern": "striped"}  # no index: HNSW must filter
    matching = Product.objects.filter(**filters).count()
    assert 3 <= matching <= 15, matching
    space = active_space()
    vector = encode_query("a lamp", space)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")  # the plan a large catalog gets: HNSW scan first, then filter
    hnsw_only = {**settings.SHOP_CLIP, "HNSW_EF_SEARCH": 40, "EXACT_SEARCH_MAX_ROWS": 0}
    settings.SHOP_CLIP = {**hnsw_only, "HNSW_ITERATIVE_SCAN": "off"}
    plain = nearest(vector, space, wanted=matching, restriction=Restriction(filters))
    settings.SHOP_CLIP = {**hnsw_only, "HNSW_ITERATIVE_SCAN": "strict_order"}
    iterative = nearest(vector, space, wanted=matching, restriction=Restriction(filters))
    settings.SHOP_CLIP = {**hnsw_only, "EXACT_SEARCH_MAX_ROWS": 10_000}
    default = nearest(vector, space, wanted=matching, restriction=Restriction(filters))
    assert len(plain) < matching, "a plain scan should have come back short: the test would prove nothing"
    assert len(iterative) == matching == len(default)
    assert {row.product_id for row in default} == {p.pk for p in Product.objects.filter(**filters)}
    assert all(hit.product.attributes["colour"] == "red" for hit in search.hits_for(iterative))


def test_nearest_each_answers_each_vector_as_nearest_alone_in_one_statement_a_plan(catalog, db, monkeypatch):
    """Shop the look asks for every region's neighbours at once: each answer is the one ``nearest``
    gives that vector alone, the queries of one scan plan are one SQL statement, and a query whose
    first fetch came back short is asked again until it is full."""
    from django.test.utils import CaptureQueriesContext

    from shop_clip import knn

    space = active_space()
    vectors = [encode_query(text, space) for text in ("a red lamp", "striped socks", "a blue vase", "a hat")]
    selective = Restriction({"attributes__colour": "red", "attributes__pattern": "striped"})  # exact search
    restrictions = [Restriction(), Restriction({"category__slug": "vase"}), selective, Restriction()]
    assert len({plan_for(restriction, space) for restriction in restrictions}) == 2
    alone = [nearest(vector, space, wanted=7, restriction=restriction)
             for vector, restriction in zip(vectors, restrictions, strict=True)]
    with CaptureQueriesContext(connection) as queries:
        together = knn.nearest_each(vectors, space, wanted=7, restrictions=restrictions)
    assert together == alone and all(together)
    assert len([query for query in queries.captured_queries if "<=>" in query["sql"]]) == 2
    assert knn.nearest_each([], space, wanted=7) == []
    nothing = Restriction({"pk__in": []})  # the ORM knows no row passes: no SQL for it, an empty answer
    assert knn.nearest_each(vectors[:2], space, wanted=7, restrictions=[Restriction(), nothing]) == [alone[0], []]
    monkeypatch.setattr(knn, "_first_fetch", lambda wanted: 1)  # as if each family had taken every row fetched
    assert knn.nearest_each(vectors, space, wanted=7) == [nearest(vector, space, wanted=7) for vector in vectors]


def test_similar_never_returns_the_product_itself(api, catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[0])
    response = api.get(f"/api/shop-clip/products/{product.pk}/similar/", {"limit": 12})
    assert response.status_code == 200
    ids = product_ids(response)
    assert len(ids) == 12 and product.pk not in ids
    filtered = api.get(f"/api/shop-clip/products/{product.pk}/similar/", {"limit": 5, "category": "vase"})
    assert {hit["product"]["category"]["slug"] for hit in filtered.json()["results"]} == {"vase"}


def test_query_embeddings_are_cached(catalog, db, monkeypatch):
    from shop_clip import encoders

    space = active_space()
    encoder = encoders.get_encoder(model=space.model_ref)
    calls = []
    original = encoder.encode_texts
    monkeypatch.setattr(encoder, "encode_texts", lambda texts, **kw: calls.append(texts) or original(texts, **kw))
    first = search.search("Green  Checked scarf ", limit=5)
    second = search.search("green checked scarf", limit=5)
    assert len(calls) == 1
    assert [h.product.pk for h in first.hits] == [h.product.pk for h in second.hits]


@pytest.mark.parametrize("params, fragment", [
    ({}, "q is required"),
    ({"q": "   "}, "q is required"),
    ({"q": "x" * 201}, "too long"),
    ({"q": "shirt", "limit": "0"}, "limit must be between"),
    ({"q": "shirt", "limit": "abc"}, "limit must be a whole number"),
    ({"q": "shirt", "offset": "-1"}, "offset must be"),
    ({"q": "shirt", "min_price": "cheap"}, "min_price"),
    ({"q": "shirt", "max_price": "NaN"}, "max_price"),
    ({"q": "shirt", "in_stock": "maybe"}, "in_stock"),
    ({"q": "shirt", "mode": "fuzzy"}, "mode must be one of hybrid, vector, keyword"),
])
def test_bad_search_requests_answer_400_with_a_message(api, params, fragment):
    response = api.get("/api/shop-clip/search/", params)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_unknown_product_is_404(api):
    assert api.get("/api/shop-clip/products/987654321/similar/").status_code == 404
    assert api.get("/api/shop-clip/products/not-a-number/similar/").status_code == 404


def test_product_not_yet_embedded_says_so(api, catalog):
    ProductVector.objects.filter(product_id=catalog[1]).update(status="pending", embedding=None)
    response = api.get(f"/api/shop-clip/products/{catalog[1]}/similar/")
    assert response.status_code == 409
    assert "not embedded yet" in response.json()["detail"]


def test_a_product_without_a_photo_is_told_apart_from_one_not_indexed(api, catalog):
    """Both said "run shop_clip_index --missing", which cannot give a product a photo."""
    from demo_project.catalog.models import Product

    shown = Product.objects.get(pk=catalog[2])
    bare = Product.objects.create(title="No photo yet", category=shown.category, price=shown.price)
    response = api.get(f"/api/shop-clip/products/{bare.pk}/similar/")
    assert response.status_code == 409
    assert response.json()["detail"] == f"product {bare.pk} has no photo: look-alikes and looks compare photos"
    ProductVector.objects.filter(product_id=catalog[2]).delete()
    detail = api.get(f"/api/shop-clip/products/{catalog[2]}/similar/").json()["detail"]
    assert detail == f"product {catalog[2]} is not indexed: run `python manage.py shop_clip_index --missing`"


def test_status_endpoint_counts(api):
    body = api.get("/api/shop-clip/status/").json()
    assert body["total"] == CATALOG_SIZE and body["embedded"] == CATALOG_SIZE
    assert body["pending"] == 0 and body["failed"] == 0
    assert body["active_model"] == body["model"]
    (row,) = body["models"]  # every model's counts, and nothing of the server's code
    assert (row["model"], row["active"], row["embedded"]) == (body["model"], True, CATALOG_SIZE)
    assert "backend" not in row and "SentenceTransformer" not in str(body)


def test_openapi_schema_is_served(api):
    response = api.get("/api/shop-clip/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/shop-clip/search/" in schema["paths"]
    assert "/api/shop-clip/products/{id}/similar/" in schema["paths"]
    documented = {param["name"] for param in schema["paths"]["/api/shop-clip/search/"]["get"]["parameters"]}
    assert {"q", "mode", "limit", "offset", "category", "min_price", "max_price", "in_stock"} <= documented


def test_catalog_api_lists_products(api):
    body = api.get("/api/catalog/products/").json()
    assert body["count"] == CATALOG_SIZE and len(body["results"]) == 20
    assert set(body["results"][0]["category"]) == {"name", "slug"}


def test_vectors_reach_postgresql_exactly_as_their_half_precision_values(db):
    import numpy as np

    from shop_clip.hnsw import halfvec_literals

    vectors = np.random.default_rng(3).normal(size=(4, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with connection.cursor() as cursor:
        for vector, literal in zip(vectors, halfvec_literals(vectors), strict=True):
            cursor.execute("SELECT %s::halfvec::real[]", [literal])
            stored = np.array(cursor.fetchone()[0], dtype=np.float32)
            assert np.array_equal(stored, vector.astype(np.float16).astype(np.float32))



def test_every_half_precision_value_reaches_postgresql_exactly(db):
    """All 63,488 finite halves, through the text table the workers write with."""
    import numpy as np

    from shop_clip.hnsw import halfvec_literals

    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)]
    with connection.cursor() as cursor:
        for chunk in np.array_split(halves, 4):  # a halfvec holds at most 16,000 values
            cursor.execute("SELECT %s::halfvec::real[]", [halfvec_literals(chunk.astype(np.float32))[0]])
            stored = np.array(cursor.fetchone()[0], dtype=np.float32).astype(np.float16)
            assert np.array_equal(stored, chunk)  # by value: distinct halves differ, but -0.0 == 0.0


# -- keyword and hybrid search ---------------------------------------------------------------------------
def _text(product) -> str:
    return f"{product.title} {product.description}".lower()


@pytest.mark.parametrize("exact_max_rows", [1000, 0], ids=["rare words ranked exactly", "among candidates"])
def test_hybrid_finds_materials_the_pictures_do_not_show_and_keeps_what_they_do(catalog, db, settings,
                                                                                 exact_max_rows):
    """Through the real search code: material queries ("linen dress") go from what the 32-pixel
    pictures suggest to what the shop's copy says; queries the pictures answer stay as good.
    (This 300-product catalog: material nDCG@10 0.66 -> 0.90, P@10 0.32 -> 0.53, where few
    products of a material make P@10's ceiling low.)  Both ways of finding the keyword matches:
    every match ranked exactly (what a catalog this small always gets), or only those among the
    nearest candidates (what common words get in a large one)."""
    from shop_clip.retrieval_eval import evaluate_search_modes

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "KEYWORD_EXACT_MAX_ROWS": exact_max_rows}
    report = evaluate_search_modes(min_relevant=3, modes=("vector", "hybrid"))
    metrics = report["metrics"]
    assert report["queries"]["material_category"] >= 20 and report["queries"]["category"] >= 10
    material = metrics["material_category"]
    assert material["hybrid"]["p_at_10"] >= material["vector"]["p_at_10"] + 0.15, material
    assert material["hybrid"]["ndcg_at_10"] >= material["vector"]["ndcg_at_10"] + 0.15, material
    for kind in ("category", "colour_pattern_category"):
        assert metrics[kind]["hybrid"]["ndcg_at_10"] >= metrics[kind]["vector"]["ndcg_at_10"] - 0.03, metrics


def test_keyword_mode_keeps_products_with_every_word_nearest_first(api):
    from demo_project.catalog.models import Product

    containing = [p for p in Product.objects.all() if "wool" in _text(p) and "scarf" in _text(p)]
    assert len(containing) >= 3
    response = api.get("/api/shop-clip/search/", {"q": "wool scarf", "mode": "keyword", "limit": 100})
    assert response.status_code == 200
    hits = response.json()["results"]
    assert {hit["product"]["id"] for hit in hits} == {p.pk for p in containing}
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    without = api.get("/api/shop-clip/search/", {"q": "scarf -wool", "mode": "keyword", "limit": 100}).json()
    assert without["results"] and all("wool" not in _text(Product.objects.get(pk=hit["product"]["id"]))
                                      for hit in without["results"])


def test_keyword_matches_respect_the_stores_filters(api):
    from demo_project.catalog.models import Product

    response = api.get("/api/shop-clip/search/", {"q": "leather", "mode": "keyword", "category": "boot",
                                                   "in_stock": "true", "limit": 100})
    ids = [hit["product"]["id"] for hit in response.json()["results"]]
    expected = {p.pk for p in Product.objects.filter(category__slug="boot", in_stock=True) if "leather" in _text(p)}
    assert expected and set(ids) == expected


def test_hybrid_puts_a_named_product_first_where_its_picture_alone_would_not(catalog, db, make_product):
    """A product name no picture shows: its words find it; the other results still fill the page."""
    from shop_clip.indexing import process_pending

    named = make_product(title="Zanzibar weekender", colour=(120, 120, 120), description="A roomy travel bag.")
    process_pending()
    hybrid = search.search("zanzibar", limit=10)
    assert hybrid.hits[0].product.pk == named.pk and len(hybrid.hits) == 10
    assert search.search("zanzibar", limit=10, mode="vector").hits[0].product.pk != named.pk


def test_hybrid_pages_agree_and_a_query_of_stop_words_falls_back_to_pictures(api):
    seen = []
    for offset in range(0, 60, 20):
        response = api.get("/api/shop-clip/search/", {"q": "red cotton", "limit": 20, "offset": offset})
        seen += product_ids(response)
    assert len(seen) == len(set(seen)) == 60
    stop_words = api.get("/api/shop-clip/search/", {"q": "the", "limit": 5}).json()
    assert len(stop_words["results"]) == 5
    for nothing_to_look_for in ("the", "the and of", "-", '""', "or", "-the"):
        refused = api.get("/api/shop-clip/search/", {"q": nothing_to_look_for, "mode": "keyword"})
        assert refused.status_code == 400 and "q has no word keyword search can look for" in refused.json()["detail"]
    assert api.get("/api/shop-clip/search/", {"q": "-dress", "mode": "keyword", "limit": 5}).json()["next"]


def test_keyword_search_can_be_turned_off(api, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "KEYWORD_SEARCH": False}
    assert api.get("/api/shop-clip/search/", {"q": "wool scarf", "limit": 3}).status_code == 200
    response = api.get("/api/shop-clip/search/", {"q": "wool scarf", "mode": "hybrid"})
    assert response.status_code == 400 and "turned off" in response.json()["detail"]


def test_few_matches_are_searched_exactly_whatever_their_share_of_a_small_catalog(catalog, db, settings):
    """HNSW's recall follows the number of matches as much as their share (bench/search.py: a 10%
    filter of 20,000 products, 2,000 matches, had recall@10 0.94), so up to EXACT_SEARCH_MIN_ROWS
    matches are searched exactly even where they are more than EXACT_SEARCH_SELECTIVITY of it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from demo_project.catalog.models import Product
    from shop_clip.scan_plan import exact_search_max_rows
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Product._meta.db_table}")  # the catalog's size is known
    in_stock = {"in_stock": True}
    assert Product.objects.filter(**in_stock).count() > 0.05 * Product.objects.count()  # more than 5%
    assert plan_for(Restriction(in_stock)) is ScanPlan.EXACT  # but far under 5,000 products
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MIN_ROWS": 0}
    assert plan_for(Restriction(in_stock)) is ScanPlan.INDEX  # the 5% share alone: HNSW
    # With the lower bound at the upper one the catalog's size cannot move the threshold: not read.
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MIN_ROWS": 40, "EXACT_SEARCH_MAX_ROWS": 40}
    with CaptureQueriesContext(connection) as queries:
        assert exact_search_max_rows() == 40
    assert not queries.captured_queries


def test_a_repeated_filter_is_compiled_once_and_answers_as_a_freshly_compiled_one(catalog, db, monkeypatch):
    """Shoppers repeat filters, and compiling a filtered KNN statement and its plan's count is a
    real share of a fast search (statements.py): a filter of plain values is compiled once for
    the query vectors that repeat it, each answered as a fresh compile would; other values, and a
    queryset, compile each time."""
    from demo_project.catalog.models import Product
    from shop_clip import knn, scan_plan, statements
    from shop_clip.keywords import keyword_filter

    compiled, counted = [], []
    compile_statement, plan_key = knn._knn_statement, scan_plan._plan_key
    monkeypatch.setattr(knn, "_knn_statement", lambda *args: compiled.append(1) or compile_statement(*args))
    monkeypatch.setattr(scan_plan, "_plan_key", lambda products: counted.append(1) or plan_key(products))
    space = active_space()
    prices = sorted(Product.objects.values_list("price", flat=True))
    vectors = [encode_query(text, space) for text in ("a red lamp", "black leather boots")]

    def answers(restriction_of, order=(0, 1)):
        return {number: nearest(vectors[number], space, wanted=10, restriction=restriction_of()) for number in order}

    cheap = answers(lambda: Restriction({"price__lte": prices[60]}))  # a new Restriction each time
    assert (len(compiled), len(counted)) == (1, 1)
    statements.forget()
    # The other way round: each vector's answer from its own compile against the other's remembered one.
    assert answers(lambda: Restriction({"price__lte": prices[60]}), order=(1, 0)) == cheap and cheap[0] != cheap[1]
    assert (len(compiled), len(counted)) == (2, 2)
    cheapest = answers(lambda: Restriction({"price__lte": prices[9]}))
    assert (len(compiled), len(counted)) == (3, 3)  # other values: their own statement
    found = Product.objects.filter(pk__in=[row.product_id for row in cheapest[0]])
    assert len(cheapest[0]) == 10 and all(product.price <= prices[9] for product in found)
    answers(lambda: Restriction(within=Product.objects.filter(price__lte=prices[60])))
    assert len(compiled) == 5  # a queryset: compiled for each query
    answers(lambda: Restriction(keyword_filter("lamp")))
    assert len(compiled) == 6  # the words' filter, built by shop-clip from them, has a key


CEILING: ContextVar[Decimal] = ContextVar("ceiling")


class RequestScopedCatalog(SettingsCatalog):
    """A store whose visibility reads the request (a tenant, a channel): here a price ceiling."""

    def visible(self, queryset):
        return queryset.filter(price__lte=CEILING.get())


def test_a_catalog_whose_visibility_reads_the_request_compiles_every_statement(catalog, db, settings):
    from demo_project.catalog.models import Product

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "CATALOG": "tests.test_search.RequestScopedCatalog"}
    space = active_space()
    prices = sorted(Product.objects.values_list("price", flat=True))
    vector = encode_query("a red lamp", space)
    for ceiling in (prices[-1], prices[40], prices[15]):
        CEILING.set(ceiling)
        found = nearest(vector, space, wanted=10, restriction=Restriction({"in_stock": True}))
        shown = Product.objects.filter(pk__in=[row.product_id for row in found])
        assert found and all(product.price <= ceiling for product in shown), ceiling


def test_a_filters_plan_is_remembered_and_counted_again_when_the_index_leaves_a_page_short(catalog, db, settings):
    """Shoppers repeat a store's filters, and at 1M products the count that chooses the scan plan
    takes up to 17 ms: a plan is remembered for PLAN_CACHE_SECONDS.  A remembered plan may be out
    of date, which a short page from the index shows: the filter is counted again and searched
    exactly."""
    from django.test.utils import CaptureQueriesContext

    from demo_project.catalog.models import Product

    def counted(call):
        with CaptureQueriesContext(connection) as queries:
            result = call()
        return result, sum("COUNT(" in query["sql"] for query in queries.captured_queries)

    space = active_space()
    prices = sorted(Product.objects.values_list("price", flat=True))
    cheap = Restriction({"price__lte": prices[29]})
    matching = Product.objects.filter(price__lte=prices[29]).count()
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MIN_ROWS": 0, "EXACT_SEARCH_SELECTIVITY": 1,
                          "EXACT_SEARCH_MAX_ROWS": matching - 1}
    assert counted(lambda: plan_for(cheap, space)) == (ScanPlan.INDEX, 1)
    assert counted(lambda: plan_for(cheap, space)) == (ScanPlan.INDEX, 0)  # remembered
    cheapest = Restriction({"price__lte": prices[3]})
    assert counted(lambda: plan_for(cheapest, space)) == (ScanPlan.EXACT, 1)  # another filter: its own count
    # All but three of the cheap products now cost more: the remembered plan is out of date.
    kept = set(Product.objects.filter(price__lte=prices[29]).order_by("price", "pk").values_list("pk", flat=True)[:3])
    Product.objects.filter(price__lte=prices[29]).exclude(pk__in=kept).update(price=prices[-1] + 1)
    found, counts = counted(lambda: nearest(encode_query("a red lamp", space), space, wanted=10, restriction=cheap))
    assert {row.product_id for row in found} == kept and counts == 1
    assert counted(lambda: plan_for(cheap, space)) == (ScanPlan.EXACT, 0)  # remembered as counted again
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "PLAN_CACHE_SECONDS": 0}
    assert [counted(lambda: plan_for(cheap, space)) for _ in range(2)] == [(ScanPlan.EXACT, 1)] * 2


def test_keyword_ranking_searches_rare_words_exactly_from_postgresqls_estimate(catalog, db, settings):
    from django.db import connection

    from demo_project.catalog.models import Product
    from shop_clip.keywords import _read_word_stats, estimated_matches, keyword_filter, rarest_word_matches
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE shop_clip_productdocument")
        # The catalog's size (the last ANALYZE's) caps "few" at EXACT_SEARCH_SELECTIVITY of it;
        # left to autovacuum, it was known or not depending on timing.
        cursor.execute(f"ANALYZE {Product._meta.db_table}")
    _read_word_stats()
    wool = sum("wool" in _text(p) for p in Product.objects.all())
    scarves = sum("scarf" in _text(p) for p in Product.objects.all())
    assert wool >= 10 and wool / 2 <= estimated_matches("wool") <= wool * 2
    assert estimated_matches("zanzibar") < wool
    # The rarest word decides (a name among common words): from the column's lexeme statistics.
    assert wool / 2 <= rarest_word_matches("wool") <= wool * 2
    assert rarest_word_matches("wool scarf") == pytest.approx(min(rarest_word_matches("wool"),
                                                                    rarest_word_matches("scarf")))
    assert rarest_word_matches("zanzibar wool") < min(wool, scarves) / 2
    assert rarest_word_matches("the") == float("inf")  # no word to match: nothing rare
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_SELECTIVITY": 1}
    assert plan_for_words("wool", Restriction()) is ScanPlan.EXACT  # at most the whole 300-product catalog: few
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MAX_ROWS": 5}
    assert plan_for_words("wool", Restriction()) is ScanPlan.INDEX  # many match, nothing else filters: HNSW
    # The filters may leave few: counted, as any restriction is (the in-stock wool products, here more than 5).
    in_stock_wool = Restriction({"in_stock": True})
    assert plan_for_words("wool", in_stock_wool) is plan_for(in_stock_wool.narrowed(**keyword_filter("wool")))
    assert estimated_matches("wool") > 5  # so only the count can make this one exact
    few = Restriction({"pk__in": list(Product.objects.filter(in_stock=True).values_list("pk", flat=True)[:3])})
    assert plan_for_words("wool", few) is ScanPlan.EXACT
