"""Shared fixtures: real PostgreSQL+pgvector, a real Redis broker and real Celery workers."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def worker_env(**extra: str) -> dict[str, str]:
    """The environment a worker needs to see the test database and broker."""
    from django.db import connection

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"],
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        SHOP_CLIP_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        SHOP_CLIP_MODEL=str(settings.SHOP_CLIP["ENCODER"]["MODEL"]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Worker:
    """A real ``celery worker`` process consuming one queue."""

    def __init__(self, queue: str, log: Path, concurrency: int = 1, **env: str) -> None:
        self.queue, self.log_path, self.concurrency = queue, log, concurrency
        self.env = worker_env(**{"SHOP_CLIP_QUEUE": queue, **env})
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "demo_project", "worker", "-Q", self.queue,
             "-c", str(self.concurrency), "--pool", "prefork", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO", "-n", f"{self.queue}@%h"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def wait_idle(self, timeout: float = 60) -> None:
        """Until nothing waits in this worker's queue and it runs or holds no task (asked twice)."""
        from demo_project.celery import app

        node = f"{self.queue}@{socket.gethostname()}"

        def idle() -> bool:
            with app.connection_for_write() as conn:
                if conn.default_channel.client.llen(self.queue):
                    return False
            inspect = app.control.inspect(destination=[node], timeout=2, limit=1)
            return (inspect.active() or {}).get(node) == [] and (inspect.reserved() or {}).get(node) == []

        wait_until(lambda: idle() and idle(), timeout, f"{node} to be idle")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool children)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def purge(queue: str) -> None:
    from demo_project.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(queue)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One worker for the whole session on the default queue."""
    queue = settings.SHOP_CLIP["QUEUE"]
    purge(queue)
    worker = Worker(queue, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _plans_forgotten():
    """Each test counts its own filters: a plan remembered from an earlier test's products (rolled
    back or flushed since) would choose its scan for rows that are gone."""
    from shop_clip.scan_plan import forget_plans

    forget_plans()
    yield


@pytest.fixture(autouse=True)
def _session_worker_idle_before_flush(request):
    """A test that used the session's worker ends once the worker is idle: a task still running
    (tagging what was just embedded, a space's activation) when the test database is flushed can
    deadlock with the flush's TRUNCATE, and the next test then finds the rows it left."""
    if "celery_worker" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down after this
    worker = request.getfixturevalue("celery_worker")
    yield
    worker.wait_idle()


def wait_until(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_indexing(timeout: float = 120) -> None:
    from shop_clip.models import ProductVector

    wait_until(lambda: not ProductVector.objects.filter(status="pending").exists(), timeout, "no pending rows")


def embedded_demo_catalog(settings, size: int, seed: int) -> list[int]:
    """``size`` demo products embedded here and now: no task sent, no worker involved."""
    from demo_project.catalog.loading import load_demo_catalog
    from shop_clip.claim_lanes import process_pending

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    ids = load_demo_catalog(size, seed=seed, progress=False, enqueue=False)
    process_pending()
    return ids


@contextlib.contextmanager
def committed_demo_catalog(django_db_blocker, size: int, seed: int, then=None):
    """A demo catalog of ``size`` products, committed and embedded, deleted afterwards; ``then()``
    runs after embedding, still unblocked.  For module fixtures, which no test transaction wraps."""
    from django.core.cache import caches
    from django.db import connection

    from demo_project.catalog.loading import load_demo_catalog
    from demo_project.catalog.models import Category, Product
    from shop_clip.claim_lanes import process_pending
    from shop_clip.models import EmbeddingSpace, ProductVector

    with django_db_blocker.unblock():
        # Without a test asking for `db`, pytest-django may still be on the real database.
        assert connection.settings_dict["NAME"].startswith("test_"), "not on a test database"
        caches["default"].clear()  # no cached answer about another module's products
        ids = load_demo_catalog(size, seed=seed, progress=False, enqueue=False)
        process_pending()
        assert ProductVector.objects.filter(status="embedded").count() == size
        if then is not None:
            then()
    try:
        yield ids
    finally:
        with django_db_blocker.unblock():
            Product.objects.all().delete()
            Category.objects.all().delete()
            EmbeddingSpace.objects.all().delete()


def noisy_jpeg(seed: int, size: int | tuple[int, int] = 900) -> bytes:
    """A JPEG of random pixels (slow to decode, nothing to compress), square or (width, height)."""
    width, height = (size, size) if isinstance(size, int) else size
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def png_bytes(colour=(200, 30, 30), size=(96, 96), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def category(db):
    from demo_project.catalog.models import Category

    return Category.objects.get_or_create(slug="t-shirt", defaults={"name": "T-shirt"})[0]


@pytest.fixture
def make_product(category):
    """Create a demo-store product with an image (bytes or a colour)."""
    from demo_project.catalog.models import Product

    def make(title="Red T-shirt", image: bytes | None = None, colour=(200, 30, 30), **fields):
        product = Product(title=title, category=fields.pop("category", category),
                          price=fields.pop("price", Decimal("19.99")), **fields)
        data = image if image is not None else png_bytes(colour)
        product.image.save(f"{title.replace(' ', '-').lower()}.png", ContentFile(data), save=False)
        product.save()
        return product

    return make
