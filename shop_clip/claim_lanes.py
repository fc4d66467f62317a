"""Claim lanes: draining every space's pending rows, ``CLAIMS_IN_FLIGHT`` claims side by side,
each in its own thread, database connection and transaction, within a shared budget of batches."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection

from .claim_results import BatchResult
from .claims import index_batch
from .conf import positive_setting
from .models import EmbeddingSpace, ProductVector
from .spaces import complete_backfill, unindexed_targets

Status = ProductVector.Status
OnBatch = Callable[[BatchResult], None] | None


def spaces_with_pending() -> list[EmbeddingSpace]:
    """The spaces that have pending rows, oldest first."""
    ids = ProductVector.objects.filter(status=Status.PENDING).values("space").distinct()
    return list(EmbeddingSpace.objects.filter(pk__in=ids).order_by("created_at"))


def process_pending(max_batches: int | None = None, *, on_batch: OnBatch = None) -> tuple[BatchResult, bool]:
    """Index pending rows of every space, up to ``max_batches`` batches.

    Returns the summed result and whether pending rows remain.  ``on_batch(result)`` is called
    after each batch (progress bars use it).  ``CLAIMS_IN_FLIGHT`` claims run side by side, each
    in its own thread, database connection and transaction.  A space left with nothing pending
    gets its HNSW index built in bulk, and is activated once it covers the catalog
    (``spaces.complete_backfill``).
    """
    total = BatchResult()
    budget = _Budget(max_batches)
    lanes = positive_setting("CLAIMS_IN_FLIGHT")
    for space in spaces_with_pending():
        if budget.spent():
            break
        deferred: list[int] = []
        if lanes == 1:
            _drain(space, budget, deferred, total, on_batch)
        else:
            _drain_in_lanes(space, lanes, budget, deferred, total, on_batch)
        complete_backfill(space)  # also when the budget ended exactly at the last row
    for space in unindexed_targets():  # a build that a killed worker left undone
        complete_backfill(space)
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


def _drain(space: EmbeddingSpace, budget: _Budget, deferred: list[int], total: BatchResult, on_batch: OnBatch,
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
                    on_batch: OnBatch) -> bool:
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
