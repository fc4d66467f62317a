"""Oscar's categories by their full slug (``clothing/t-shirts``), in SQL: a category's own slug is
unique only among its siblings, so "Men > Shirts" and "Women > Shirts" are both ``shirts``."""

from __future__ import annotations

from django.apps import apps
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, Exists, Func, OuterRef, QuerySet, Value
from django.db.models.functions import Length, Substr

__all__ = ["FULL_NAME", "FULL_SLUG", "NAME_SHARED", "browsable", "full_name_of", "full_slug_of", "with_display_names"]

FULL_SLUG = "shop_clip_full_slug"
FULL_NAME = "shop_clip_full_name"
NAME_SHARED = "shop_clip_name_shared"


def browsable() -> QuerySet:
    """Oscar's browsable categories (public, with public ancestors), each with its full slug and
    full name ("Men > Shirts")."""
    category = _model()
    return category._default_manager.browsable().annotate(**{
        FULL_SLUG: _joined("slug", category._slug_separator),
        FULL_NAME: _joined("name", category._full_name_separator)})


def with_display_names(categories: QuerySet) -> QuerySet:
    """``categories`` with whether another browsable category has the same name (then a menu needs
    the full name to tell them apart)."""
    others = _model()._default_manager.browsable().filter(name=OuterRef("name")).exclude(pk=OuterRef("pk"))
    return categories.annotate(**{NAME_SHARED: Exists(others)})


def full_slug_of(category) -> str:
    """A category's full slug: ``browsable()``'s annotation, else read from its ancestors (a query)."""
    return _annotated(category, FULL_SLUG, "slug", category._slug_separator)


def full_name_of(category) -> str:
    """A category's full name, as ``full_slug_of`` reads it."""
    return _annotated(category, FULL_NAME, "name", category._full_name_separator)


def _annotated(category, annotation: str, field: str, separator: str) -> str:
    value = getattr(category, annotation, None)
    if value is not None:
        return value
    return separator.join(getattr(ancestor, field) for ancestor in category.get_ancestors_and_self())


def _joined(field: str, separator: str) -> Func:
    # An ancestor's materialised path (treebeard) is the start of its descendants' paths.
    category = _model()
    chain = (category._default_manager.filter(path=Substr(OuterRef("path"), 1, Length("path")))
             .order_by("depth").values(field))
    return Func(ArraySubquery(chain), Value(separator), function="array_to_string", output_field=CharField())


def _model():
    return apps.get_model("catalogue", "Category")  # by label: a shop's forked catalogue app is the one read
