"""A space's index kind: with VECTOR_INDEX = "binary" a new space is built around its mean and
searched through its sign bits, re-ranked by the halfvec distance; an existing space switches kind
with search going on, and the checks say when search walks the other kind."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from shop_clip.hnsw import BINARY, HALFVEC, has_index, index_name
from shop_clip.knn import Restriction, binary_statement, knn_queryset, nearest
from shop_clip.models import EmbeddingSpace, ProductVector
from shop_clip.scan_plan import ScanPlan
from shop_clip.space_index import build_space_index, switch_index_kind
from shop_clip.spaces import active_space

from .conftest import embedded_demo_catalog


def binary_settings(settings, **binary) -> None:
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VECTOR_INDEX": BINARY,
                          "BINARY_INDEX": {**settings.SHOP_CLIP.get("BINARY_INDEX", {}), **binary}}


@pytest.fixture
def binary_store(db, settings):
    binary_settings(settings)
    embedded_demo_catalog(settings, 24, seed=23)
    return active_space()


@pytest.fixture
def halfvec_store(db, settings):
    embedded_demo_catalog(settings, 24, seed=23)
    return active_space()


def vectors(space: EmbeddingSpace) -> tuple[list[int], np.ndarray]:
    rows = ProductVector.objects.filter(space=space, embedding__isnull=False).order_by("product_id")
    return [row.product_id for row in rows], np.array([row.embedding for row in rows], dtype=np.float32)


def index_definition(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


def explain(space: EmbeddingSpace, vector: np.ndarray) -> str:
    with connection.cursor() as cursor:
        # 24 products: the planner would rather scan and sort
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        if space.index_kind == HALFVEC:
            return knn_queryset(vector, space, 10, plan=ScanPlan.INDEX).explain()
        sql, params = binary_statement(vector, space, 10, Restriction(), 400)
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def exact_order(ids: list[int], matrix: np.ndarray, query: np.ndarray) -> list[int]:
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    distances = 1 - unit @ (query / np.linalg.norm(query))
    return [ids[i] for i in np.lexsort((ids, distances))]


def test_a_new_space_gets_a_binary_index_around_the_mean_of_its_vectors(binary_store):
    space = EmbeddingSpace.objects.get(pk=binary_store.pk)
    ids, matrix = vectors(space)
    assert space.index_kind == BINARY and has_index(space.pk, BINARY) and not has_index(space.pk, HALFVEC)
    centre = np.asarray(space.index_centre, dtype=np.float32)
    assert np.allclose(centre, matrix.mean(axis=0), atol=2e-3)  # half precision
    definition = index_definition(index_name(space.pk, BINARY))
    assert "binary_quantize" in definition and "bit_hamming_ops" in definition
    assert "m='8'" in definition.replace(" ", "") and "ef_construction='200'" in definition.replace(" ", "")
    plan = explain(space, matrix[0])
    assert index_name(space.pk, BINARY) in plan and "shop_clip_hnsw_" + space.pk not in plan


def test_binary_search_re_ranks_the_hamming_nearest_by_the_halfvec_distance(binary_store, settings):
    space = binary_store
    ids, matrix = vectors(space)
    centre = np.asarray(EmbeddingSpace.objects.get(pk=space.pk).index_centre, dtype=np.float32)
    bits = (matrix - centre) > 0
    binary_settings(settings, CANDIDATES=8)  # fewer than the 24 products: the sign bits choose
    for query in matrix[:6]:
        found = [row.product_id for row in nearest(query, space, wanted=8, plan=ScanPlan.INDEX)]
        hamming = (bits != ((query - centre) > 0)).sum(axis=1)
        eighth = np.sort(hamming)[7]
        candidates = {ids[i] for i in np.flatnonzero(hamming <= eighth)}
        assert set(found) <= candidates and {ids[i] for i in np.flatnonzero(hamming < eighth)} <= set(found)
        ranked = [pk for pk in exact_order(ids, matrix, query) if pk in set(found)]
        assert found == ranked  # the candidates ordered by the exact distance
    binary_settings(settings, CANDIDATES=400)  # every product a candidate: the exact order
    assert [row.product_id for row in nearest(matrix[3], space, wanted=10)] == exact_order(ids, matrix, matrix[3])[:10]


def test_binary_search_keeps_the_restriction_and_fills_the_page(binary_store, settings):
    from demo_project.catalog.models import Product

    space = binary_store
    ids, matrix = vectors(space)
    binary_settings(settings, CANDIDATES=10)
    cheap = set(Product.objects.filter(price__lte=30).values_list("pk", flat=True))
    assert 5 <= len(cheap) < len(ids)
    banned = ids[:3]
    found = nearest(matrix[0], space, wanted=5, plan=ScanPlan.INDEX,
                    restriction=Restriction({"price__lte": 30}, exclude=tuple(banned)))
    wanted = [pk for pk in exact_order(ids, matrix, matrix[0]) if pk in cheap and pk not in banned]
    # Every candidate passed the filter (the iterative scan went on past the others): a full page.
    assert [row.product_id for row in found] == wanted[:5]


def test_a_product_saved_after_the_build_goes_into_the_binary_index_around_the_same_centre(binary_store, settings):
    from demo_project.catalog.models import Product
    from shop_clip.claim_lanes import process_pending
    from shop_clip.indexing import mark_pending

    space = binary_store
    before = EmbeddingSpace.objects.get(pk=space.pk).index_centre
    product = Product.objects.order_by("pk").first()
    copy = Product.objects.create(title="A copy", category=product.category, price=product.price, image=product.image)
    mark_pending([copy.pk], enqueue=False)
    process_pending()
    row = ProductVector.objects.get(product=copy, space=space)
    assert EmbeddingSpace.objects.get(pk=space.pk).index_centre == before
    found = nearest(np.asarray(row.embedding, dtype=np.float32), space, wanted=2, plan=ScanPlan.INDEX)
    assert {found[0].product_id, found[1].product_id} == {copy.pk, product.pk} and found[0].distance < 1e-3


def test_switching_kinds_keeps_the_answers_and_drops_the_old_index(halfvec_store, settings):
    from shop_clip.checks import check_encoder
    from shop_clip.status import index_status

    space = halfvec_store
    ids, matrix = vectors(space)
    before = [[row.product_id for row in nearest(query, space, wanted=10)] for query in matrix[:5]]
    binary_settings(settings)
    assert [w.id for w in check_encoder(databases=["default"])] == ["shop_clip.W003"]
    # Built beside the halfvec index: search still walks the old one until the space switches.
    assert build_space_index(space, kind=BINARY) and has_index(space.pk, HALFVEC)
    assert EmbeddingSpace.objects.get(pk=space.pk).index_kind == HALFVEC
    assert index_name(space.pk, HALFVEC) in explain(active_space(), matrix[0])
    call_command("shop_clip_index", "--switch-index")
    space = active_space()
    assert space.index_kind == BINARY and not has_index(space.pk, HALFVEC) and has_index(space.pk, BINARY)
    assert index_name(space.pk, BINARY) in explain(space, matrix[0])
    assert [[row.product_id for row in nearest(query, space, wanted=10)] for query in matrix[:5]] == before
    assert check_encoder(databases=["default"]) == []
    assert {(m["index_kind"], m["index"]) for m in index_status()["models"]} == {(BINARY, "valid")}
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VECTOR_INDEX": HALFVEC}
    assert switch_index_kind(space, HALFVEC) and not has_index(space.pk, BINARY) and has_index(space.pk, HALFVEC)
    assert [[row.product_id for row in nearest(query, active_space(), wanted=10)] for query in matrix[:5]] == before


def test_a_worker_holding_the_space_from_before_a_switch_does_not_build_the_old_index_again(halfvec_store, settings):
    from shop_clip.spaces import complete_backfill

    held = EmbeddingSpace.objects.get(pk=halfvec_store.pk)  # as a worker read it before the switch
    binary_settings(settings)
    call_command("shop_clip_index", "--switch-index")
    assert held.index_kind == HALFVEC and not has_index(held.pk, HALFVEC)
    complete_backfill(held)  # its claims drained: it checks the space's index
    assert not has_index(held.pk, HALFVEC) and has_index(held.pk, BINARY) and held.index_kind == BINARY


def test_a_space_still_being_written_only_records_the_kind_its_bulk_build_takes(db, settings):
    from shop_clip.spaces import configured_space

    space = configured_space()
    assert space.index_kind == HALFVEC and not has_index(space.pk, HALFVEC)
    assert switch_index_kind(space, BINARY)
    assert EmbeddingSpace.objects.get(pk=space.pk).index_kind == BINARY and not has_index(space.pk, BINARY)


def test_the_search_api_answers_from_a_binary_space(binary_store):
    from django.test import Client

    body = Client().get("/api/shop-clip/search/", {"q": "red mug", "limit": 5, "mode": "vector"}).json()
    assert body["model"] == binary_store.model_id and len(body["results"]) == 5


def test_an_unknown_index_kind_or_candidate_count_is_a_configuration_error(settings):
    from shop_clip.checks import check_vector_index

    assert check_vector_index() == []
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VECTOR_INDEX": "int8"}
    errors = check_vector_index()
    assert [e.id for e in errors] == ["shop_clip.E009"] and "'int8'" in errors[0].msg
    binary_settings(settings, CANDIDATES=0)
    assert [e.id for e in check_vector_index()] == ["shop_clip.E009"]


def test_a_binary_space_searches_more_filters_exactly(binary_store, settings):
    from demo_project.catalog.models import Product
    from shop_clip.scan_plan import plan_for

    space = binary_store
    cheap = Restriction({"price__lte": 30})
    matching = Product.objects.filter(price__lte=30).count()
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "EXACT_SEARCH_MIN_ROWS": matching + 1,
                          "EXACT_SEARCH_MAX_ROWS": matching - 1}
    binary_settings(settings, EXACT_SEARCH_MAX_ROWS=matching)
    halfvec_space = EmbeddingSpace(model_id=space.model_id, dim=space.dim, index_kind=HALFVEC)
    # The same filter: the index for a halfvec space (more matches than it searches exactly), exact for a binary one.
    assert plan_for(cheap, halfvec_space) is ScanPlan.INDEX and plan_for(cheap, space) is ScanPlan.EXACT
    binary_settings(settings, EXACT_SEARCH_MAX_ROWS=matching - 1)
    assert plan_for(cheap, space) is ScanPlan.INDEX
