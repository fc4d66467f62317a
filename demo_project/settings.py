"""Settings of the demo store.  Every service comes from the environment when set
(DATABASE_URL, CELERY_BROKER_URL, SHOP_CLIP_MODEL, ...), else from embedded servers under var/.

DEBUG is off unless DJANGO_DEBUG=1.  DJANGO_SECRET_KEY is required, except on the embedded servers
(the local demo, tests, benchmarks) or with DEBUG, which share a random key kept in DATA_DIR/secret_key.
HTTPS (DJANGO_HTTPS, DJANGO_SECURE_HSTS_*, DJANGO_SECURE_PROXY_SSL_HEADER) is set by the container.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key
from django.urls import reverse

from demo_project import services
from demo_project.training.vocabulary import CATEGORIES, COLOURS, PATTERNS

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SHOP_CLIP_DATA_DIR", BASE_DIR / "var"))

DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

if not (os.environ.get("DATABASE_URL") and os.environ.get("CELERY_BROKER_URL")):
    _endpoints = services.ensure_running(DATA_DIR)
    os.environ.setdefault("DATABASE_URL", _endpoints.database_url)
    os.environ.setdefault("CELERY_BROKER_URL", _endpoints.broker_url)


def uses_embedded_services(database_url: str, broker_url: str, data_dir: Path) -> bool:
    """Whether both URLs point at the embedded servers running from ``data_dir`` (any database number)."""
    embedded = services.running_endpoints(data_dir)
    if embedded is None:
        return False
    pairs = ((database_url, embedded.database_url), (broker_url, embedded.broker_url))
    return all((urlparse(given).hostname, urlparse(given).port) == (urlparse(local).hostname, urlparse(local).port)
               for given, local in pairs)


def local_secret_key(path: Path) -> str:
    """The random key kept in ``path``, created on first use with mode 0600; every local process shares it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        with os.fdopen(descriptor, "w") as file:
            file.write(get_random_secret_key())
        try:
            os.link(temporary, path)  # atomic: when two processes race, both keep the first key
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


# The URLs are checked, not their presence: the settings export them to the processes they start.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or uses_embedded_services(os.environ["DATABASE_URL"], os.environ["CELERY_BROKER_URL"], DATA_DIR)):
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY to a long random value, the same on every machine of this deployment "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'). Only the embedded servers "
            "of the local demo, or DJANGO_DEBUG=1, run without it.")
    SECRET_KEY = local_secret_key(DATA_DIR / "secret_key")


def database_from_url(url: str) -> dict:
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be postgres://...: got {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("SHOP_CLIP_TEST_DATABASE") or None},
    }


DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "demo_project.catalog",
    "shop_clip",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Browser protections on every response.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # the page posts the form's csrfmiddlewaretoken; no script reads the cookie
CSRF_COOKIE_SAMESITE = "Lax"
# HTTPS: off for the local demo (plain http on runserver); the Dockerfile and docker-compose.yml turn it on.
_https_only = os.environ.get("DJANGO_HTTPS", "0") == "1"
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _https_only
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "0") == "1"
SECURE_HSTS_PRELOAD = os.environ.get("DJANGO_SECURE_HSTS_PRELOAD", "0") == "1"
# Only behind a TLS-terminating proxy that sets X-Forwarded-Proto (else a client could claim https).
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "0") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("SHOP_CLIP_MEDIA_ROOT", DATA_DIR / "media"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 10000}}}


def _rate(name: str, default: str) -> str | None:
    """A throttle rate from the environment ("30/min"); "off" lifts the limit (the benchmarks' load)."""
    value = os.environ.get(name, default)
    return None if value == "off" else value


REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # shop-clip's scopes: photo search and shop the look run the model on each upload.
    "DEFAULT_THROTTLE_RATES": {"shop_clip_image": _rate("SHOP_CLIP_RATE_IMAGE", "20/min"),
                               "shop_clip_search": _rate("SHOP_CLIP_RATE_SEARCH", "120/min")},
}
SPECTACULAR_SETTINGS = {"TITLE": "shop-clip demo store API", "VERSION": "0.1.0"}

# Celery: the broker from the environment; the shop_clip queue is consumed by the workers.
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A product save publishes after commit: when the broker is down, give up within about a second
# (the rows stay pending in PostgreSQL) instead of holding the shopper's request for kombu's default.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 10,
    "max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1,
}

# The storefront's cards link to the demo's product pages.
ABSOLUTE_URL_OVERRIDES = {"catalog.product": lambda product: reverse("product", args=[product.pk])}

# shop-clip
SHOP_CLIP_PRODUCT_MODEL = "catalog.Product"
SHOP_CLIP = {
    "BASE_TEMPLATE": "catalog/base.html",  # the storefront pages in the demo's own layout
    "IMAGE_FIELD": "image",
    "TEXT_FIELDS": ["title", "description"],
    "CATEGORY_FIELD": "category",
    "PRODUCT_SERIALIZER": "demo_project.catalog.serializers.ProductSerializer",
    "ENCODER": {
        "MODEL": os.environ.get("SHOP_CLIP_MODEL", "shop-clip-mini"),
        "DEVICE": os.environ.get("SHOP_CLIP_DEVICE", "auto"),
        "BATCH_SIZE": int(os.environ.get("SHOP_CLIP_BATCH_SIZE", "32")),
    },
    "QUEUE": os.environ.get("SHOP_CLIP_QUEUE", "shop_clip"),
    "CLAIM_BATCH_SIZE": int(os.environ.get("SHOP_CLIP_CLAIM_BATCH_SIZE", "128")),
    "CLAIMS_IN_FLIGHT": int(os.environ.get("SHOP_CLIP_CLAIMS_IN_FLIGHT", "1")),
    "READER_THREADS": int(os.environ.get("SHOP_CLIP_READER_THREADS", "4")),
    "INDEXING_TASKS": int(os.environ.get("SHOP_CLIP_INDEXING_TASKS", "4")),
    # Complete the look: things to wear go with things to wear, home goods with home goods.
    "LOOK_CATEGORIES": {
        category.slug: [other.slug for other in CATEGORIES
                        if (other.department == "home goods") == (category.department == "home goods")]
        for category in CATEGORIES
    },
}
# Zero-shot tags and staff flags (shop_clip/tagging.py), a task of their own after each claim.
# SHOP_CLIP_TAGGING=0 turns them off: the indexing benchmark measures the embedding pipeline alone,
# and the tests turn them on only where they test them (tests/test_tagging.py).
DEMO_TAGGING = {
    # Colour and pattern from the demo vocabulary, with the prompts that scored best for
    # shop-clip-mini on demo catalogs (tests/test_tagging.py): about 0.9 of products right for
    # each.  No material group: the pictures hardly show material (about 0.1 right at best), and a
    # wrong tag is worse than none.
    "TAGS": {
        "colour": {"labels": [colour.name for colour in COLOURS], "prompt": "a {label} product"},
        "pattern": {"labels": {p.slug: f"a photo of a {p.adjectives[0]} product" for p in PATTERNS}},
    },
    # A photo that shows another category than the product is listed under (0.8: about 97% of
    # swapped photos caught, under 1.5% of correct listings flagged, on demo catalogs).
    "MODERATION": {"CATEGORY_MISMATCH": True, "MIN_SCORE": 0.8},
    # Shoppers can filter by them: /api/shop-clip/search/?q=bag&colour=red
    "TAG_FILTERS": ["colour", "pattern"],
}
if os.environ.get("SHOP_CLIP_TAGGING", "1") != "0":
    SHOP_CLIP.update(DEMO_TAGGING)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"shop_clip": {"handlers": ["console"], "level": os.environ.get("SHOP_CLIP_LOG_LEVEL", "INFO")},
                # A 500's traceback in the server's output: with DEBUG off Django only mails it to ADMINS.
                "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}
