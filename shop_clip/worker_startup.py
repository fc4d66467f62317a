"""A Celery worker's start-up: whether it consumes shop-clip's queue, each child loading the model
as it starts with its share of a CPU's cores, and the pending rows picked up once it is ready.

``tasks`` imports this module, so every worker that imports shop-clip's tasks connects these
receivers; a store's workers on other queues load no model.
"""

from __future__ import annotations

import logging
import os
import threading

from celery.signals import celeryd_after_setup, worker_process_init, worker_ready

from .broker import INDEX_PENDING, publish
from .conf import shop_clip_settings
from .encoders import configured_device, get_encoder

logger = logging.getLogger("shop_clip.worker_startup")

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
    it, and children that start together share a backlog from its first claim.  In a thread:
    Celery gives a child's start only a few seconds."""
    if not _consumes_queue:
        logger.info("this worker does not consume shop-clip's queue %r: no model is loaded",
                    shop_clip_settings.QUEUE)
        return
    if _children > 1 and configured_device() == "cpu":
        share_cores(_children)  # (a GPU worker keeps torch's default: what its measurements used)
    logger.info("loading the model as the worker child starts")
    threading.Thread(target=_load_encoder, name="shop-clip-load-model", daemon=True).start()


def share_cores(children: int) -> int:
    """Give this process's torch its share of the machine's cores: each child's torch would use
    them all, and children fighting over the cores made a CPU worker slower with two children than
    with one (docs/decisions/worker-children.md).  Returns the threads."""
    import torch  # only in a worker child that runs the model

    threads = max(1, (os.cpu_count() or 1) // children)
    torch.set_num_threads(threads)
    logger.info("%d worker children share %d cores: %d torch threads each", children, os.cpu_count() or 1, threads)
    return threads


def _load_encoder() -> None:
    try:
        get_encoder()
    except Exception as exc:  # the first batch tries again and reports it where it belongs
        logger.warning("could not load the model as the worker started (%s); the first batch tries again", exc)


@worker_ready.connect
def resume_pending(sender=None, **kwargs) -> None:
    """A worker that starts picks up rows left pending (by a killed worker or a down broker)."""
    publish(INDEX_PENDING, what="the indexing task at start", instead="pending rows wait for the next message",
            retry=True)
