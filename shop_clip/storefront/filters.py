"""The store's named filters as form fields: a search form offers every filter the API takes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from ..catalog import get_catalog
from ..conf import shop_clip_settings
from ..read_db import ReadDatabaseUnavailable, reads
from ..tag_rules import tag_groups

logger = logging.getLogger("shop_clip.storefront")


@dataclass(frozen=True)
class FilterField:
    """One filter of the search form; ``kind`` is ``choice``, ``checkbox``, ``number`` or ``text``."""

    name: str
    label: str
    kind: str
    value: str
    choices: list[tuple[str, str]] = field(default_factory=list)


def filter_fields(params: Mapping[str, str]) -> list[FilterField]:
    """A field for each of ``SHOP_CLIP["FILTERS"]`` and ``TAG_FILTERS``, holding its value in ``params``."""
    catalog = get_catalog()
    fields = []
    for name, lookup in shop_clip_settings.FILTERS.items():
        value = str(params.get(name, "") or "")
        label = name.replace("_", " ").capitalize()
        is_category = lookup == catalog.category_lookup or (callable_filter(lookup) and name == "category")
        if is_category and catalog.category_lookup:
            try:
                choices = category_choices()
            except ReadDatabaseUnavailable as exc:  # the answer below says so; the form still sends the value
                logger.warning("category choices not shown: %s", exc)
                choices = [("", "Any"), *([(value, value)] if value else [])]
            fields.append(FilterField(name, label, "choice", value, choices))
        else:
            fields.append(FilterField(name, label, field_kind(lookup), value))
    groups = {group.name: group for group in tag_groups()} if shop_clip_settings.TAG_FILTERS else {}
    for name in shop_clip_settings.TAG_FILTERS or ():
        if name in groups:
            choices = [("", "Any"), *((label, label.replace("-", " ")) for label in groups[name].labels)]
            fields.append(FilterField(name, name.replace("_", " ").capitalize(), "choice",
                                      str(params.get(name, "") or ""), choices))
    return fields


def callable_filter(lookup) -> bool:
    """Whether a filter is computed (a callable or its dotted path) rather than an ORM lookup."""
    return callable(lookup) or "." in str(lookup)


@reads
def category_choices() -> list[tuple[str, str]]:
    catalog = get_catalog()
    values = catalog.category_choices()
    names = catalog.category_names(values) if hasattr(catalog, "category_names") else {}
    return [("", "Any"), *sorted(((value, names.get(value, value)) for value in values), key=lambda pair: pair[1])]


def field_kind(lookup) -> str:
    """How a lookup's value is typed: a tick for a boolean, a number for a numeric field, else text."""
    if callable_filter(lookup):
        return "text"
    model = get_catalog().product_model
    target = None
    for part in str(lookup).split("__"):
        try:
            target = model._meta.get_field(part)
        except FieldDoesNotExist:
            break  # a lookup such as gte
        if target.is_relation:
            model = target.related_model
    if isinstance(target, models.BooleanField):
        return "checkbox"
    if isinstance(target, (models.DecimalField, models.FloatField, models.IntegerField)):
        return "number"
    return "text"
