"""Encoder backends, looked up from ``SHOP_CLIP["ENCODER"]`` and loaded once per process."""

from __future__ import annotations

import threading
from typing import Any

from ..conf import ShopClipConfigurationError, import_setting, on_settings_change, shop_clip_settings
from .base import BaseEncoder, EncoderUnavailable
from .devices import choose_device, configured_device

__all__ = ["BaseEncoder", "EncoderUnavailable", "choose_device", "clear_cache", "configured_device",
           "configured_identity", "get_encoder"]

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


def configured_identity() -> tuple[str, int] | None:
    """``(model_id, dim)`` of the configured encoder from its backend's ``describe``, loading
    nothing; None where the backend can only tell once loaded."""
    options = _options(None)
    backend = options.pop("BACKEND")
    cls = import_setting(backend, "ENCODER.BACKEND") if isinstance(backend, str) else None
    if cls is None or not hasattr(cls, "describe"):
        return None
    return cls.describe(**{k.lower(): v for k, v in options.items() if k != "DIM"})


@on_settings_change
def clear_cache() -> None:
    """Forget the loaded encoders (the next ``get_encoder`` loads again); runs when the settings change."""
    with _lock:
        _loaded.clear()
