"""Indexing, as store code calls it: ``mark_pending(ids)`` after changes no signal sees (a
``queryset.update()``, a bulk import), ``process_pending()`` to embed here instead of on the workers.

Each job has its own module, and shop-clip's own code imports those, never this one:

- ``marking``: rows made pending to match a product's images; one task enqueued after commit;
- ``claims``: how a claim is processed (lock pending rows, read, encode, write);
- ``claim_reading``: the reader threads that read, hash, decode and preprocess a claim's images;
- ``claim_lanes``: every space drained, ``CLAIMS_IN_FLIGHT`` claims side by side;
- ``claim_results``: what claims did and where their time went;
- ``worker_startup``: the worker's children loading the model as they start;
- ``broker``: tasks sent by name, a broker that cannot be reached logged, never raised.
"""

from __future__ import annotations

from .claim_lanes import process_pending
from .claim_results import BatchResult, time_summary
from .marking import mark_pending, missing_product_ids

__all__ = ["BatchResult", "mark_pending", "missing_product_ids", "process_pending", "time_summary"]
