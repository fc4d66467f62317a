"""Celery tasks: thin wrappers over the claim lanes and ``tagging``.  Tasks take ids, never model instances.

The pipeline sends these by name (``broker``); importing this module also connects the worker's
start-up receivers (``worker_startup``).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import tagging, worker_startup  # noqa: F401  (worker_startup connects its receivers on import)
from .broker import INDEX_PENDING, TAG_PRODUCTS, publish
from .claim_lanes import process_pending
from .conf import positive_setting, shop_clip_settings
from .models import EmbeddingSpace, ProductVector

logger = logging.getLogger("shop_clip.tasks")

# Every shop-clip task: a message is removed only once its work is written, comes back if the
# worker process dies, and database restarts or lost connections are retried with backoff.
DURABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 20,
}


@shared_task(name=INDEX_PENDING, bind=True, **DURABLE)
def index_pending(self, fan_out: bool = True) -> dict:
    """Index pending vector rows; re-enqueue itself while work remains so workers share it.

    A task sent for new work (``fan_out``) that finds a backlog first sends helper tasks, up to
    ``INDEXING_TASKS`` in all, so a worker's other children share it; its helpers and its own
    continuation do not fan out again.
    """
    helpers = send_helpers() if fan_out else 0
    result, more = process_pending(max_batches=shop_clip_settings.MAX_BATCHES_PER_TASK)
    if more and result.claimed:
        index_pending.apply_async(kwargs={"fan_out": False}, queue=shop_clip_settings.QUEUE)
    return {"claimed": result.claimed, "embedded": result.embedded, "unchanged": result.unchanged,
            "failed": result.failed, "more": more, "helpers": helpers,
            "seconds": {phase: round(value, 3) for phase, value in result.seconds.items()}}


def send_helpers() -> int:
    """Send one helper ``index_pending`` task for each further claim's worth of pending rows, up to
    ``INDEXING_TASKS - 1``; returns how many were sent."""
    wanted = positive_setting("INDEXING_TASKS") - 1
    if not wanted:
        return 0
    claim = positive_setting("CLAIM_BATCH_SIZE")
    # Counting stops where the answer stops mattering: cheap with a million rows pending.
    pending = ProductVector.objects.filter(status=ProductVector.Status.PENDING)[:claim * (wanted + 1)].count()
    helpers = max(0, min(wanted, (pending - 1) // claim))
    for sent in range(helpers):
        if not publish(INDEX_PENDING, kwargs={"fan_out": False}, what="helper tasks",
                       instead="this task indexes the backlog alone", retry=True):
            return sent
    if helpers:
        logger.info("at least %d rows pending: sent %d helper tasks", pending, helpers)
    return helpers


@shared_task(name=TAG_PRODUCTS, **DURABLE)
def tag_products(product_ids: list, model_id: str | None = None) -> dict:
    """Zero-shot tags and moderation flags of products just embedded in space ``model_id``."""
    space = EmbeddingSpace.objects.filter(pk=model_id).first() if model_id else None
    if model_id and space is None:
        return {"products": 0}  # the model was removed since
    return tagging.tag_products(product_ids, space).as_dict()
