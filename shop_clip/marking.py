"""Marking: a product's vector rows made pending to match its images, and one indexing task
enqueued after the transaction commits.  No model is loaded here: the saving process only writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from .broker import INDEX_PENDING, publish
from .catalog import get_catalog
from .conf import get_product_model, shop_clip_settings
from .keywords import index_keywords
from .models import ProductVector
from .spaces import target_spaces


def mark_pending(product_ids: Iterable[Any], *, enqueue: bool = True, keywords: bool = True) -> int:
    """Make the vector rows of these products match their images, all pending, and their
    keyword documents match their text (``keywords=False``: only an image changed).

    Rows for images that no longer exist are deleted.  Returns the number of rows now pending.
    After the surrounding transaction commits, indexing work is enqueued once.
    """
    ids = list(product_ids)
    if not ids:
        return 0
    if keywords:
        index_keywords(ids)
    refs = get_catalog().image_refs(ids)
    pending = 0
    with transaction.atomic():
        for space in target_spaces():
            rows = [ProductVector(product_id=r.product_id, image_key=r.key, space=space) for r in refs]
            ProductVector.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["product", "image_key", "space"],
                update_fields=["status", "error", "attempts"],
            )
            pending += len(rows)
            keep = {(r.product_id, r.key) for r in refs}
            stale = [pk for pk, pid, key in ProductVector.objects.filter(space=space, product_id__in=ids)
                     .values_list("pk", "product_id", "image_key") if (pid, key) not in keep]
            if stale:
                ProductVector.objects.filter(pk__in=stale).delete()
    if enqueue and pending:
        enqueue_indexing()
    return pending


def remove_image(product_id: Any, image_key: str) -> None:
    """Forget the vectors of one image (a related image row was deleted)."""
    ProductVector.objects.filter(product_id=product_id, image_key=image_key).delete()


def missing_product_ids() -> list[Any]:
    """Products that have no vector row in the configured space."""
    space = target_spaces()[0]
    has_row = ProductVector.objects.filter(product=OuterRef("pk"), space=space)
    return list(get_product_model()._default_manager.filter(~Exists(has_row)).values_list("pk", flat=True))


def enqueue_indexing() -> None:
    """Send one indexing task after the current transaction commits (one per transaction)."""
    if not shop_clip_settings.ENQUEUE_ON_SAVE:
        return
    # One message per transaction; Django drops the callback itself if the transaction rolls back.
    if any(callback is send_index_task for _, callback, *_ in connection.run_on_commit):
        return
    transaction.on_commit(send_index_task)


def send_index_task() -> bool:
    """Send one ``index_pending`` task now; returns whether the broker took it (the rows are safe
    either way: they stay pending)."""
    return publish(INDEX_PENDING, what="the indexing task",
                   instead="the product rows stay pending and are indexed when a worker starts or by "
                           "`python manage.py shop_clip_index`")
