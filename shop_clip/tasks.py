"""Celery tasks: thin wrappers over ``indexing`` and ``tagging``.  Tasks take ids, never model instances."""

from __future__ import annotations

import logging
import os
import threading

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from django.db import InterfaceError, OperationalError

from . import tagging
from .conf import shop_clip_settings
from .encoders import get_encoder
from .indexing import process_pending
from .models import EmbeddingSpace, ProductVector

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
    wanted = max(1, int(shop_clip_settings.INDEXING_TASKS)) - 1
    if not wanted:
        return 0
    claim = max(1, int(shop_clip_settings.CLAIM_BATCH_SIZE))
    # Counting stops where the answer stops mattering: cheap with a million rows pending.
    pending = ProductVector.objects.filter(status=ProductVector.Status.PENDING)[:claim * (wanted + 1)].count()
    helpers = max(0, min(wanted, (pending - 1) // claim))
    for sent in range(helpers):
        try:
            index_pending.apply_async(kwargs={"fan_out": False}, queue=shop_clip_settings.QUEUE)
        except Exception as exc:  # kombu raises many types; this task goes on with the work alone
            logger.warning("could not send helper tasks (%s); this task indexes the backlog alone", exc)
            return sent
    if helpers:
        logger.info("at least %d rows pending: sent %d helper tasks", pending, helpers)
    return helpers


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


_consumes_queue = False  # set in a worker's main process; its children inherit it when forked
_children = 1


@celeryd_after_setup.connect
def note_queues(sender=None, instance=None, **kwargs) -> None:
    """Whether this worker consumes shop-clip's queue (a store's other workers load no model), and
    how many children share its cores."""
    global _consumes_queue, _children
    queues = instance.app.amqp.queues.consume_from if instance is not None else None
    _consumes_queue = bool(queues) and shop_clip_settings.QUEUE in queues
    _children = max(1, int(getattr(instance, "concurrency", 1) or 1))


@worker_process_init.connect
def load_model_early(**kwargs) -> None:
    """A worker child starts loading the model as it starts, so its first batch does not wait for
    it (seconds for ViT-B/32, more on a GPU), and children that start together share a backlog
    from its first claim.  In a thread: Celery gives a child's start only a few seconds."""
    if not _consumes_queue:
        return
    from .encoders.sentence_transformers import choose_device  # (torch: not for a store's other workers)

    if _children > 1 and choose_device(shop_clip_settings.ENCODER.get("DEVICE", "auto")) == "cpu":
        share_cores(_children)  # (a GPU worker keeps torch's default: what its measurements used)
    logger.info("loading the model as the worker child starts")
    threading.Thread(target=_load_encoder, name="shop-clip-load-model", daemon=True).start()


def share_cores(children: int) -> int:
    """Give this process's torch its share of the machine's cores: each child's torch would use
    them all, and children fighting over the cores made a CPU worker slower with two children than
    with one (231 against 357 images/s for shop-clip-mini on 2 cores).  Returns the threads."""
    import torch

    threads = max(1, (os.cpu_count() or 1) // children)
    torch.set_num_threads(threads)
    logger.info("%d worker children share %d cores: %d torch threads each", children, os.cpu_count() or 1, threads)
    return threads


def _load_encoder() -> None:
    try:
        get_encoder()
    except Exception as exc:  # the first batch tries again and reports it where it belongs
        logger.warning("could not load the model as the worker started (%s); the first batch tries again", exc)
