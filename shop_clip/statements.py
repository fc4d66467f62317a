"""Compiled SQL remembered for a few seconds, by a key of plain values.

Django's compiling of a filtered KNN statement and of its plan's count is a real share of a fast
search (docs/decisions/filtered-search-at-1m.md), and shoppers repeat their filters.  A key exists
only where the catalog says its products and visibility compile the same way each time
(``CatalogBase.statement_key``) and the restriction is made of plain values (numbers, strings,
dates, ``Q`` objects of them) and of the filters shop-clip builds from such values (a
``shop_clip_key``: words, tags, listed keys); a store's queryset or expression compiles each time.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Q

from .conf import on_settings_change

# How stale a remembered statement may be: a settings change forgets them all before that.
SECONDS = 10.0
SIZE = 512  # keys kept before all are forgotten at once (one dict: thread-safe without a lock)

_PLAIN = (str, int, float, Decimal, bool, type(None), datetime.date, datetime.time, datetime.timedelta, uuid.UUID)
_entries: dict[Hashable, tuple[float, Any]] = {}

T = TypeVar("T")


class NotPlain(Exception):
    """A value with no key of plain values (a queryset, an expression, an object)."""


def plain_key(value: Any) -> Hashable:
    """``value`` as nested tuples of plain values, equal exactly when the values are; NotPlain
    for anything else."""
    if isinstance(value, _PLAIN):
        # 1, 1.0 and True, or Decimal("1.0") and Decimal("1.00"), may compile to different parameters.
        return type(value).__name__, repr(value)
    own = getattr(value, "shop_clip_key", None)
    if own is not None:  # a filter shop-clip built from plain values says which (a queryset's clones do not)
        return "own", type(value).__qualname__, plain_key(own() if callable(own) else own)
    if isinstance(value, list | tuple):
        return "seq", tuple(plain_key(item) for item in value)
    if isinstance(value, set | frozenset):
        return "set", frozenset(plain_key(item) for item in value)
    if isinstance(value, Mapping):
        return "map", tuple(sorted((str(name), plain_key(item)) for name, item in value.items()))
    if type(value) is Q:
        return "q", value.connector, value.negated, tuple(plain_key(child) for child in value.children)
    raise NotPlain(type(value).__name__)


def remembered(key: Hashable, make: Callable[[], T]) -> T:
    """``make()``, or what it gave for ``key`` in the last ``SECONDS``."""
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and now - entry[0] < SECONDS:
        return entry[1]
    value = make()
    if len(_entries) >= SIZE:
        _entries.clear()
    _entries[key] = now, value
    return value


@on_settings_change
def forget() -> None:
    """Every remembered statement forgotten (a changed SHOP_CLIP may compile differently)."""
    _entries.clear()
