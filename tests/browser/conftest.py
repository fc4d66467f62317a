"""Browser tests: Playwright drives Debian's chromium against a live server on the test database,
over a committed demo catalog embedded by the real model, with a real Celery worker.

Run on their own (``make test`` does): ``pytest -o addopts="-ra" tests/browser``.  With
``SHOP_CLIP_SCREENSHOTS=docs/screenshots`` the tests also save a screenshot of each page there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from ..conftest import committed_demo_catalog, png_bytes, wait_for_indexing

# Playwright's sync API keeps an event loop in this thread; the ORM calls of these tests are plain
# blocking ones, made between browser calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CATALOG_SIZE = 120
PAYLOAD = "<img src=x onerror=alert(1)>"
MARKER = "quokkamarker"  # a word only the hostile product's text holds


def pytest_collection_modifyitems(items):
    if CHROMIUM is None:  # `make test` and .ci/run install it: apt-get install chromium
        skip = pytest.mark.skip(reason="no chromium on PATH: apt-get install chromium")
        for item in items:
            item.add_marker(skip)


@dataclass(frozen=True)
class Storefront:
    url: str
    ids: list
    hostile: int  # the product titled PAYLOAD


@pytest.fixture(autouse=True)
def _session_worker_idle_before_flush():
    """Replaces tests/conftest.py's: these tests never flush the database (the catalog is the
    session's, committed), and each waits for what it asks of the worker."""
    yield


def add_hostile_product() -> int:
    """A product whose title is markup, saved as a store saves one: the worker embeds it."""
    from django.core.files.base import ContentFile

    from demo_project.catalog.models import Category, Product

    product = Product(title=PAYLOAD, description=MARKER, price=Decimal("9.99"),
                      category=Category.objects.get(slug="mug"))
    product.image.save("hostile.png", ContentFile(png_bytes((150, 150, 150), (128, 128))), save=False)
    product.save()
    return product.pk


@pytest.fixture(scope="session")
def storefront(django_db_setup, django_db_blocker, celery_worker):
    from django.core.cache import caches
    from pytest_django.live_server_helper import LiveServer

    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=31) as ids:
        with django_db_blocker.unblock():
            hostile = add_hostile_product()
            wait_for_indexing(120)
            caches["default"].clear()
            server = LiveServer("127.0.0.1:0")
        try:
            yield Storefront(server.url, ids, hostile)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, storefront):
    return {**browser_context_args, "base_url": storefront.url, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def no_script(browser, browser_context_args):
    """A page in a context with JavaScript turned off."""
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(page):
    """pytest-playwright's page, failing the test on any dialog (alert) or script error."""
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert dialogs == [], f"a dialog opened: {dialogs}"
    assert errors == [], f"a script failed: {errors}"


# Lazy images below the fold load before a full-page screenshot.
EVERY_IMAGE_LOADED = """() => Promise.all([...document.images].map(image => {
  image.loading = 'eager';
  return image.complete ? null : new Promise(done => { image.onload = image.onerror = done; });
}))"""


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves the page to $SHOP_CLIP_SCREENSHOTS/name.png when set."""
    folder = os.environ.get("SHOP_CLIP_SCREENSHOTS")

    def take(page, name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.evaluate(EVERY_IMAGE_LOADED)
            path = Path(folder) / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            # 256 colours: a third of the bytes in the repository, and the pages look the same.
            Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)

    return take
