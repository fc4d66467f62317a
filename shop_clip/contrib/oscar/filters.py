"""Search filters over Oscar's categories and stock records: each takes the query-string value and
returns a ``Q`` on ``catalogue.Product`` (``SHOP_CLIP["FILTERS"]`` names them by dotted path).

A bad value raises ValueError; shop-clip answers 400 naming the parameter.  With variants, a family
matches a filter when any member does: the category on the parent, a price on a child.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce

from shop_clip.catalog import yes_or_no
from shop_clip.contrib.oscar.categories import tree

__all__ = ["available", "in_category", "in_stock", "max_price", "min_price"]



def _model(app_label: str, name: str):
    # By label, so a shop's forked Oscar app (same label) is the one queried.
    return apps.get_model(app_label, name)


def in_category(value: str) -> Q:
    """Products in the browsable category ``value`` or one of its subcategories (as Oscar's
    category page lists them); a child product is in its parent's categories.  ``value`` is a full
    slug (``clothing/t-shirts``), or a category's own slug (``t-shirts``): every category of that
    slug, as links made before full slugs name it."""
    nodes = tree(read=False)
    paths = ([node.path for node in nodes if node.full_slug == value]
             or [node.path for node in nodes if node.slug == value])
    if not paths:
        return Q(pk__in=[])
    subtree = Q()
    for path in paths:  # treebeard's materialised path: a subcategory's path starts with its parent's
        subtree |= Q(category__path__startswith=path)
    listed = (_model("catalogue", "ProductCategory")._default_manager
              .filter(subtree, category__is_public=True, category__ancestors_are_public=True).values("product_id"))
    return Q(pk__in=listed) | Q(parent_id__in=listed)


def min_price(value: str) -> Q:
    """Products with a stock record priced at least ``value``."""
    return _priced(price__gte=_price(value))


def max_price(value: str) -> Q:
    """Products with a stock record priced at most ``value``."""
    return _priced(price__lte=_price(value))


def in_stock(value: str) -> Q:
    """``true``: the products Oscar's default strategy lets a shopper buy now (``available``);
    ``false``: the rest, judged per family (a parent is unavailable when none of its public
    children is), so a family with one sold-out size is not listed as unavailable."""
    wanted = yes_or_no(str(value).strip())
    if wanted is None:
        raise ValueError("expected true or false")
    return available() if wanted else ~available() & Q(parent__isnull=True)


def available() -> Q:
    """Oscar's default availability (``partner.strategy.Default``: ``UseFirstStockRecord`` with
    ``StockRequired``), over any of a product's stock records: a stock record, and net stock
    (``num_in_stock - num_allocated``, an unset ``num_in_stock`` counting 0) above 0 unless the
    product class tracks no stock.  A parent is available when one of its public children is."""
    product = _model("catalogue", "Product")
    records = _public_stock_records()
    untracked = product._default_manager.filter(
        Q(product_class__track_stock=False) | Q(parent__product_class__track_stock=False)).values("pk")
    net_stock = records.filter(num_in_stock__gt=Coalesce(F("num_allocated"), 0)).values("product_id")
    sellable = Q(pk__in=records.values("product_id")) & (Q(pk__in=untracked) | Q(pk__in=net_stock))
    children = product._default_manager.filter(sellable, is_public=True, parent__isnull=False).values("parent_id")
    return (~Q(structure=product.PARENT) & sellable) | (Q(structure=product.PARENT) & Q(pk__in=children))


def _priced(**lookup) -> Q:
    return Q(pk__in=_public_stock_records().filter(**lookup).values("product_id"))


def _public_stock_records() -> QuerySet:
    # A hidden variant's stock never makes its family match.
    return _model("partner", "StockRecord")._default_manager.filter(product__is_public=True).order_by()


def _price(value: str) -> Decimal:
    """``value`` as a price a stock record's ``price`` column can be compared with."""
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("expected a number") from exc
    field = _model("partner", "StockRecord")._meta.get_field("price")
    bound = Decimal(10) ** (field.max_digits - field.decimal_places)
    if not price.is_finite() or abs(price) >= bound:
        raise ValueError(f"expected a number below {bound:,}")
    return price
