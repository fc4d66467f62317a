"""One HNSW index per embedding space: a new space is written with no index, built in bulk once
drained, activated only then; the migration from the per-dimension index; interrupted builds."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
import pytest
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from shop_clip.claim_lanes import process_pending
from shop_clip.hnsw import (
    build_index,
    dimension_index_name,
    has_index,
    has_products_index,
    index_name,
    index_state,
    products_index_name,
)
from shop_clip.models import EmbeddingSpace, ProductVector
from shop_clip.spaces import active_space, configured_space

from .conftest import embedded_demo_catalog


@pytest.fixture
def indexed_store(db, settings):
    return embedded_demo_catalog(settings, 24, seed=11)


def second_space(settings) -> EmbeddingSpace:
    """The same model under another id: a space of the same dimension beside the active one."""
    settings.SHOP_CLIP = {**settings.SHOP_CLIP,
                          "ENCODER": {**settings.SHOP_CLIP["ENCODER"], "MODEL_ID": "shop-clip-mini-second"}}
    return configured_space()


def explain_search(space: EmbeddingSpace) -> str:
    from shop_clip.knn import knn_queryset
    from shop_clip.scan_plan import ScanPlan

    row = ProductVector.objects.filter(space=space, embedding__isnull=False).first()
    vector = np.asarray(row.embedding, dtype=np.float32)
    with connection.cursor() as cursor:
        # 24 products: the planner would rather scan and sort
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")
        return knn_queryset(vector, space, 10, plan=ScanPlan.INDEX).explain()


def test_the_first_space_gets_its_own_index_once_drained(indexed_store):
    space = active_space()
    assert has_index(space.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name(space.pk)])
        definition = cursor.fetchone()[0]
    assert "USING hnsw" in definition and f"model_id)::text = '{space.pk}'" in definition
    assert index_name(space.pk) in explain_search(space)


def test_a_new_space_is_written_without_an_index_then_built_in_bulk_and_only_then_activated(indexed_store, settings):
    from django.core.management import call_command

    old = active_space()
    new = second_space(settings)
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "CLAIM_BATCH_SIZE": 8}
    call_command("shop_clip_index", "--all")  # both spaces: the active one's rows come back unchanged
    process_pending(max_batches=3)
    assert not ProductVector.objects.filter(space=old, status="pending").exists()
    process_pending(max_batches=1)
    # Rows written but the backlog not drained: no index yet, and shoppers still read the old space.
    assert ProductVector.objects.filter(space=new, status="embedded").count() == 8
    assert not has_index(new.pk) and active_space().pk == old.pk
    process_pending(max_batches=2)  # the budget ends at the last row: that claim still completes it
    assert not ProductVector.objects.filter(space=new, status="pending").exists()
    assert has_index(new.pk) and active_space().pk == new.pk
    # Each space's searches walk its own graph only.
    assert index_name(new.pk) in explain_search(new) and index_name(old.pk) not in explain_search(new)
    assert index_name(old.pk) in explain_search(old)
    body = Client().get("/api/shop-clip/search/", {"q": "red mug", "limit": 5}).json()
    assert body["model"] == new.model_id and len(body["results"]) == 5


def test_a_complete_space_is_not_activated_while_its_index_is_missing(indexed_store, settings):
    from django.core.management import call_command

    from shop_clip.spaces import activate_if_complete

    old = active_space()
    new = second_space(settings)
    call_command("shop_clip_index", "--all")
    process_pending()
    EmbeddingSpace.objects.filter(pk=new.pk).update(activated_at=None)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {index_name(new.pk)}")
    assert active_space().pk == old.pk and not activate_if_complete(new)
    assert build_index(new.pk, new.dim) and activate_if_complete(new) and active_space().pk == new.pk


def test_an_interrupted_build_is_dropped_and_built_again(indexed_store):
    space = active_space()
    with connection.cursor() as cursor:  # as a CREATE INDEX CONCURRENTLY killed midway leaves it
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                       [index_name(space.pk)])
    assert index_state(space.pk) == "invalid" and not has_index(space.pk)
    assert not ProductVector.objects.filter(status="pending").exists()
    process_pending()  # the next task a worker runs, with nothing pending, builds it again
    assert index_state(space.pk) == "valid"


def test_a_products_index_whose_build_was_killed_is_warned_about_then_built_again(indexed_store):
    from django.core.checks import run_checks

    space = active_space()
    with connection.cursor() as cursor:  # killed after the HNSW build, before its own finished
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                       [products_index_name(space.pk)])
    assert has_index(space.pk) and not has_products_index(space.pk)
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "shop_clip.W004"]
    assert len(warnings) == 1 and space.model_id in warnings[0].msg
    process_pending()  # the next task a worker runs, with nothing pending, builds it again
    assert has_products_index(space.pk)
    assert "shop_clip.W004" not in {m.id for m in run_checks(databases=["default"])}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outer_transaction", [False, True], ids=["autocommit", "in a transaction, as the admin's"])
def test_deleting_a_space_drops_its_index(outer_transaction):
    space = EmbeddingSpace.objects.create(model_id="deleted-space", model_ref="x", dim=512)
    assert build_index(space.pk, space.dim) and has_index(space.pk) and _index_exists(products_index_name(space.pk))
    with transaction.atomic() if outer_transaction else nullcontext():
        space.delete()
    assert index_state("deleted-space") is None and not _index_exists(products_index_name("deleted-space"))


@pytest.mark.django_db(transaction=True)
def test_one_builder_per_space_and_the_session_keeps_its_settings(settings):
    space = EmbeddingSpace.objects.create(model_id="lock-test", model_ref="x", dim=512)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [0x5C1F, space.pk])
        assert not build_index(space.pk, space.dim)  # another builder holds the space
        assert index_state(space.pk) is None
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [0x5C1F, space.pk])
        with connection.cursor() as cursor:
            cursor.execute("SHOW maintenance_work_mem")
            before = cursor.fetchone()[0]
        settings.SHOP_CLIP = {**settings.SHOP_CLIP, "HNSW_BUILD_MEMORY": "77MB"}
        assert build_index(space.pk, space.dim) and has_index(space.pk)
        with connection.cursor() as cursor:
            cursor.execute("SHOW maintenance_work_mem")
            assert cursor.fetchone()[0] == before
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(space.pk)}")
            cursor.execute(f"DROP INDEX IF EXISTS {products_index_name(space.pk)}")


@contextmanager
def an_older_store(space_id: str, before: str):
    """A space holding one pending row and a space never written, migrated back to ``before``:
    ``(space, empty, forward)``, ``forward()`` migrating to the last migration.  Left migrated
    forward, without the space's indexes."""
    from demo_project.catalog.models import Category, Product

    space = EmbeddingSpace.objects.create(model_id=space_id, model_ref="x", dim=512)
    empty = EmbeddingSpace.objects.create(model_id="never-written", model_ref="y", dim=512)
    product = Product.objects.create(title="Old store's mug", category=Category.objects.create(slug="m", name="M"),
                                     price=5)
    ProductVector.objects.create(product=product, image_key="a", space=space, dim=512, status="pending")

    def forward() -> None:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    try:
        MigrationExecutor(connection).migrate([("shop_clip", before)])
        yield space, empty, forward
    finally:
        forward()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(space.pk)}")
            cursor.execute(f"DROP INDEX IF EXISTS {products_index_name(space.pk)}")


@pytest.mark.django_db(transaction=True)
def test_the_migration_replaces_the_dimension_index_with_one_per_space():
    with an_older_store("migrated", "0005_embeddingspace_backend") as (space, empty, forward):
        assert index_state(space.pk) is None and _index_exists(dimension_index_name(512))
        forward()
        assert has_index(space.pk) and index_state(empty.pk) is None
        assert not _index_exists(dimension_index_name(512))


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_space_with_vectors_its_products_index_then_drops_the_shared_one():
    with an_older_store("migrated-products", "0008_embeddingspace_index_kind") as (space, empty, forward):
        assert _index_exists("shop_clip_vector_product_space") and not _index_exists(products_index_name(space.pk))
        forward()
        assert _index_exists(products_index_name(space.pk)) and not _index_exists(products_index_name(empty.pk))
        assert not _index_exists("shop_clip_vector_product_space")


def _index_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        return cursor.fetchone() is not None


def test_a_retired_space_is_never_built_or_activated_again(indexed_store, settings):
    from django.core.management import call_command

    old = active_space()
    new = second_space(settings)
    call_command("shop_clip_index", "--all")
    process_pending()
    assert active_space().pk == new.pk
    with connection.cursor() as cursor:  # its graph dropped to save memory, the space kept for a rollback
        cursor.execute(f"DROP INDEX {index_name(old.pk)}")
    process_pending()
    assert index_state(old.pk) is None and active_space().pk == new.pk


def explain_exact(space: EmbeddingSpace) -> str:
    from shop_clip.knn import Restriction, knn_queryset
    from shop_clip.scan_plan import ScanPlan

    row = ProductVector.objects.filter(space=space, embedding__isnull=False).first()
    vector = np.asarray(row.embedding, dtype=np.float32)
    with connection.cursor() as cursor:
        # Statistics of the rows just written, as a store's autovacuum keeps them: without, the
        # planner may walk another index of the table and filter every row of the space.
        cursor.execute("ANALYZE shop_clip_productvector")
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        return knn_queryset(vector, space, 10, Restriction({"in_stock": True}), plan=ScanPlan.EXACT).explain()


def test_exact_search_reads_a_spaces_rows_by_its_own_products_index(indexed_store, settings):
    """Beside a second space (a model being switched to) an index of every space's rows holds the
    other's entries between each product's: each space's own B-tree, built with its HNSW index."""
    from django.core.management import call_command

    old = active_space()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [products_index_name(old.pk)])
        (definition,) = cursor.fetchone()
    assert definition.endswith(f"(product_id) WHERE ((model_id)::text = '{old.pk}'::text)")
    new = second_space(settings)
    call_command("shop_clip_index", "--all")
    process_pending()
    assert active_space().pk == new.pk and _index_exists(products_index_name(new.pk))
    for space, other in ((new, old), (old, new)):
        plan = explain_exact(space)
        assert products_index_name(space.pk) in plan and products_index_name(other.pk) not in plan, plan
