"""Training a sentence-transformers CLIP on (image, text) pairs, and ranking metrics.

What ``shop_clip_finetune`` runs on a store's own catalog.  Nothing here needs Django; names are
imported lazily so that importing the package does not load torch.  The demo's synthetic catalog
and the recipe of the bundled shop-clip-mini are not part of the app: they live in
``demo_project/training`` and drive the same loop.

- ``finetune``: ``finetune(model_dir, pairs, output_dir, ...)`` for any sentence-transformers CLIP.
- ``pairs``, ``augmentation``, ``contrastive``, ``batching``, ``training_loop``: preprocessing,
  augmentation, the loss and the optimiser loop.
- ``retrieval``: numpy cosine search and ``retrieval_metrics`` (held-out recall@1/@10).
- ``evaluation``: ranking metrics (P@k, nDCG@k, graded relevance), also used by ``shop_clip_eval``.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "finetune": "finetune",
    "retrieval_metrics": "retrieval",
    "precision_at_k": "evaluation",
    "ndcg_at_k": "evaluation",
    "graded_relevance": "evaluation",
    "attribute_ranking_quality": "evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
