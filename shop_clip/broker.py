"""Sending shop-clip's tasks to the broker by name, so the pipeline never imports ``tasks``.

The work a message asks for is always safe in the database first (pending rows, embedded
products), so a broker that cannot be reached is logged with what happens instead, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import current_app

from .conf import shop_clip_settings

logger = logging.getLogger("shop_clip.broker")

INDEX_PENDING = "shop_clip.index_pending"
TAG_PRODUCTS = "shop_clip.tag_products"


def publish(task: str, *, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, what: str,
            instead: str, retry: bool = False) -> bool:
    """Send ``task`` (a name above) to ``SHOP_CLIP["QUEUE"]``; returns whether it was sent.

    Where the broker cannot be reached, logs a warning naming ``what`` was not sent and what
    happens ``instead``.  ``retry``: let kombu retry the connection first (off where a store's
    request waits on it).
    """
    # A signature runs the registered task where this process knows it (so task_always_eager and
    # task annotations apply), and sends by name where it does not.
    signature = current_app.signature(task, args=list(args), kwargs=kwargs or {}, queue=shop_clip_settings.QUEUE)
    try:
        signature.apply_async(retry=retry)
    except Exception as exc:  # kombu raises many types; the work is safe in the database
        logger.warning("could not reach the Celery broker to send %s (%s); %s", what, exc, instead)
        return False
    return True
