"""The Python API's arguments, checked before any query: a wrong type is a ``TypeError`` naming
the argument and what it takes, so a store's slip (a category for a product, a list of filters,
``limit="5"``) is an error where it was made, never another product's answer."""

from __future__ import annotations

import difflib
import operator
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
    if names is None:
        return params
    if isinstance(params, QueryDict):
        kept = QueryDict(mutable=True)
        for name in names & set(params):
            kept.setlist(name, params.getlist(name))
        return kept
    return {name: value for name, value in params.items() if name in names}


def unknown_names(unknown: Iterable[str], known: Collection[str], what: str) -> str:
    """A message naming ``unknown`` names (the nearest known one after each, where one is near)
    and then every ``known`` one: ``what`` says what they are."""
    parts = []
    for name in sorted(unknown):
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        parts.append(f"{name!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    listed = ", ".join(sorted(known)) if known else "none"
    return f"unknown {what} {', '.join(parts)}; the {what}s are: {listed}"


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
        raise UnknownFilter(unknown_names(unknown, names, "filter"))
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
