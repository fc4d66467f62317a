"""A bounded load smoke test on loopback: shoppers search by text and by photo while the real
Celery worker indexes a batch of new products.  No answer is an error, no product is lost, and
every page of results is consistent."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

import pytest

from shop_clip.models import ProductVector

from .conftest import committed_demo_catalog, noisy_jpeg, wait_for_indexing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SEED_PRODUCTS = 30
NEW_BATCHES, BATCH_SIZE = 4, 10
# Each shopper sends at least MIN_REQUESTS, and goes on until the new products are indexed (so the
# traffic spans the indexing whatever the machine's speed), at most MAX_REQUESTS.
THREADS, MIN_REQUESTS, MAX_REQUESTS = 2, 40, 250
TIME_LIMIT = 40  # seconds for the whole traffic phase
QUERIES = ["red striped t-shirt", "blue shoes", "wool scarf", "a lamp for the desk", "green checked dress"]


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def ask(request: urllib.request.Request) -> tuple[int, dict | str]:
    """(status, JSON body) of one request; (0, the error) when no HTTP answer came."""
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:300].decode(errors="replace")
    except (OSError, ValueError) as error:
        return 0, repr(error)


def shopper(base: str, number: int, photo: bytes, indexed: threading.Event, deadline: float, answers: list) -> None:
    """Text searches, every fourth one a photo search, until ``indexed`` is set (and at least
    MIN_REQUESTS are sent) or time is up."""
    for n in range(MAX_REQUESTS):
        if indexed.is_set() and n >= MIN_REQUESTS:
            return
        if time.monotonic() > deadline:
            answers.append(("out of time", 0, f"shopper {number} sent {n} requests", time.monotonic()))
            return
        if n % 4 == 3:
            body, content_type = multipart("image", "photo.jpg", photo)
            request = urllib.request.Request(f"{base}/search/image/?limit=10", data=body, method="POST",
                                             headers={"Content-Type": content_type})
            kind = "image"
        else:
            query = QUERIES[(n + number) % len(QUERIES)]
            request = urllib.request.Request(f"{base}/search/?{urlencode({'q': query, 'limit': 10, 'mode': 'vector'})}")
            kind = "text"
        status, body = ask(request)
        answers.append((kind, status, body, time.monotonic()))


@pytest.fixture
def store(celery_worker, django_db_blocker):
    """The store's existing catalog, embedded before the shoppers arrive."""
    with committed_demo_catalog(django_db_blocker, SEED_PRODUCTS, seed=41) as ids:
        yield ids


def test_search_answers_while_the_worker_indexes_new_products(store, live_server):
    from demo_project.catalog.loading import load_demo_catalog
    from demo_project.catalog.models import Product

    seeded = store
    port = live_server.thread.port
    base = f"http://127.0.0.1:{port}/api/shop-clip"  # loopback only
    answers: list = []
    indexed = threading.Event()
    deadline = time.monotonic() + TIME_LIMIT
    shoppers = [threading.Thread(target=shopper, args=(base, n, noisy_jpeg(n, 96), indexed, deadline, answers))
                for n in range(THREADS)]
    for thread in shoppers:
        thread.start()
    created, started = [], time.monotonic()
    try:
        for batch in range(NEW_BATCHES):  # committed and enqueued: the worker embeds them as they come
            created += load_demo_catalog(BATCH_SIZE, seed=100 + batch, progress=False, enqueue=True)
            time.sleep(0.5)
        wait_for_indexing(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        indexed.set()
        finished = time.monotonic()
        for thread in shoppers:
            thread.join(max(0.0, deadline - time.monotonic()) + 25)
    assert not any(thread.is_alive() for thread in shoppers), "a shopper is still waiting for an answer"

    errors = [(kind, status, body) for kind, status, body, _ in answers if status != 200]
    assert not errors, errors[:5]
    assert THREADS * MIN_REQUESTS <= len(answers) <= THREADS * MAX_REQUESTS
    assert sum(started <= at <= finished for *_, at in answers) >= THREADS, "no request while the worker indexed"
    known = set(Product.objects.values_list("pk", flat=True))
    for kind, _, body, _ in answers:
        ids = [hit["product"]["id"] for hit in body["results"]]
        scores = [hit["score"] for hit in body["results"]]
        assert body["count"] == len(ids) == 10 and len(set(ids)) == len(ids), (kind, ids)
        assert set(ids) <= known, (kind, set(ids) - known)
        assert scores == sorted(scores, reverse=True), (kind, scores)

    everything = seeded + created
    statuses = dict(ProductVector.objects.filter(product_id__in=everything).values_list("product_id", "status"))
    assert {pk for pk in everything if statuses.get(pk) != "embedded"} == set(), statuses
    status, body = ask(urllib.request.Request(f"{base}/status/"))
    assert status == 200 and (body["total"], body["embedded"], body["pending"], body["failed"]) == (
        len(everything), len(everything), 0, 0), body
    # A product indexed during the run is found by its own photo.
    newest = Product.objects.get(pk=created[-1])
    photo, content_type = multipart("image", "photo.jpg", newest.image.read())
    status, body = ask(urllib.request.Request(f"{base}/search/image/?limit=3", data=photo, method="POST",
                                              headers={"Content-Type": content_type}))
    assert status == 200 and newest.pk in [hit["product"]["id"] for hit in body["results"]], body
