"""Keep vector rows and keyword documents current when the store saves or deletes products and images."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .catalog import get_catalog
from .encoders import EncoderUnavailable
from .hnsw import drop_space_index
from .marking import mark_pending, remove_image
from .models import EmbeddingSpace

logger = logging.getLogger("shop_clip.signals")


def product_saved(sender, instance, **kwargs) -> None:
    _mark(instance.pk)


def image_saved(sender, instance, **kwargs) -> None:
    _mark(get_catalog().product_id_of_image(instance), keywords=False)  # the product's text is as it was


def image_deleted(sender, instance, **kwargs) -> None:
    catalog = get_catalog()
    remove_image(catalog.product_id_of_image(instance), catalog.image_key(instance))


def space_deleted(sender, instance, **kwargs) -> None:
    """Its indexes go too, concurrently once the deletion is committed (searches go on)."""
    # The id now: Django clears the instance's pk once the deletion's own atomic block ends, before
    # an outer one (the admin's delete view) commits.
    space_id = instance.pk
    transaction.on_commit(lambda: drop_space_index(space_id, products=True), using=kwargs.get("using"))


def _mark(product_id, *, keywords: bool = True) -> None:
    try:
        mark_pending([product_id], keywords=keywords)
    except EncoderUnavailable as exc:
        # Never break the store's save: the product is stored; `shop_clip_index --missing` catches up.
        logger.error("product %s saved but not queued for embedding: %s", product_id, exc)


def connect() -> None:
    """Connect the receivers for the configured product (and image) model.

    Product deletions need no receiver: vector rows cascade with the product's foreign key.
    """
    catalog = get_catalog()
    post_save.connect(product_saved, sender=catalog.product_model, dispatch_uid="shop_clip_product_saved")
    post_delete.connect(space_deleted, sender=EmbeddingSpace, dispatch_uid="shop_clip_space_deleted")
    if catalog.image_model is not None:
        post_save.connect(image_saved, sender=catalog.image_model, dispatch_uid="shop_clip_image_saved")
        post_delete.connect(image_deleted, sender=catalog.image_model, dispatch_uid="shop_clip_image_deleted")
