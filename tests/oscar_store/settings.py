"""A django-oscar 4.2 shop, set up as Oscar's "Building your own shop" describes, with shop-clip's
Oscar preset.  Run with --ds=tests.oscar_store.settings."""

import os
from pathlib import Path

from demo_project.services import ensure_running

_root = Path(__file__).resolve().parents[2]
_endpoints = ensure_running()
os.environ.setdefault("DATABASE_URL", _endpoints.database_url.rsplit("/", 1)[0] + "/shop_clip_oscar")
os.environ.setdefault("CELERY_BROKER_URL", _endpoints.broker_url.rsplit("/", 1)[0] + "/13")
os.environ.setdefault("SHOP_CLIP_MEDIA_ROOT", str(_root / "var" / "test-media-oscar"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SHOP_CLIP_TAGGING", "0")  # as tests/settings.py: no tagging task after each claim
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

from oscar import INSTALLED_APPS as OSCAR_APPS  # noqa: E402
from oscar.defaults import *  # noqa: E402,F403

# The services, Celery settings and encoder of the other suites; none of the demo's catalog.
from demo_project.settings import *  # noqa: E402,F403
from demo_project.settings import SHOP_CLIP as DEMO_SHOP_CLIP  # noqa: E402
from shop_clip.contrib.oscar import settings as shop_clip_oscar  # noqa: E402

# Oscar 4.2's own list: django.contrib (sites, flatpages), Oscar's apps and the apps it needs.
# sorl.thumbnail as Oscar's docs install it (the [oscar] extra brings it); this package's admin.py last.
INSTALLED_APPS = [*OSCAR_APPS, "sorl.thumbnail", "rest_framework", "drf_spectacular", "shop_clip", "tests.oscar_store"]
SITE_ID = 1
MIDDLEWARE = [*MIDDLEWARE,  # noqa: F405
              "oscar.apps.basket.middleware.BasketMiddleware",
              "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware"]
AUTHENTICATION_BACKENDS = ["oscar.apps.customer.auth_backends.EmailBackend",
                           "django.contrib.auth.backends.ModelBackend"]
TEMPLATES = [{**TEMPLATES[0], "DIRS": [Path(__file__).resolve().parent / "templates"],  # noqa: F405
              "OPTIONS": {"context_processors": [  # noqa: F405
    *TEMPLATES[0]["OPTIONS"]["context_processors"],  # noqa: F405
    "django.template.context_processors.i18n",
    "oscar.apps.search.context_processors.search_form",
    "oscar.apps.checkout.context_processors.checkout",
    "oscar.apps.communication.notifications.context_processors.notifications",
    "oscar.core.context_processors.metadata",
]}}]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
ROOT_URLCONF = "tests.oscar_store.urls"

SHOP_CLIP_PRODUCT_MODEL = shop_clip_oscar.SHOP_CLIP_PRODUCT_MODEL
SHOP_CLIP = {
    **shop_clip_oscar.SHOP_CLIP,
    **{name: DEMO_SHOP_CLIP[name] for name in ("ENCODER", "QUEUE", "CLAIM_BATCH_SIZE", "CLAIMS_IN_FLIGHT",
                                               "READER_THREADS", "INDEXING_TASKS")},
    "BASE_TEMPLATE": "oscar/layout.html",  # the storefront's pages in Oscar's own header and basket
}
SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A shop that never configured DRF: no DEFAULT_SCHEMA_CLASS; only rates high enough for the tests.
REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"shop_clip_image": "100000/min", "shop_clip_search": "100000/min"}}
