"""The embedding pipeline: mark rows pending, claim them in batches, load, encode, write.

``tasks.py`` and the management commands are thin wrappers over these functions.
A worker holds its claimed rows locked (``FOR UPDATE SKIP LOCKED``) inside one transaction
from claim to write: if it dies mid-batch, PostgreSQL drops the transaction and the rows are
pending again for the next worker.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from .catalog import ImageRef, get_catalog
from .conf import get_product_model, shop_clip_settings
from .encoders import get_encoder
from .hnsw import halfvec_literals
from .images import ImageRejected, decode_size, load_image, read_limited
from .keywords import index_keywords
from .models import EmbeddingSpace, ProductVector
from .spaces import activate_if_complete, target_spaces
from .tagging import enqueue_tagging

logger = logging.getLogger("shop_clip.indexing")
Status = ProductVector.Status

# -- marking --------------------------------------------------------------------------------------
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
    if any(callback is _send_index_task for _, callback, *_ in connection.run_on_commit):
        return
    transaction.on_commit(_send_index_task)


def _send_index_task() -> None:
    from .tasks import index_pending

    try:
        index_pending.apply_async(queue=shop_clip_settings.QUEUE, retry=False)
    except Exception as exc:  # kombu raises many types; the rows are safe in the database
        logger.warning(
            "could not reach the Celery broker (%s); the product rows stay pending and are indexed "
            "when a worker starts or by `python manage.py shop_clip_index`", exc,
        )


# -- processing -----------------------------------------------------------------------------------
# Where a claim's time goes, in seconds (``BatchResult.seconds``).  The claim's own thread:
#   claim     claiming rows and looking up their images
#   readers   waiting for the reader threads' next batch
#   model     waiting for the model (another claim's batch) and running it; model_wait is the wait
#   write     writing vectors and states, and the commit (PostgreSQL's HNSW inserts)
# and thread time in the reader threads, which overlaps the above:
#   decode    reading, hashing and decoding the files
#   preprocess resizing and normalising for the model
PHASES = ("claim", "readers", "model", "model_wait", "write", "decode", "preprocess")
CLAIM_PHASES = ("claim", "readers", "model", "write")  # one after another: they add up to the claim's time


@dataclass
class BatchResult:
    claimed: int = 0
    embedded: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    deferred: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def add(self, other: BatchResult) -> None:
        for name in ("claimed", "embedded", "unchanged", "failed", "removed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.deferred.extend(other.deferred)
        for phase, seconds in other.seconds.items():
            self.seconds[phase] += seconds


@dataclass
class _Loaded:
    row: ProductVector
    content_hash: str = ""
    image: Any = None
    error: str = ""
    transient: bool = False


def _read(ref: ImageRef | None, row: ProductVector, target: int, resize_to: int | None) -> _Loaded:
    loaded = _Loaded(row)
    if ref is None:
        return loaded
    try:
        ref.file.open("rb")
        try:
            data = read_limited(ref.file)
        finally:
            ref.file.close()
    except FileNotFoundError:
        loaded.error = f"image file is missing from storage: {ref.file.name}"
        return loaded
    except ImageRejected as exc:
        loaded.error = str(exc)
        return loaded
    except OSError as exc:  # storage hiccup: worth another try
        loaded.error, loaded.transient = f"could not read {ref.file.name}: {exc}", True
        return loaded
    loaded.content_hash = hashlib.sha256(data).hexdigest()
    if loaded.content_hash == row.content_hash and row.embedding is not None:
        return loaded  # unchanged image: keep its vector
    try:
        loaded.image = load_image(data, target=target, resize_to=resize_to)
    except ImageRejected as exc:
        loaded.error = str(exc)
    return loaded


_readers: tuple[int, ThreadPoolExecutor] | None = None  # (size, pool)
_readers_lock = threading.Lock()
# The model runs one batch at a time, whichever claim it is for: two forward passes at once only
# fight over the same cores (CPU) or queue on the same device (GPU).
_model_lock = threading.Lock()


def _reader_pool() -> ThreadPoolExecutor:
    # Decoding and resizing release the GIL, so a few threads keep the encoder fed.
    global _readers
    size = max(1, int(shop_clip_settings.READER_THREADS))
    with _readers_lock:
        if _readers is None or _readers[0] != size:  # first use, or the setting changed
            if _readers is not None:
                _readers[1].shutdown(wait=False)  # its queued work still runs
            _readers = (size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="shop-clip-read"))
        return _readers[1]


def claim_pending(space: EmbeddingSpace, size: int, exclude: Iterable[int] = ()) -> list[ProductVector]:
    """Lock up to ``size`` pending rows of ``space`` that no other worker holds (in a transaction)."""
    return list(
        ProductVector.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(space=space, status=Status.PENDING).exclude(pk__in=list(exclude))
        .order_by("pk")[:size]
    )


def _prepare(encoder, pairs: list[tuple[ProductVector, ImageRef | None]]) -> tuple[list[_Loaded], object, float, float]:
    """Read, hash, decode and preprocess one piece of an encoder batch (runs in a reader thread);
    returns the rows, the model's inputs, and the seconds spent decoding and preprocessing."""
    start = time.perf_counter()
    target, resize_to = decode_size(getattr(encoder, "image_size", None)), getattr(encoder, "resize_side", None)
    loaded = [_read(ref, row, target, resize_to) for row, ref in pairs]
    images = [item.image for item in loaded if item.image is not None]
    decoded = time.perf_counter()
    features = encoder.preprocess_images(images) if images else None
    return loaded, features, decoded - start, time.perf_counter() - decoded


def _submit_reads(encoder, pairs: list, size: int) -> list[list]:
    """The reading of one claim, handed to the reader threads: for each encoder batch, its pieces'
    futures.  A batch is split into as many pieces as there are reader threads, so all of them
    work on it even when a claim is a single batch (a GPU worker's claims of 256 were read by one
    thread, at a third of the rate, on the H200)."""
    step = max(1, min(getattr(encoder, "batch_size", size), size))
    piece = max(1, -(-step // max(1, int(shop_clip_settings.READER_THREADS))))
    pool = _reader_pool()
    return [[pool.submit(_prepare, encoder, pairs[j:j + piece]) for j in range(i, min(i + step, len(pairs)), piece)]
            for i in range(0, len(pairs), step)]


def index_batch(space: EmbeddingSpace, size: int | None = None, exclude: Iterable[int] = ()) -> BatchResult:
    """Claim, load, encode and write one claim of ``space``'s pending rows.

    The claim is split into encoder batches, and those into pieces; reader threads prepare them
    (read, decode, preprocess) while the model encodes the batch before.
    """
    size = size or shop_clip_settings.CLAIM_BATCH_SIZE
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
        futures = _submit_reads(encoder, pairs, size)
        loaded: list[_Loaded] = []
        encoded: list[_Loaded] = []
        vectors = []
        clock = _lap(seconds, "claim", clock)
        for pieces in futures:
            batch, parts = [], []
            for future in pieces:
                piece_rows, features, decoding, preprocessing = future.result()
                seconds["decode"] += decoding
                seconds["preprocess"] += preprocessing
                batch += piece_rows
                if features is not None:
                    parts.append(features)
            clock = _lap(seconds, "readers", clock)
            loaded += batch
            if parts:
                features = encoder.join_features(parts)
                with _model_lock:
                    seconds["model_wait"] += time.perf_counter() - clock
                    vectors.append(encoder.encode_features(features))
                encoded += [item for item in batch if item.image is not None]
                clock = _lap(seconds, "model", clock)
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
    _lap(seconds, "write", clock)  # the commit included
    logger.info("indexed batch of %d rows for %s: %d embedded, %d unchanged, %d failed, %d removed in %.2f s "
                "(claim %.2f, waiting for readers %.2f, model %.2f, writing %.2f)",
                result.claimed, space.model_id, result.embedded, result.unchanged, result.failed, result.removed,
                sum(seconds[p] for p in CLAIM_PHASES), *(seconds[p] for p in CLAIM_PHASES))
    return result


def time_summary(result: BatchResult, wall_seconds: float) -> str:
    """Where an indexing run's time went, for people: ``"in 12.3 s (83 images/s): claiming 1%, waiting
    for readers 7%, model 80%, writing 12%"`` (shares of the claims' time, which sums over claims in
    flight).  Waiting for readers means decoding is the limit (more READER_THREADS or cores);
    writing, PostgreSQL's HNSW inserts."""
    labels = ("claiming", "waiting for readers", "model", "writing")  # CLAIM_PHASES, for people
    total = sum(result.seconds[phase] for phase in CLAIM_PHASES) or 1.0
    done = result.embedded + result.unchanged + result.failed  # images read, encoded or not
    rate = done / wall_seconds if wall_seconds > 0 else 0.0
    shares = ", ".join(f"{label} {100 * result.seconds[phase] / total:.0f}%"
                       for label, phase in zip(labels, CLAIM_PHASES, strict=True))
    return f"in {wall_seconds:.1f} s ({rate:.0f} images/s): {shares}"


def _lap(seconds: dict[str, float], phase: str, since: float) -> float:
    """Add the time since ``since`` to ``phase``; returns now, the start of the next lap."""
    now = time.perf_counter()
    seconds[phase] += now - since
    return now


def _write_vectors(items: list[_Loaded], vectors) -> None:
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


def _record_failure(item: _Loaded, result: BatchResult) -> None:
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


def spaces_with_pending() -> list[EmbeddingSpace]:
    ids = ProductVector.objects.filter(status=Status.PENDING).values("space").distinct()
    return list(EmbeddingSpace.objects.filter(pk__in=ids).order_by("created_at"))


def process_pending(max_batches: int | None = None, *, on_batch=None) -> tuple[BatchResult, bool]:
    """Index pending rows of every space, up to ``max_batches`` batches.

    Returns the summed result and whether pending rows remain.  ``on_batch(result)`` is called
    after each batch (progress bars use it).  ``CLAIMS_IN_FLIGHT`` claims run side by side, each
    in its own thread, database connection and transaction.
    """
    total = BatchResult()
    budget = _Budget(max_batches)
    lanes = max(1, shop_clip_settings.CLAIMS_IN_FLIGHT)
    for space in spaces_with_pending():
        if budget.spent():
            break
        deferred: list[int] = []
        if lanes == 1:
            drained = _drain(space, budget, deferred, total, on_batch)
        else:
            drained = _drain_in_lanes(space, lanes, budget, deferred, total, on_batch)
        if drained:
            activate_if_complete(space)
    more = ProductVector.objects.filter(status=Status.PENDING).exclude(pk__in=total.deferred).exists()
    return total, more


class _Budget:
    """Batches left to run, shared by the lanes."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


def _drain(space: EmbeddingSpace, budget: _Budget, deferred: list[int], total: BatchResult, on_batch,
           lock: threading.Lock | None = None, stop: threading.Event | None = None) -> bool:
    """Claim batches of ``space`` until none is left (True) or the budget or a stop says so."""
    lock = lock or threading.Lock()
    while not (stop and stop.is_set()) and budget.take():
        with lock:
            exclude = list(deferred)
        result = index_batch(space, exclude=exclude)
        with lock:
            deferred.extend(result.deferred)
            total.add(result)
            if on_batch:
                on_batch(result)
        if result.claimed == 0:
            return True
    return False


def _drain_in_lanes(space: EmbeddingSpace, lanes: int, budget: _Budget, deferred: list[int], total: BatchResult,
                    on_batch) -> bool:
    lock, stop = threading.Lock(), threading.Event()

    def lane() -> bool:
        try:
            return _drain(space, budget, deferred, total, on_batch, lock, stop)
        except BaseException:
            stop.set()  # the other lanes finish their claim and stop; the error reaches the task
            raise
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="shop-clip-claim") as pool:
        futures = [pool.submit(lane) for _ in range(lanes)]
        drained = [future.result() for future in futures]
    return any(drained)
