"""Search on a real streaming replica: a standby of the test cluster, made with ``pg_basebackup``
from the embedded PostgreSQL binaries, is ``SHOP_CLIP["READ_DATABASE"]``.  Answers come from it,
what the primary commits reaches them, and a stopped replica is a 503 naming it, never an answer
read elsewhere (docs/decisions/read-replica.md)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connections
from django.template import Context, Template
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from demo_project.services import _as_pg_user, _chown_for_pg, _pg_bin, _run
from shop_clip import look, search, tagging
from shop_clip.claim_lanes import process_pending
from shop_clip.read_db import ReadDatabaseUnavailable

from ..conftest import committed_demo_catalog, png_bytes, purge, wait_until

CATALOG_SIZE = 60
NEW_PHOTO = png_bytes((17, 201, 187))  # a teal no generated product has
# Tests that only read, in a test transaction on the primary (and so pytest-django creates the
# test database); the others write or stop the replica on the module's own connections, which commit.
reads = pytest.mark.django_db(databases=["default", "replica"])


class Standby:
    """A hot standby of the primary's cluster, streaming from it, in a folder of its own."""

    def __init__(self, primary: dict, replica: dict) -> None:
        self.primary_port, self.port = primary["PORT"], replica["PORT"]
        self.data = Path(tempfile.mkdtemp(prefix="shop_clip_standby_"))
        self.run_as = _as_pg_user()  # the primary's own system user: the files are its
        _chown_for_pg(self.data)

    def start(self) -> Standby:
        _run([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
              "-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast"], self.run_as, "pg_basebackup")
        # A hot standby needs at least the primary's max_connections (demo_project/services.py sets 200).
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data} -c max_connections=200 -c fsync=off"
        _run([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.data / "standby.log"), "-o", options,
              "-w", "-t", "60", "start"], self.run_as, "pg_ctl start (standby)", log=self.data / "standby.log")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                           capture_output=True, **self.run_as)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def wait_replicated(timeout: float = 30) -> None:
    """Until the replica has replayed everything the primary has committed so far."""
    with connections["default"].cursor() as cursor:
        # The insert position: the embedded primary commits asynchronously, so its last commits
        # may still be in WAL buffers, past what pg_current_wal_lsn() says is written.
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        written = cursor.fetchone()[0]

    def replayed() -> bool:
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written])
            return cursor.fetchone()[0]

    wait_until(replayed, timeout, f"the replica to replay {written}")


@pytest.fixture(scope="module")
def standby(django_db_setup, django_db_blocker):
    """The replica, started once the test database exists on the primary (so it is copied too)."""
    replica = Standby(settings.DATABASES["default"], settings.DATABASES["replica"])
    try:
        replica.start()
        yield replica
    finally:
        with django_db_blocker.unblock():
            connections["replica"].close()
        replica.remove()


@pytest.fixture(scope="module")
def catalog(standby, django_db_blocker):
    """A demo catalog committed on the primary and embedded, replayed on the replica."""
    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=11) as ids:
        with django_db_blocker.unblock():
            wait_replicated()
            yield ids
    purge(settings.SHOP_CLIP["QUEUE"])  # the index task the new product's save sent: no worker here


def queries(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


@reads
def test_the_replica_is_a_streaming_standby(catalog):
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        assert cursor.fetchone() == (True, connections["default"].settings_dict["NAME"])


@reads
@pytest.mark.parametrize("params", [
    {"q": "red striped cotton t-shirt"},  # hybrid: the index, the words' statistics and look-up
    {"q": "red t-shirt", "mode": "vector", "max_price": "30"},  # a filter: counted, then an exact scan
    {"q": "cotton", "mode": "keyword"},  # the planner's estimate of the words' matches
])
def test_search_answers_from_the_replica_and_as_the_primary_would(catalog, params):
    query, mode = params["q"], params.get("mode")
    filters = {key: value for key, value in params.items() if key not in ("q", "mode")}
    with CaptureQueriesContext(connections["default"]) as primary, \
            CaptureQueriesContext(connections["replica"]) as replica:
        page = search.search(query, filters=filters, mode=mode, limit=10)
        response = Client().get("/api/shop-clip/search/", {**params, "limit": 10})
    assert response.status_code == 200
    assert [hit["product"]["id"] for hit in response.json()["results"]] == [hit.product.pk for hit in page.hits]
    assert page.hits
    assert queries(primary) == []  # not one read of the answer on the primary
    read = queries(replica)
    # The settings and the KNN query they are for: one string, so one transaction, on the replica's
    # connection (a savepoint first where the test's transaction wraps it).
    assert any("SET LOCAL " in sql and "<=>" in sql for sql in read)
    with override_settings(SHOP_CLIP={**settings.SHOP_CLIP, "READ_DATABASE": None}):
        on_primary = search.search(query, filters=filters, mode=mode, limit=10)
    assert [(hit.product.pk, round(hit.score, 4)) for hit in on_primary.hits] == \
        [(hit.product.pk, round(hit.score, 4)) for hit in page.hits]


@reads
def test_look_alikes_looks_and_tags_read_the_replica(catalog):
    product = catalog[0]
    client = Client()
    with CaptureQueriesContext(connections["default"]) as primary, \
            CaptureQueriesContext(connections["replica"]) as replica:
        assert search.similar(product, limit=5).hits
        assert client.get(f"/api/shop-clip/products/{product}/similar/", {"limit": 5}).status_code == 200
        assert look.complete_the_look(product).groups
        assert client.get(f"/api/shop-clip/products/{product}/complete-the-look/").status_code == 200
        with pytest.raises(tagging.NotTagged):  # no tag groups in this store: the space read, then no tags
            tagging.product_tags(product)
    assert queries(primary) == []
    assert any("<=>" in sql for sql in queries(replica))


@reads
def test_the_storefront_reads_the_replica_also_while_its_templates_render(catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.using("replica").get(pk=catalog[0])
    tags = Template("{% load shop_clip %}{% similar_products product %}{% complete_the_look product %}")
    with CaptureQueriesContext(connections["default"]) as primary, \
            CaptureQueriesContext(connections["replica"]) as replica:
        page = Client().get("/", {"q": "red t-shirt"})
        assert page.status_code == 200 and page.content.count(b'class="shop-clip-card') >= 5
        rendered = tags.render(Context({"product": product}))
        assert rendered.count("<img") >= 8  # the cards' pictures, found on the replica too
    assert queries(primary) == []
    assert any("<=>" in sql for sql in queries(replica))


def test_a_product_saved_on_the_primary_is_found_on_the_replica_once_replayed(catalog):
    from demo_project.catalog.models import Category, Product

    product = Product(title="Teal replica mug", category=Category.objects.first(), price="9.50")
    product.image.save("teal-replica-mug.png", ContentFile(NEW_PHOTO), save=False)
    product.save()
    try:
        process_pending()  # embedded on the primary; the replica has it once the WAL is replayed
        started = time.monotonic()
        wait_until(lambda: search.search_by_image(NEW_PHOTO, limit=1).hits[0].product.pk == product.pk, 30,
                   "the new product to be searchable on the replica")
        assert time.monotonic() - started < 30
    finally:
        product.delete()


def test_a_stopped_replica_is_a_503_naming_it_never_an_answer_from_elsewhere(catalog, standby):
    standby.stop()
    with CaptureQueriesContext(connections["default"]) as primary:
        response = Client().get("/api/shop-clip/search/", {"q": "red t-shirt"})
        similar = Client().get(f"/api/shop-clip/products/{catalog[0]}/similar/")
        with pytest.raises(ReadDatabaseUnavailable, match="'replica'"):
            search.search("red t-shirt")
        page = Client().get("/", {"q": "red t-shirt"})
        product_page = Client().get(f"/shop/products/{catalog[0]}/")
        from demo_project.catalog.models import Product

        tags = Template("{% load shop_clip %}<main>{% similar_products product %}"
                        "{% complete_the_look product %}</main>")
        rendered = tags.render(Context({"product": Product(pk=catalog[0])}))
    assert response.status_code == 503 and similar.status_code == 503
    assert "read database 'replica'" in response.json()["detail"]
    # The storefront's pages say so too; a store's own page keeps rendering, without the tags.
    assert page.status_code == 503 and b"read database" in page.content
    assert product_page.status_code == 503 and b"read database" in product_page.content
    assert "".join(rendered.split()) == "<main></main>"
    assert queries(primary) == []
    # The primary is untouched: a store that chooses to can read there instead.
    with override_settings(SHOP_CLIP={**settings.SHOP_CLIP, "READ_DATABASE": None}):
        assert search.search("red t-shirt", limit=3).hits
