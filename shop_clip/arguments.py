"""The Python API's arguments, checked before any query: a wrong type is a ``TypeError`` naming
the argument and what it takes, so a store's slip (a category for a product, a list of filters,
``limit="5"``) is an error where it was made, never another product's answer."""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.http import QueryDict

from .catalog import FilterError, UnknownFilter, get_catalog
from .conf import shop_clip_settings
from .errors import ProductNotFound, QueryError

FILTER_VALUE_TYPES = (str, int, float, Decimal, date)


def whole_number(name: str, value: Any) -> int:
    """``value`` as an int; TypeError for anything but an integer (``True`` and ``"5"`` included)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__} {value!r}") from None


def text(name: str, value: Any) -> str:
    """``value``, a string (None is one not given: the search says what is required)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return value


def product_key(product: Any) -> Any:
    """The primary key of ``product``, an instance of the store's product model or its key.
    TypeError for another model's instance or a number that cannot be a key; ProductNotFound for
    an instance never saved or a key no product column could hold."""
    model = get_catalog().product_model
    if isinstance(product, models.Model):
        if not isinstance(product, model):
            raise TypeError(f"product must be a {model._meta.label} (or its key), not a {type(product)._meta.label}")
        if product.pk is None:
            raise ProductNotFound("product is not saved yet: save it, then ask for its look-alikes once it is embedded")
        return product.pk
    if product is None or isinstance(product, (bool, float, Decimal)):
        raise TypeError(f"product must be a {model._meta.label} or its key, not {product!r}")
    try:
        return model._meta.pk.to_python(product)
    except ValidationError:
        raise ProductNotFound(f"no {model._meta.verbose_name} with key {product!r}") from None


def product_queryset(queryset: Any) -> models.QuerySet | None:
    """``queryset`` when it is an unsliced queryset of the store's product model."""
    if queryset is None:
        return None
    model = get_catalog().product_model
    if not isinstance(queryset, models.QuerySet):
        raise TypeError(f"queryset must be a QuerySet of {model._meta.label}, not {type(queryset).__name__}")
    if queryset.model._meta.concrete_model is not model._meta.concrete_model:
        raise TypeError(f"queryset must be a QuerySet of {model._meta.label}, not of {queryset.model._meta.label}")
    if queryset.query.is_sliced:
        raise TypeError("queryset must not be sliced: the search takes its page from it (pass limit and offset)")
    return queryset


def filter_names() -> frozenset[str] | None:
    """The names ``filters`` take: the catalog's (``FILTERS``) and ``TAG_FILTERS``; None where the
    catalog does not say which it reads (``CatalogBase.filter_names``)."""
    names = get_catalog().filter_names()
    return None if names is None else names | frozenset(shop_clip_settings.TAG_FILTERS or ())


def named_filters(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """The store's named filters among ``params`` (a page's query string or form, which also
    carries its own fields and a campaign's tracking names); all of them where the catalog does
    not say which names it reads."""
    names = filter_names()
    return params if names is None else only(params, names)


def only(params: Mapping[str, Any], names: Collection[str]) -> Mapping[str, Any]:
    """``params`` with ``names`` alone, a QueryDict's every value of each kept."""
    if isinstance(params, QueryDict):
        kept = QueryDict(mutable=True)
        for name in set(params) & set(names):
            kept.setlist(name, params.getlist(name))
        return kept
    return {name: value for name, value in params.items() if name in names}


SHOWN_UNKNOWN, SHOWN_LENGTH = 5, 40  # a request of thousands of names, or of one very long name, is not echoed back
CALL_ARGUMENTS = frozenset({"q", "text", "mode", "limit", "offset", "categories", "per_category", "queryset"})


def unknown_names(unknown: Iterable[str], known: Collection[str], what: str,
                  arguments: Collection[str] = ()) -> str:
    """A message naming ``unknown`` names (the known one meant after each, where one is near, or
    that it is one of the call's own ``arguments``) and then every ``known`` one: ``what`` says
    what they are."""
    unknown = sorted(unknown)
    parts = []
    for name in unknown[:SHOWN_UNKNOWN]:
        shown = repr(name if len(name) <= SHOWN_LENGTH else f"{name[:SHOWN_LENGTH]}...")
        meant = " or ".join(repr(near) for near in nearest_names(name[:SHOWN_LENGTH * 2], known))
        if name in arguments:
            parts.append(f"{shown} (an argument of its own: {name}=...)")
        else:
            parts.append(shown + (f" (did you mean {meant}?)" if meant else ""))
    if len(unknown) > SHOWN_UNKNOWN:
        parts.append(f"and {len(unknown) - SHOWN_UNKNOWN} more")
    listed = f"the {what}s are: {', '.join(sorted(known))}" if known else f"there are no {what}s"
    return f"unknown {what} {', '.join(parts)}; {listed}"


def nearest_names(name: str, known: Collection[str]) -> list[str]:
    """The known names ``name`` was likely meant as: the same words in another order or case
    (``price_max``, ``Max-Price`` for ``max_price``), else the one or two that hold its words
    (``price``: ``max_price`` or ``min_price``), else the closest spellings if close (two where
    they tie)."""
    words = _words(name)
    same_words = [candidate for candidate in sorted(known) if _words(candidate) == words]
    if same_words:
        return same_words[:1]
    wider = [candidate for candidate in sorted(known) if set(words) < set(_words(candidate))]
    if 0 < len(wider) <= 2:  # ``price``: a word of ``max_price`` and of ``min_price``
        return wider
    scored = sorted(((difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio(), candidate)
                     for candidate in known), key=lambda pair: (-pair[0], pair[1]))
    best = [candidate for score, candidate in scored if score >= 0.75 and score == scored[0][0]]
    return best[:2]


def _words(name: str) -> list[str]:
    return sorted(word for word in re.split(r"[_\W]+", name.lower()) if word)


def filter_values(filters: Any) -> Mapping[str, Any]:
    """``filters`` as a mapping of one value each: a string, a number or a date (``True`` and
    ``False`` for yes-or-no filters).  A name no filter has is refused (a typo would otherwise
    answer unfiltered), as is a QueryDict's repeated name, rather than read as its last value."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise TypeError(f"filters must be a mapping of filter names to values, not {type(filters).__name__}")
    names = filter_names()
    unknown = [] if names is None else [str(name) for name in filters if name not in names]
    if unknown:
        raise UnknownFilter(unknown_names(unknown, names, "filter", CALL_ARGUMENTS))
    if isinstance(filters, QueryDict):
        repeated = sorted(name for name, values in filters.lists() if len(values) > 1)
        if repeated:
            raise QueryError(f"{repeated[0]} is given {len(filters.getlist(repeated[0]))} times; give it once")
    checked = {}
    for name, value in filters.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif value is not None and not isinstance(value, FILTER_VALUE_TYPES):
            raise FilterError(f"{name}: one value (a string, number or date), not {type(value).__name__} {value!r}")
        checked[name] = value
    return checked
