"""Celery tasks: thin wrappers over ``indexing`` and ``tagging``.  Tasks take ids, never model instances."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from . import tagging
from .conf import shop_clip_settings
from .indexing import process_pending
from .models import EmbeddingSpace

logger = logging.getLogger("shop_clip.tasks")


@shared_task(
    name="shop_clip.index_pending",
    bind=True,
    acks_late=True,                 # a message is removed only once its work is written...
    reject_on_worker_lost=True,     # ...and comes back if the worker process dies
    autoretry_for=(OperationalError, InterfaceError),  # database restarts, lost connections
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=20,
)
def index_pending(self) -> dict:
    """Index pending vector rows; re-enqueue itself while work remains so workers share it."""
    result, more = process_pending(max_batches=shop_clip_settings.MAX_BATCHES_PER_TASK)
    if more and result.claimed:
        index_pending.apply_async(queue=shop_clip_settings.QUEUE)
    return {"claimed": result.claimed, "embedded": result.embedded, "unchanged": result.unchanged,
            "failed": result.failed, "more": more,
            "seconds": {phase: round(value, 3) for phase, value in result.seconds.items()}}


@shared_task(
    name="shop_clip.tag_products",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=20,
)
def tag_products(product_ids: list, model_id: str | None = None) -> dict:
    """Zero-shot tags and moderation flags of products just embedded in space ``model_id``."""
    space = EmbeddingSpace.objects.filter(pk=model_id).first() if model_id else None
    if model_id and space is None:
        return {"products": 0}  # the model was removed since
    return tagging.tag_products(product_ids, space).as_dict()


@worker_ready.connect
def resume_pending(sender=None, **kwargs) -> None:
    """A worker that starts picks up rows left pending (by a killed worker or a down broker)."""
    try:
        index_pending.apply_async(queue=shop_clip_settings.QUEUE)
    except Exception as exc:  # pragma: no cover - the broker just served this worker
        logger.warning("could not enqueue pending rows at start: %s", exc)
