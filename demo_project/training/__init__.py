"""The demo store's training kit: the synthetic catalog and the recipe of the bundled shop-clip-mini.

Not part of the installed app (``pip install .`` ships only ``shop_clip``); the model it trains
does ship, in ``shop_clip/pretrained/shop-clip-mini``.  Nothing here needs Django.  Names are
imported lazily so that generating a demo catalog does not load torch.

- ``synthetic``: the deterministic catalog generator (``generate_catalog``, ``generate_flat_lays``,
  ``HELD_OUT_PAIRS``), drawn by ``vocabulary``, ``wording``, ``rendering`` and its shapes.
- ``train_mini``: ``python -m demo_project.training.train_mini --output DIR`` trains the mini CLIP
  with ``shop_clip.training``'s loop (``tokenizer``, ``mini_model``, ``mini_data``, ``look_alike_batches``).
- ``quality`` / ``check_mini``: the model's quality targets on fresh catalogs.
- ``eval_set``: the demo's queries file and scene photos for ``shop_clip_eval``.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "SyntheticProduct": "synthetic",
    "generate_catalog": "synthetic",
    "generate_flat_lays": "synthetic",
    "HELD_OUT_PAIRS": "synthetic",
    "query_for": "synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
