"""Oscar's categories by their full slug (``clothing/t-shirts``): a category's own slug is unique
only among its siblings, so "Men > Shirts" and "Women > Shirts" are both ``shirts``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, Func, Model, OuterRef, QuerySet, Value
from django.db.models.functions import Length, Substr

from shop_clip.read_db import on_read

__all__ = ["FULL_NAME", "FULL_SLUG", "Node", "browsable", "full_name_of", "full_slug_of", "named", "tree"]

FULL_SLUG = "shop_clip_full_slug"
FULL_NAME = "shop_clip_full_name"


@dataclass(frozen=True)
class Node:
    """One browsable category, with its ancestors' slugs and names before its own."""

    pk: int
    path: str  # treebeard's materialised path: an ancestor's path begins a descendant's
    slug: str
    name: str
    full_slug: str
    full_name: str


def tree(*, read: bool = True) -> list[Node]:
    """Every browsable category (public, with public ancestors), in tree order, from one query of
    the category table; ``read``: on ``SHOP_CLIP["READ_DATABASE"]``."""
    category = _model()
    rows = category._default_manager.browsable().order_by("path").values_list("pk", "path", "slug", "name")
    by_path: dict[str, Node] = {}
    for pk, path, slug, name in on_read(rows) if read else rows:
        parent = by_path.get(path[:-category.steplen])  # browsable: every ancestor is listed before
        by_path[path] = Node(pk, path, slug, name,
                             slug if parent is None else f"{parent.full_slug}{category._slug_separator}{slug}",
                             name if parent is None else f"{parent.full_name}{category._full_name_separator}{name}")
    return list(by_path.values())


def named(values: Iterable[str], nodes: list[Node]) -> list[Node]:
    """The categories of ``nodes`` whose full slugs are ``values``."""
    values = set(values)
    return [node for node in nodes if node.full_slug in values]


def browsable() -> QuerySet:
    """Oscar's browsable categories, each with its full slug and full name ("Men > Shirts"), for a
    prefetch of a page's products' categories (a few rows: each reads its ancestors)."""
    category = _model()
    return category._default_manager.browsable().annotate(**{
        FULL_SLUG: _joined("slug", category._slug_separator),
        FULL_NAME: _joined("name", category._full_name_separator)})


def full_slug_of(category: Model) -> str:
    """A category's full slug: ``browsable()``'s annotation, else read from its ancestors (a query)."""
    return _annotated(category, FULL_SLUG, "slug", category._slug_separator)


def full_name_of(category: Model) -> str:
    """A category's full name, as ``full_slug_of`` reads it."""
    return _annotated(category, FULL_NAME, "name", category._full_name_separator)


def _annotated(category: Model, annotation: str, field: str, separator: str) -> str:
    value = getattr(category, annotation, None)
    if value is not None:
        return value
    return separator.join(getattr(ancestor, field) for ancestor in category.get_ancestors_and_self())


def _joined(field: str, separator: str) -> Func:
    # An ancestor's path is the start of its descendants' paths.
    chain = (_model()._default_manager.filter(path=Substr(OuterRef("path"), 1, Length("path")))
             .order_by("depth").values(field))
    return Func(ArraySubquery(chain), Value(separator), function="array_to_string", output_field=CharField())


def _model() -> type[Model]:
    return apps.get_model("catalogue", "Category")  # by label: a shop's forked catalogue app is the one read
