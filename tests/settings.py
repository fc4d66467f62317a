"""Test settings: the demo store on its own test database, broker database and media folder.

The Celery workers started by the tests get the same environment, so they see the same data.
"""

import os
from pathlib import Path

from demo_project.services import ensure_running

_root = Path(__file__).resolve().parent.parent
_endpoints = ensure_running()
os.environ.setdefault("DATABASE_URL", _endpoints.database_url)
# Broker database 15: a demo running on the same embedded Redis is never disturbed.
os.environ.setdefault("CELERY_BROKER_URL", _endpoints.broker_url.rsplit("/", 1)[0] + "/15")
os.environ.setdefault("SHOP_CLIP_MEDIA_ROOT", str(_root / "var" / "test-media"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# No zero-shot tagging task after each claim (the workers inherit this): such a task would still be
# reading when a test empties the database.  tests/test_tagging.py turns tagging on where it tests it.
os.environ.setdefault("SHOP_CLIP_TAGGING", "0")
# A fixed key, inherited by the workers: the tests may run against any PostgreSQL, embedded or not.
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz")

from demo_project.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client speaks plain http, whatever DJANGO_HTTPS the shell exports.
SECURE_SSL_REDIRECT = False
# High rates for the API's throttle scopes, so that no ordinary test is throttled.
REST_FRAMEWORK = {**REST_FRAMEWORK,  # noqa: F405
                  "DEFAULT_THROTTLE_RATES": {"shop_clip_image": "100000/min", "shop_clip_search": "100000/min"}}
