"""The demo store reading its answers from a streaming replica (``SHOP_CLIP["READ_DATABASE"]``).

Run with --ds=tests.replica_store.settings.  The replica's alias mirrors the test database (the
standby copies the whole cluster), on a port the suite's standby is started on (test_replica.py).
"""

from demo_project.services import _free_port
from tests.settings import *  # noqa: F403

DATABASES = {**DATABASES,  # noqa: F405
             "replica": {**DATABASES["default"], "PORT": str(_free_port()), "TEST": {"MIRROR": "default"}}}  # noqa: F405
SHOP_CLIP = {**SHOP_CLIP, "READ_DATABASE": "replica"}  # noqa: F405
