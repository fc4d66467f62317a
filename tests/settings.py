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

from demo_project.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
