"""A second, differently shaped store: UUID keys, several photos per product in a related
model, categories as a many-to-many, a float price.  Run with --ds=tests.alt_store.settings."""

import os
from pathlib import Path

from demo_project.services import ensure_running

_root = Path(__file__).resolve().parents[2]
_endpoints = ensure_running()
os.environ.setdefault("DATABASE_URL", _endpoints.database_url.rsplit("/", 1)[0] + "/shop_clip_alt")
os.environ.setdefault("CELERY_BROKER_URL", _endpoints.broker_url.rsplit("/", 1)[0] + "/14")
os.environ.setdefault("SHOP_CLIP_MEDIA_ROOT", str(_root / "var" / "test-media-alt"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

from demo_project.settings import *  # noqa: E402,F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "demo_project.catalog"] + ["tests.alt_store.shop"]  # noqa: F405
ROOT_URLCONF = "tests.alt_store.urls"
SHOP_CLIP_PRODUCT_MODEL = "shop.Item"
SHOP_CLIP = {
    **SHOP_CLIP,  # noqa: F405
    "IMAGE_FIELD": None,
    "IMAGES": {"MODEL": "shop.Photo", "PRODUCT_FIELD": "item", "IMAGE_FIELD": "file"},
    "TEXT_FIELDS": ["name", "blurb"],
    "CATEGORY_FIELD": "collections",
    "FILTERS": {"category": "collections__slug", "min_price": "price__gte", "max_price": "price__lte",
                "available": "available"},
    "PRODUCT_SERIALIZER": "shop_clip.api.serializers.DefaultProductSerializer",
}
SECURE_SSL_REDIRECT = False
# This store does not import tests.settings: the same high throttle rates, so that no test is throttled.
REST_FRAMEWORK = {**REST_FRAMEWORK,  # noqa: F405
                  "DEFAULT_THROTTLE_RATES": {"shop_clip_image": "100000/min", "shop_clip_search": "100000/min"}}
