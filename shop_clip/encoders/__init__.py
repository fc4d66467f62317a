"""Encoder backends, looked up from ``SHOP_CLIP["ENCODER"]`` and loaded once per process."""

from __future__ import annotations

import threading
from typing import Any

from ..conf import ShopClipConfigurationError, import_setting, shop_clip_settings
from .base import BaseEncoder, EncoderUnavailable

__all__ = ["BaseEncoder", "EncoderUnavailable", "get_encoder", "clear_cache"]

_lock = threading.Lock()
_loaded: dict[tuple, BaseEncoder] = {}


def _options(overrides: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(shop_clip_settings.ENCODER)
    options.update(overrides or {})
    return options


def get_encoder(model: str | None = None, **overrides: Any) -> BaseEncoder:
    """The configured encoder, or the same backend loading ``model`` instead.

    Instances are cached per (backend, model, device, ...) so each process loads weights once.
    """
    if model is not None:
        overrides["MODEL"] = model
    options = _options(overrides)
    key = tuple(sorted((k, str(v)) for k, v in options.items()))
    with _lock:
        if key not in _loaded:
            backend = options.pop("BACKEND")
            if not isinstance(backend, str):
                raise ShopClipConfigurationError("SHOP_CLIP['ENCODER']['BACKEND'] must be a dotted path")
            cls = import_setting(backend, "ENCODER.BACKEND")
            # DIM is a declaration for the system checks, not a constructor argument.
            kwargs = {k.lower(): v for k, v in options.items() if k != "DIM"}
            _loaded[key] = cls(**kwargs)
        return _loaded[key]


def clear_cache() -> None:
    with _lock:
        _loaded.clear()
