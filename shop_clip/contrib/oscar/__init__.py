"""shop-clip for django-oscar 4.2: a catalog preset, its filters and its product JSON.

A shop enables it with two settings (see ``shop_clip.contrib.oscar.settings``)::

    from shop_clip.contrib.oscar.settings import SHOP_CLIP, SHOP_CLIP_PRODUCT_MODEL

django-oscar is an optional extra (``pip install "shop-clip[oscar]"``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OscarCatalog"]


def __getattr__(name: str) -> Any:
    # Lazily: a shop's settings import this package's settings module before Django is set up.
    if name == "OscarCatalog":
        from .catalog import OscarCatalog

        return OscarCatalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
