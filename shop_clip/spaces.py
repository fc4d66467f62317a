"""Which embedding space is indexed and which one search reads."""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .conf import shop_clip_settings
from .encoders import BaseEncoder, configured_identity, get_encoder
from .hnsw import build_products_index, has_products_index
from .models import EmbeddingSpace, ProductVector
from .prewarm import prewarm_if_installed
from .read_db import on_read
from .space_index import build_space_index, configured_index_kind, space_has_index

logger = logging.getLogger("shop_clip.spaces")


class NoActiveSpace(LookupError):
    """Nothing has been indexed yet."""


def configured_space(encoder: BaseEncoder | None = None) -> EmbeddingSpace:
    """The space of the configured encoder (or of ``encoder``), created (and activated if it is the
    first) on demand, recording the encoder's backend.  Without ``encoder`` nothing is loaded where
    the model's files or an earlier space tell its id and dimension (a product save in a web process)."""
    model_ref = str(shop_clip_settings.ENCODER["MODEL"])
    identity = (encoder.model_id, encoder.dim) if encoder is not None else configured_identity()
    if identity is None:  # a hub model: the space recorded when it was last loaded
        recorded = (EmbeddingSpace.objects.filter(model_ref=model_ref, backend=configured_backend())
                    .order_by("-pk").first())
        identity = None if recorded is None else (recorded.model_id, recorded.dim)
    if identity is None:
        encoder = get_encoder()
        identity = (encoder.model_id, encoder.dim)
    backend = backend_path(encoder) if encoder is not None else configured_backend()
    space, created = EmbeddingSpace.objects.get_or_create(
        model_id=identity[0], defaults={"model_ref": model_ref, "dim": identity[1], "backend": backend,
                                        "index_kind": configured_index_kind()})
    if not space.backend:  # a space created before spaces recorded their backend
        space.backend = backend
        space.save(update_fields=["backend"])
    if created and latest_active_space() is None:
        # The very first model: nothing to protect, so shoppers see results as they arrive.
        space.activated_at = timezone.now()
        space.save(update_fields=["activated_at"])
    return space


def backend_path(encoder: BaseEncoder) -> str:
    """The dotted path of ``encoder``'s class, as ``SHOP_CLIP["ENCODER"]["BACKEND"]`` names one."""
    cls = type(encoder)
    return f"{cls.__module__}.{cls.__qualname__}"


def configured_backend() -> str:
    """``SHOP_CLIP["ENCODER"]["BACKEND"]``, the dotted path ``backend_path`` gives for its class."""
    return str(shop_clip_settings.ENCODER["BACKEND"])


def latest_active_space(*, on_primary: bool = False) -> EmbeddingSpace | None:
    """The most recently activated space, the one search reads; None before any is activated.
    Inside ``read_db.reading()`` as the read database has it, so search reads a space it holds;
    ``on_primary``: as the primary has it (the admin, which writes there)."""
    spaces = EmbeddingSpace.objects if on_primary else on_read(EmbeddingSpace.objects)
    return spaces.filter(activated_at__isnull=False).order_by("-activated_at").first()


def active_space() -> EmbeddingSpace:
    """The space search reads: the most recently activated one (``NoActiveSpace`` before any)."""
    space = latest_active_space()
    if space is None:
        raise NoActiveSpace("nothing is indexed yet: run `python manage.py shop_clip_index --all`")
    return space


def target_spaces() -> list[EmbeddingSpace]:
    """Spaces kept current on every product change: the configured one and the active one."""
    spaces = [configured_space()]
    try:
        active = active_space()
    except NoActiveSpace:
        return spaces
    if active.pk != spaces[0].pk:
        spaces.append(active)
    return spaces


def complete_backfill(space: EmbeddingSpace) -> bool:
    """Once ``space`` has nothing pending: build its HNSW index in bulk over the vectors written
    (none was kept while they were written), then activate it if it covers the catalog.  True when
    it was activated; a space with rows pending is left to the claims that drain them."""
    if _has_pending(space):
        return False
    # A worker's space may be older than a switch of index kind (shop_clip_index --switch-index):
    # with the old kind it would build again the index the switch just dropped.
    space.refresh_from_db(fields=["index_kind", "index_centre"])
    started = time.monotonic()
    indexed = space_has_index(space)
    if not indexed and build_space_index(space):
        logger.info("built the %s HNSW index of %s over %d vectors in %.1f s", space.index_kind, space.model_id,
                    ProductVector.objects.filter(space=space, embedding__isnull=False).count(),
                    time.monotonic() - started)
        prewarm_if_installed(space)  # before search switches to it: its first searches read memory, not disk
    elif indexed and not has_products_index(space.pk) and build_products_index(space.pk):
        # Its build was killed after the HNSW one: exact search read every space's rows meanwhile.
        logger.info("built the products index of %s", space.model_id)
    return activate_if_complete(space)


def unindexed_targets() -> list[EmbeddingSpace]:
    """The spaces kept current (``target_spaces``) holding vectors but no complete HNSW index, or
    no complete products index: being written, or a build was interrupted.  A retired space is
    never built or activated again."""
    return [space for space in target_spaces()
            if ProductVector.objects.filter(space=space).exists()
            and not (space_has_index(space) and has_products_index(space.pk))]


def activate_if_complete(space: EmbeddingSpace) -> bool:
    """Switch search to ``space`` once it has no pending rows, its HNSW index is built and it
    covers the active catalog."""
    with transaction.atomic():
        space = EmbeddingSpace.objects.select_for_update().get(pk=space.pk)
        current = latest_active_space()
        if current is not None and current.pk == space.pk:
            return False
        if _has_pending(space) or not space_has_index(space):
            return False
        if current is not None and _covered_products(space) < _covered_products(current):
            return False
        space.activated_at = timezone.now()
        space.save(update_fields=["activated_at"])
        return True


def _covered_products(space: EmbeddingSpace) -> int:
    return (ProductVector.objects.filter(space=space, status=ProductVector.Status.EMBEDDED)
            .aggregate(n=Count("product", distinct=True))["n"])


def _has_pending(space: EmbeddingSpace) -> bool:
    return ProductVector.objects.filter(space=space, status=ProductVector.Status.PENDING).exists()
