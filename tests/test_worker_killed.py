"""A worker SIGKILLed mid-batch loses nothing: its claimed rows come back and finish."""

from __future__ import annotations

import time

import pytest
from django.core.files.base import ContentFile

from shop_clip.models import ProductVector

from .conftest import Worker, noisy_jpeg, purge, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

QUEUE = "shop_clip_kill"


def test_killed_worker_rows_complete_after_restart(settings, category, tmp_path):
    from demo_project.catalog.models import Product

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "QUEUE": QUEUE}
    purge(QUEUE)
    images = [noisy_jpeg(i) for i in range(8)]
    for i in range(160):
        product = Product(title=f"Noisy {i}", category=category, price=10)
        product.image.save(f"noisy-{i}.jpg", ContentFile(images[i % 8]), save=False)
        product.save()
    total = ProductVector.objects.count()
    assert total == 160

    # Small claims keep each batch short, so the kill lands between and inside batches.
    worker = Worker(QUEUE, tmp_path / "first.log", SHOP_CLIP_CLAIM_BATCH_SIZE="4").start()
    try:
        wait_until(lambda: ProductVector.objects.filter(status="embedded").count() >= 8, 120, "first batches")
        worker.kill()
    finally:
        worker.stop()
    done_at_kill = ProductVector.objects.filter(status="embedded").count()
    assert done_at_kill < total, "the worker finished before it was killed: make the batch slower"
    # The killed worker's open transaction was rolled back: no row is stuck claimed or lost.
    time.sleep(0.5)
    assert ProductVector.objects.filter(status="pending").count() == total - done_at_kill

    # A new worker resumes on start (worker_ready), without any new message being sent.
    purge(QUEUE)
    restarted = Worker(QUEUE, tmp_path / "second.log").start()
    try:
        wait_until(lambda: not ProductVector.objects.filter(status="pending").exists(), 180, "restart to finish")
    finally:
        restarted.stop()
    assert ProductVector.objects.filter(status="embedded").count() == total
    assert not ProductVector.objects.filter(embedding__isnull=True).exists()


def test_database_connection_lost_mid_batch_is_retried_and_loses_nothing(settings, category, tmp_path):
    """PostgreSQL ends the worker's sessions (as in a restart or failover) while it indexes."""
    from django.db import connection

    from demo_project.catalog.models import Product

    queue = "shop_clip_db_lost"
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "QUEUE": queue}
    purge(queue)
    images = [noisy_jpeg(100 + i) for i in range(8)]
    for i in range(240):
        product = Product(title=f"Noisy {i}", category=category, price=10)
        product.image.save(f"lost-{i}.jpg", ContentFile(images[i % 8]), save=False)
        product.save()
    total = ProductVector.objects.count()

    def end_other_sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                           "AND backend_type = 'client backend'")
            return cursor.fetchone()[0]

    worker = Worker(queue, tmp_path / "worker.log", SHOP_CLIP_CLAIM_BATCH_SIZE="4").start()
    try:
        wait_until(lambda: ProductVector.objects.filter(status="embedded").count() >= 4, 120, "first batches")
        done_before_cuts = ProductVector.objects.filter(status="embedded").count()
        ended = end_other_sessions()
        for _ in range(2):  # again: inside a batch, between batches, during a retry
            time.sleep(0.5)
            ended += end_other_sessions()
        assert ended >= 1, "the worker held no database session to end"
        assert done_before_cuts < total, "the worker finished before the cuts: give it more rows"
        wait_until(lambda: not ProductVector.objects.filter(status="pending").exists(), 240, "retries to finish")
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    # The task failed on the lost connection and was retried (with backoff), not dropped.
    assert "retry: Retry in" in log and "OperationalError" in log, log[-3000:]
    assert ProductVector.objects.filter(status="embedded").count() == total
    assert not ProductVector.objects.filter(embedding__isnull=True).exists()
