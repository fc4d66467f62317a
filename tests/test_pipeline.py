"""Save -> real broker -> real worker -> vectors in pgvector, and every way that can go wrong."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import transaction

from shop_clip.claim_lanes import process_pending
from shop_clip.claim_reading import reader_pool_size
from shop_clip.claims import index_batch
from shop_clip.marking import mark_pending
from shop_clip.models import ProductVector
from shop_clip.spaces import configured_space

from .conftest import png_bytes, purge, wait_for_indexing, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_save_is_embedded_by_the_worker(celery_worker, make_product):
    product = make_product("Red T-shirt")
    row = ProductVector.objects.get(product=product)
    assert row.status == "pending"
    wait_for_indexing()
    row.refresh_from_db()
    assert row.status == "embedded"
    assert row.dim == configured_space().dim == len(row.embedding)
    assert np.isclose(np.linalg.norm(np.asarray(row.embedding)), 1.0, atol=1e-2)
    assert len(row.content_hash) == 64


def test_changed_image_is_embedded_again_unchanged_is_not(celery_worker, make_product):
    product = make_product("Blue T-shirt", colour=(20, 40, 220))
    wait_for_indexing()
    before = ProductVector.objects.get(product=product)

    product.price = 5
    product.save()  # same image: the worker re-reads it, sees the same hash, keeps the vector
    wait_for_indexing()
    same = ProductVector.objects.get(product=product)
    assert same.status == "embedded" and same.content_hash == before.content_hash
    assert np.array_equal(np.asarray(same.embedding), np.asarray(before.embedding))

    product.image.save("green.png", ContentFile(png_bytes((20, 200, 40))), save=True)
    wait_for_indexing()
    changed = ProductVector.objects.get(product=product)
    assert changed.content_hash != before.content_hash
    assert not np.array_equal(np.asarray(changed.embedding), np.asarray(before.embedding))


def test_unchanged_image_skips_the_encoder(make_product, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    product = make_product("Grey T-shirt", colour=(128, 128, 128))
    space = configured_space()
    first = index_batch(space)
    assert first.embedded == 1
    # The pipeline's clocks saw each phase of an embedded image (bench/indexing.py reports them).
    assert all(first.seconds[phase] > 0 for phase in ("claim", "model", "write", "decode", "preprocess"))
    mark_pending([product.pk], enqueue=False)
    result = index_batch(space)
    assert (result.embedded, result.unchanged) == (0, 1)
    assert result.seconds["decode"] > 0 and result.seconds["model"] == 0  # read and hashed, never encoded


def test_the_inline_command_says_how_fast_and_where_the_time_went(make_product, settings):
    import re
    from io import StringIO

    from django.core.management import call_command

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    for n in range(3):
        make_product(f"Shirt {n}", colour=(60 * n, 90, 200 - 40 * n))
    out = StringIO()
    call_command("shop_clip_index", "--inline", stdout=out)
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith("embedded 3, unchanged 0, failed 0")
    found = re.search(r"in [0-9.]+ s \((\d+) images/s\): claiming (\d+)%, waiting for readers (\d+)%, "
                      r"model (\d+)%, writing (\d+)%", line)
    assert found, line
    rate, *shares = map(int, found.groups())
    assert rate > 0 and 98 <= sum(shares) <= 102 and int(found.group(4)) > 0  # the model ran


def test_two_claims_in_flight_index_every_row_once_with_the_same_vectors(make_product, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False, "CLAIM_BATCH_SIZE": 4}
    products = [make_product(f"Shirt {n}", colour=(10 * n, 200 - 7 * n, 90)) for n in range(18)]
    corrupt = make_product("Corrupt T-shirt", image=b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    result, more = process_pending()  # one claim at a time: the reference
    assert (result.embedded, result.failed, more) == (18, 1, False)
    reference = {row.product_id: np.asarray(row.embedding) for row in ProductVector.objects.filter(status="embedded")}

    ProductVector.objects.update(status="pending", content_hash="", embedding=None, attempts=0, error="")
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "CLAIMS_IN_FLIGHT": 2, "READER_THREADS": 2}
    assert process_pending(max_batches=2)[0].claimed <= 8  # the batch budget holds across lanes
    assert reader_pool_size() == 2  # the reader pool follows the setting
    seen = []
    result, more = process_pending(on_batch=lambda batch: seen.append(batch.claimed))
    assert not more and max(seen) <= 4
    rows = {row.product_id: row for row in ProductVector.objects.all()}
    assert rows[corrupt.pk].status == "failed" and rows[corrupt.pk].attempts == 1
    # Each product got its own vector back.  Not bit for bit: which rows share an encoder batch
    # depends on the lanes' timing, and a batch of 3 can round differently from a batch of 4.
    ids = list(reference)
    matrix = np.stack([reference[pid] for pid in ids])
    for product in products:
        assert rows[product.pk].status == "embedded"
        vector = np.asarray(rows[product.pk].embedding)
        assert np.allclose(vector, reference[product.pk], atol=2e-3)
        assert ids[int(np.argmax(matrix @ vector))] == product.pk


def test_rolled_back_transaction_enqueues_nothing(make_product, settings):
    from demo_project.celery import app

    queue = "shop_clip_probe"
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "QUEUE": queue}
    purge(queue)
    client = app.connection_for_write().default_channel.client

    with pytest.raises(RuntimeError), transaction.atomic():
        make_product("Doomed T-shirt")
        make_product("Doomed T-shirt 2")
        raise RuntimeError("roll back")
    assert client.llen(queue) == 0
    assert not ProductVector.objects.exists()

    with transaction.atomic():
        make_product("Kept T-shirt")
        make_product("Kept T-shirt 2")
        assert client.llen(queue) == 0  # not before commit
    assert client.llen(queue) == 1  # one message for the whole transaction
    purge(queue)


def test_bad_image_fails_only_its_own_row(celery_worker, make_product):
    good = make_product("Good T-shirt")
    corrupt = make_product("Corrupt T-shirt", image=b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    truncated = make_product("Truncated T-shirt", image=png_bytes(size=(400, 400))[:300])
    wait_for_indexing()
    rows = {row.product_id: row for row in ProductVector.objects.all()}
    assert rows[good.pk].status == "embedded"
    for product in (corrupt, truncated):
        assert rows[product.pk].status == "failed"
        assert "corrupt" in rows[product.pk].error or "not an image" in rows[product.pk].error
        assert rows[product.pk].embedding is None


def test_missing_file_is_reported(celery_worker, make_product):
    product = make_product("Vanished T-shirt")
    wait_for_indexing()
    product.image.storage.delete(product.image.name)
    product.save()
    wait_for_indexing()
    row = ProductVector.objects.get(product=product)
    assert row.status == "failed" and "missing" in row.error


def test_deleting_a_product_removes_its_vectors(celery_worker, make_product):
    product = make_product("Short-lived T-shirt")
    wait_for_indexing()
    assert ProductVector.objects.filter(product=product).exists()
    product.delete()
    assert not ProductVector.objects.exists()


def test_removed_image_removes_its_vector(celery_worker, make_product):
    product = make_product("Imageless T-shirt")
    wait_for_indexing()
    product.image = None
    product.save()
    assert not ProductVector.objects.filter(product=product).exists()


def test_broker_down_loses_nothing(celery_worker, make_product, caplog):
    from django.core.management import call_command

    from demo_project.celery import app

    good_url = app.conf.broker_write_url
    app.conf.broker_write_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app._after_fork()  # Celery's own reset of its connection and producer pools
    try:
        with caplog.at_level(logging.WARNING, logger="shop_clip.broker"):
            product = make_product("Offline T-shirt")
        assert "could not reach the Celery broker" in caplog.text
    finally:
        app.conf.broker_write_url = good_url
        app._after_fork()
    row = ProductVector.objects.get(product=product)
    assert row.status == "pending"  # saved, waiting, not lost

    call_command("shop_clip_index", "--wait", "--timeout", "120")  # enqueues the pending rows again
    row.refresh_from_db()
    assert row.status == "embedded"


def test_bulk_import_is_indexed(celery_worker, category):
    from django.core.management import call_command

    from demo_project.catalog.models import Product

    products = []
    for i in range(5):
        product = Product(title=f"Bulk {i}", category=category, price=10)
        product.image.save(f"bulk-{i}.png", ContentFile(png_bytes((i * 40, 80, 120))), save=False)
        products.append(product)
    Product.objects.bulk_create(products)  # no signals: the import must mark them
    assert not ProductVector.objects.exists()
    call_command("shop_clip_index", "--missing", "--wait", "--timeout", "120")
    assert ProductVector.objects.filter(status="embedded").count() == 5


def test_a_backlog_is_shared_by_every_worker_child(settings, category, tmp_path):
    """One task for a bulk import; with INDEXING_TASKS=2 it sends a helper, and both children of a
    `-c 2` worker embed a share."""
    import re

    from demo_project.catalog.models import Product

    from .conftest import Worker, noisy_jpeg

    queue = "shop_clip_fan_out"
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "QUEUE": queue}
    purge(queue)
    log_path = tmp_path / "worker.log"
    worker = Worker(queue, log_path, concurrency=2, SHOP_CLIP_CLAIM_BATCH_SIZE="2",
                    SHOP_CLIP_INDEXING_TASKS="2", SHOP_CLIP_TAGGING="0").start()
    try:
        # The task a worker sends itself at start finds nothing: only the import's task remains.
        # Both children load the model as they start: neither is late to the backlog.
        wait_until(lambda: "succeeded" in log_path.read_text() and log_path.read_text().count("] loaded ") == 2,
                   90, "the worker's start-up task and both children's models")
        products = []
        images = [noisy_jpeg(i, size=600) for i in range(4)]  # slow enough to decode that both get a share
        for i in range(48):
            product = Product(title=f"Backlog {i}", category=category, price=10)
            product.image.save(f"backlog-{i}.jpg", ContentFile(images[i % 4]), save=False)
            products.append(product)
        with transaction.atomic():
            mark_pending([p.pk for p in Product.objects.bulk_create(products)])  # one task, after commit
        wait_for_indexing()
    finally:
        worker.stop()
    assert ProductVector.objects.filter(status="embedded").count() == 48
    log = log_path.read_text()
    assert "rows pending: sent 1 helper tasks" in log, log[-3000:]
    # On a CPU the children split the cores between their models rather than each taking all.
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert log.count(f"2 worker children share {os.cpu_count()} cores: {threads} torch threads each") >= 2
    # Each child's own claims, as it logs them (a helper still running at the worker's stop never logs "succeeded").
    done = re.findall(r"/(ForkPoolWorker-\d+)\] indexed batch of \d+ rows for .*?: (\d+) embedded", log)
    children = {child for child, embedded in done if int(embedded)}
    assert len(children) == 2, log[-3000:]


def test_a_store_worker_on_other_queues_loads_no_model(tmp_path):
    """shop-clip's tasks module is imported by every worker of the store; only those consuming
    shop-clip's queue load the model as they start."""
    from .conftest import Worker

    log_path = tmp_path / "worker.log"
    worker = Worker("store_emails", log_path, SHOP_CLIP_QUEUE="shop_clip_elsewhere").start()
    try:
        # The child's start-up decision itself, logged as it starts.
        wait_until(lambda: "does not consume shop-clip's queue 'shop_clip_elsewhere': no model is loaded"
                   in log_path.read_text(), 60, "the worker child's start")
    finally:
        worker.stop()
    log = log_path.read_text()
    assert "ready." in log
    assert "loading the model" not in log and "] loaded " not in log


@pytest.mark.parametrize(("pending", "tasks", "helpers"), [(5, 3, 2), (9, 3, 2), (4, 3, 1), (2, 3, 0), (9, 1, 0)])
def test_helpers_one_for_each_further_claim_up_to_indexing_tasks(settings, make_product, pending, tasks, helpers):
    """Claims of 2 rows: a task sends a helper for each claim's worth beyond its own, never more
    than INDEXING_TASKS - 1, onto the real broker."""
    from demo_project.celery import app
    from shop_clip.tasks import send_helpers

    queue = "shop_clip_helpers"
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "QUEUE": queue, "ENQUEUE_ON_SAVE": False,
                          "CLAIM_BATCH_SIZE": 2, "INDEXING_TASKS": tasks}
    purge(queue)
    for i in range(pending):
        make_product(f"Pending {i}")
    assert ProductVector.objects.filter(status="pending").count() == pending
    try:
        assert send_helpers() == helpers
        with app.connection_for_write() as conn:
            assert conn.default_channel.client.llen(queue) == helpers
    finally:
        purge(queue)
