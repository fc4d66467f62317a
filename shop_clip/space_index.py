"""A space's HNSW index: the kind it records built in bulk (a binary one around the mean of the
space's vectors), and a switch to the other kind while searches go on (docs/decisions/binary-quantised-index.md)."""

from __future__ import annotations

import logging

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections

from .conf import ShopClipConfigurationError, shop_clip_settings
from .hnsw import BINARY, INDEX_KINDS, TABLE, build_index, drop_space_index, has_index, index_state, parse_halfvec
from .models import EmbeddingSpace

logger = logging.getLogger("shop_clip.space_index")


def configured_index_kind() -> str:
    """``SHOP_CLIP["VECTOR_INDEX"]``: the kind of index a new space gets."""
    kind = shop_clip_settings.VECTOR_INDEX
    if kind not in INDEX_KINDS:
        raise ShopClipConfigurationError(
            f"SHOP_CLIP['VECTOR_INDEX'] = {kind!r} is not an index kind: use {' or '.join(map(repr, INDEX_KINDS))}")
    return kind


def space_has_index(space: EmbeddingSpace) -> bool:
    """The space's index, of the kind search walks for it, is complete."""
    return has_index(space.pk, space.index_kind)


def space_index_state(space: EmbeddingSpace) -> str | None:
    """``hnsw.index_state`` of the index of the kind search walks for the space."""
    return index_state(space.pk, kind=space.index_kind)


def build_space_index(space: EmbeddingSpace, *, kind: str | None = None, using: str = DEFAULT_DB_ALIAS,
                      wait: bool = False) -> bool:
    """Build the space's index of ``kind`` (the space's own by default) over the vectors written;
    True when it was built (``hnsw.build_index``: one builder per space)."""
    kind = kind or space.index_kind
    centre = (lambda: record_centre(space, using)) if kind == BINARY else None
    return build_index(space.pk, space.dim, using=using, wait=wait, kind=kind, centre=centre)


def record_centre(space: EmbeddingSpace, using: str = DEFAULT_DB_ALIAS) -> np.ndarray | None:
    """The mean of the space's vectors at half precision, recorded on the space: called by the one
    builder of its binary index, before the build, while no valid binary index exists.  None
    (plain sign bits) for a space with no vectors yet."""
    centre = mean_vector(space.pk, using)
    EmbeddingSpace.objects.using(using).filter(pk=space.pk).update(index_centre=centre)
    space.index_centre = centre
    return centre


def mean_vector(space_id: str, using: str = DEFAULT_DB_ALIAS) -> np.ndarray | None:
    """The mean of the space's vectors, at half precision; None when it has none."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT avg(embedding::vector)::halfvec::text FROM {TABLE} "
                       "WHERE model_id = %s AND embedding IS NOT NULL", [space_id])
        text = cursor.fetchone()[0]
    return None if text is None else parse_halfvec(text)


def switch_index_kind(space: EmbeddingSpace, kind: str) -> bool:
    """Make search walk an index of ``kind`` for ``space``; True once it does.

    A space whose index is built: the new one is built beside it (CONCURRENTLY: searches walk the
    old one meanwhile), search switches to it, then the old one is dropped.  A space still being
    written only records the kind, which its bulk build then takes.  False when another process is
    building the new index (run again later).
    """
    if kind not in INDEX_KINDS:
        raise ValueError(f"not an index kind: {kind!r}")
    old = space.index_kind
    if old == kind:
        return True
    if space_has_index(space) and not has_index(space.pk, kind):
        built = build_space_index(space, kind=kind)
        if not has_index(space.pk, kind):
            return False  # another process is building it
        if built:
            logger.info("built the %s index of %s", kind, space.model_id)
    return _record_kind(space, old, kind)


def _record_kind(space: EmbeddingSpace, old: str, kind: str) -> bool:
    EmbeddingSpace.objects.filter(pk=space.pk).update(index_kind=kind)
    space.index_kind = kind
    drop_space_index(space.pk, (old,))  # CONCURRENTLY: waits for the searches still walking it
    logger.info("search of %s walks its %s index; its %s index is dropped", space.model_id, kind, old)
    return True
