"""Counts of vector rows by state and model: the status command and endpoint share this."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import EmbeddingSpace, ProductVector
from .space_index import space_index_state
from .spaces import configured_space, latest_active_space

Status = ProductVector.Status


def _counts(queryset) -> dict[str, int]:
    counts = queryset.aggregate(
        total=Count("pk"),
        embedded=Count("pk", filter=Q(status=Status.EMBEDDED)),
        pending=Count("pk", filter=Q(status=Status.PENDING)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
    )
    return {k: int(v or 0) for k, v in counts.items()}


_INDEX_WORDS = {"valid": "valid", "invalid": "building", None: "none"}


def index_status() -> dict:
    """``total/embedded/pending/failed`` for the configured model, plus every model's counts,
    backend, dimension, HNSW index kind ("halfvec" or "binary") and its state: "valid", "building"
    (or left by a build that was interrupted: the next task builds it again) or "none" (written,
    not yet built)."""
    active = latest_active_space()
    try:
        configured = configured_space().model_id
    except Exception:  # the model cannot load: still report what the database knows
        configured = None
    focus = configured or (active.model_id if active else None)
    data = _counts(ProductVector.objects.filter(space_id=focus))
    data.update(model=focus, active_model=active.model_id if active else None, models=[
        {"model": space.model_id, "backend": space.backend, "dim": space.dim,
         "active": bool(active and space.pk == active.pk), "index": _INDEX_WORDS[space_index_state(space)],
         "index_kind": space.index_kind,
         **_counts(ProductVector.objects.filter(space=space))}
        for space in EmbeddingSpace.objects.order_by("created_at")
    ])
    return data
