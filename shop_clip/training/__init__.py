"""Synthetic demo catalog, the bundled shop-clip-mini model, and CLIP fine-tuning.

Nothing here needs Django.  Names are imported lazily so that generating a demo catalog
does not load torch.

- ``synthetic``: the deterministic catalog generator (``generate_catalog``, ``HELD_OUT_PAIRS``).
- ``train_mini``: ``python -m shop_clip.training.train_mini --output DIR`` trains the mini CLIP.
- ``finetune``: ``finetune(model_dir, pairs, output_dir, ...)`` for any sentence-transformers CLIP.
- ``evaluation``: ranking metrics; ``quality`` / ``check_mini``: the quality targets.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "SyntheticProduct": "synthetic",
    "generate_catalog": "synthetic",
    "HELD_OUT_PAIRS": "synthetic",
    "query_for": "synthetic",
    "finetune": "finetune",
    "retrieval_metrics": "retrieval",
    "precision_at_k": "evaluation",
    "ndcg_at_k": "evaluation",
    "graded_relevance": "evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
