"""How a claim is processed: lock a batch of pending rows, read their images (``claim_reading``),
encode them, write the vectors and each row's state, all in one transaction.

A worker holds its claimed rows locked (``FOR UPDATE SKIP LOCKED``) from claim to write: if it
dies mid-batch, PostgreSQL drops the transaction and the rows are pending again for the next worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import numpy as np
from django.db import connection, transaction

from .catalog import get_catalog
from .claim_reading import LoadedImage, submit_reads
from .claim_results import CLAIM_PHASES, BatchResult, lap
from .conf import positive_setting, shop_clip_settings
from .encoders import get_encoder
from .hnsw import halfvec_literals
from .models import EmbeddingSpace, ProductVector
from .tagging import enqueue_tagging

logger = logging.getLogger("shop_clip.claims")
Status = ProductVector.Status

# The model runs one batch at a time, whichever claim it is for: two forward passes at once only
# fight over the same cores (CPU) or queue on the same device (GPU).
_model_lock = threading.Lock()


def claim_pending(space: EmbeddingSpace, size: int, exclude: Iterable[int] = ()) -> list[ProductVector]:
    """Lock up to ``size`` pending rows of ``space`` that no other worker holds (in a transaction)."""
    return list(
        ProductVector.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(space=space, status=Status.PENDING).exclude(pk__in=list(exclude))
        .order_by("pk")[:size]
    )


def index_batch(space: EmbeddingSpace, size: int | None = None, exclude: Iterable[int] = ()) -> BatchResult:
    """Claim, load, encode and write one claim of ``space``'s pending rows (``size``, default
    ``CLAIM_BATCH_SIZE``, leaving out the rows ``exclude`` names); returns what it did and when.

    The claim is split into encoder batches, and those into pieces; reader threads prepare them
    (read, decode, preprocess) while the model encodes the batch before.
    """
    size = size or positive_setting("CLAIM_BATCH_SIZE")
    result = BatchResult()
    seconds = result.seconds
    clock = time.perf_counter()
    with transaction.atomic():
        rows = claim_pending(space, size, exclude)
        result.claimed = len(rows)
        if not rows:
            return result
        refs = {(r.product_id, r.key): r for r in get_catalog().image_refs({row.product_id for row in rows})}
        pairs = [(row, refs.get((row.product_id, row.image_key))) for row in rows]
        encoder = get_encoder(model=space.model_ref)
        futures = submit_reads(encoder, pairs, size)
        loaded: list[LoadedImage] = []
        encoded: list[LoadedImage] = []
        vectors = []
        clock = lap(seconds, "claim", clock)
        for pieces in futures:
            batch, parts = [], []
            for future in pieces:
                piece_rows, features, decoding, preprocessing = future.result()
                seconds["decode"] += decoding
                seconds["preprocess"] += preprocessing
                batch += piece_rows
                if features is not None:
                    parts.append(features)
            clock = lap(seconds, "readers", clock)
            loaded += batch
            if parts:
                features = encoder.join_features(parts)
                with _model_lock:
                    seconds["model_wait"] += time.perf_counter() - clock
                    vectors.append(encoder.encode_features(features))
                encoded += [item for item in batch if item.image is not None]
                clock = lap(seconds, "model", clock)
        gone = [row.pk for row, ref in pairs if ref is None]
        if gone:
            ProductVector.objects.filter(pk__in=gone).delete()
            result.removed = len(gone)
        if encoded:
            _write_vectors(encoded, np.concatenate(vectors))
            result.embedded = len(encoded)
        unchanged = [item.row.pk for item in loaded if item.content_hash and item.image is None and not item.error]
        if unchanged:
            ProductVector.objects.filter(pk__in=unchanged).update(status=Status.EMBEDDED, error="", attempts=0)
            result.unchanged = len(unchanged)
        for item in loaded:
            if item.error:
                _record_failure(item, result)
        # Unchanged images too: the product was saved, its category may have changed.  (Nothing is
        # sent when neither TAGS nor MODERATION is set.)
        enqueue_tagging([item.row.product_id for item in loaded if item.content_hash and not item.error], space)
    lap(seconds, "write", clock)  # the commit included
    logger.info("indexed batch of %d rows for %s: %d embedded, %d unchanged, %d failed, %d removed in %.2f s "
                "(claim %.2f, waiting for readers %.2f, model %.2f, writing %.2f)",
                result.claimed, space.model_id, result.embedded, result.unchanged, result.failed, result.removed,
                sum(seconds[p] for p in CLAIM_PHASES), *(seconds[p] for p in CLAIM_PHASES))
    return result


def _write_vectors(items: list[LoadedImage], vectors: np.ndarray) -> None:
    dim = vectors.shape[1]
    params = [(literal, dim, item.content_hash, item.row.pk)
              for item, literal in zip(items, halfvec_literals(vectors), strict=True)]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ProductVector._meta.db_table} SET embedding = %s::halfvec, dim = %s, "
            "content_hash = %s, status = 'embedded', error = '', attempts = 0, updated_at = now() "
            "WHERE id = %s",
            params,
        )


def _record_failure(item: LoadedImage, result: BatchResult) -> None:
    row = item.row
    attempts = row.attempts + 1
    if item.transient and attempts < shop_clip_settings.MAX_ATTEMPTS:
        ProductVector.objects.filter(pk=row.pk).update(attempts=attempts, error=item.error)
        result.deferred.append(row.pk)
        logger.warning("row %s deferred (attempt %d): %s", row.pk, attempts, item.error)
        return
    ProductVector.objects.filter(pk=row.pk).update(status=Status.FAILED, attempts=attempts, error=item.error)
    result.failed += 1
    logger.warning("product %s image %s failed: %s", row.product_id, row.image_key, item.error)
