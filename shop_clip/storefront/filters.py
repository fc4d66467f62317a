"""The store's named filters as form fields: a search form offers every filter the API takes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from ..catalog import display_names, get_catalog, has_control_characters, yes_or_no
from ..conf import shop_clip_settings
from ..read_db import ReadDatabaseUnavailable, reads
from ..tag_rules import tag_groups

logger = logging.getLogger("shop_clip.storefront")


YES_NO = [("", "Any"), ("true", "Yes"), ("false", "No")]


@dataclass(frozen=True)
class FilterField:
    """One filter of the search form; ``kind`` is ``choice``, ``number`` or ``text``.  A yes-or-no
    filter is a choice of any, yes and no: a checkbox could not show ``in_stock=false``, and the
    next search would have dropped it."""

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
        value = shown_value(params.get(name))
        label = name.replace("_", " ").capitalize()
        is_category = lookup == catalog.category_lookup or (callable_filter(lookup) and name == "category")
        if is_category and catalog.category_lookup:
            try:
                choices = category_choices()
            except ReadDatabaseUnavailable as exc:  # the answer below says so; the form still sends the value
                logger.warning("category choices not shown: %s", exc)
                choices = [("", "Any"), *([(value, value)] if value else [])]
            fields.append(FilterField(name, label, "choice", value, with_value(choices, value)))
        elif field_kind(lookup) == "yes_no":
            shown = shown_yes_or_no(value)
            fields.append(FilterField(name, label, "choice", shown, with_value(YES_NO, shown)))
        else:
            fields.append(FilterField(name, label, field_kind(lookup), value))
    groups = {group.name: group for group in tag_groups()} if shop_clip_settings.TAG_FILTERS else {}
    for name in shop_clip_settings.TAG_FILTERS or ():
        if name in groups:
            choices = [("", "Any"), *((label, label.replace("-", " ")) for label in groups[name].labels)]
            value = shown_value(params.get(name))
            fields.append(FilterField(name, name.replace("_", " ").capitalize(), "choice", value,
                                      with_value(choices, value)))
    return fields


def shown_value(raw) -> str:
    """A parameter's value as the form shows it: stripped, and with no control character (a NUL
    would be written into the page)."""
    return "".join(char for char in str(raw or "") if not has_control_characters(char)).strip()


def shown_yes_or_no(value: str) -> str:
    """``true``/``false`` for the words a yes-or-no filter reads as them, else the value as given."""
    answer = yes_or_no(value)
    return value if answer is None else "true" if answer else "false"


def with_value(choices: list[tuple[str, str]], value: str) -> list[tuple[str, str]]:
    """``choices``, and ``value`` after them when it is none of them: the form shows what was
    searched for (a link's old category, say), not "Any" over results it narrowed."""
    if value and value not in (choice for choice, _ in choices):
        return [*choices, (value, value)]
    return choices


def callable_filter(lookup) -> bool:
    """Whether a filter is computed (a callable or its dotted path) rather than an ORM lookup."""
    return callable(lookup) or "." in str(lookup)


@reads
def category_choices() -> list[tuple[str, str]]:
    names = display_names(get_catalog().category_choices())
    return [("", "Any"), *sorted(names.items(), key=lambda pair: (pair[1], pair[0]))]


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
        return "yes_no"
    if isinstance(target, (models.DecimalField, models.FloatField, models.IntegerField)):
        return "number"
    return "text"
