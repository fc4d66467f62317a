"""A django-oscar product as search results show it: title, price, currency, availability, URL,
image and categories, priced by the shop's own strategy (``partner.strategy.Selector``), as Oscar's
templates price it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.urls import NoReverseMatch
from rest_framework import serializers

from shop_clip.api.serializers import IMAGE_REFS, ProductListSerializer
from shop_clip.contrib.oscar.categories import full_name_of, full_slug_of

__all__ = ["OscarProductSerializer", "Purchase", "purchase"]


@dataclass(frozen=True)
class Purchase:
    """What a shopper pays and whether they can buy now."""

    price: Decimal | None
    currency: str | None
    available: bool
    num_available: int | None  # None where the strategy tracks no stock level


class OscarProductSerializer(serializers.Serializer):
    """``{id, title, price, currency, available, num_available, url, image_url, category}``;
    ``category`` is always a list of ``{slug, name, full_name}``, the slug a full one
    (``clothing/t-shirts``), as ``?category=`` takes it, and the full name Oscar's ("Clothing > T-shirts").
    A parent's price is its lowest public child's; it is available when one of them is."""

    class Meta:
        list_serializer_class = ProductListSerializer

    def to_representation(self, product) -> dict[str, Any]:
        request = self.context.get("request")
        bought = purchase(self.strategy, product)
        return {
            "id": product.pk,
            "title": product.get_title(),
            "price": None if bought.price is None else str(bought.price),
            "currency": bought.currency,
            "available": bought.available,
            "num_available": bought.num_available,
            "url": _absolute(_product_url(product), request),
            "image_url": _absolute(_image_url(product, self.context.get(IMAGE_REFS)), request),
            "category": [{"slug": full_slug_of(category), "name": category.name, "full_name": full_name_of(category)}
                         for category in product.get_categories()],
        }

    @functools.cached_property
    def strategy(self):
        """The request's strategy (Oscar's basket middleware sets one), else the shop's Selector's."""
        request = self.context.get("request")
        strategy = getattr(request, "strategy", None)
        if strategy is not None:
            return strategy
        from oscar.core.loading import get_class

        user = getattr(request, "user", None)
        return get_class("partner.strategy", "Selector")().strategy(request=request, user=user)


def purchase(strategy, product) -> Purchase:
    """``product``'s price and availability under ``strategy`` (Oscar's ``fetch_for_product``;
    for a parent, over its public children)."""
    if not product.is_parent:
        info = strategy.fetch_for_product(product)
        return Purchase(*_amount(info.price), info.availability.is_available_to_buy,
                        _stock_level(info.availability))
    children = [strategy.fetch_for_product(child) for child in product.get_public_children()]
    prices = [_amount(info.price) for info in children if info.price.exists]
    price, currency = min(prices, key=lambda pair: pair[0]) if prices else (None, None)
    levels = [_stock_level(info.availability) for info in children]
    total = sum(levels) if levels and None not in levels else None
    available = strategy.fetch_for_parent(product).availability.is_available_to_buy
    return Purchase(price, currency, available, total)


def _amount(price) -> tuple[Decimal | None, str | None]:
    if not price.exists:
        return None, None
    return (price.incl_tax if price.is_tax_known else price.excl_tax), price.currency


def _stock_level(availability) -> int | None:
    level = getattr(availability, "num_available", None)  # StockRequired policies only
    return None if level is None else max(0, level)


def _product_url(product) -> str | None:
    try:
        return product.get_absolute_url()
    except NoReverseMatch:  # the shop has not included Oscar's URLs
        return None


def _image_url(product, page_refs: dict | None) -> str | None:
    """The image shop-clip matched for this product on this page, else Oscar's primary image (a
    child's parent's when it has none), else a parent's first public child's."""
    ref = page_refs.get(product.pk) if page_refs is not None else None
    if ref is not None:
        return ref.file.url
    candidates = [product, *([product.parent] if product.parent_id else []),
                  *(product.get_public_children() if product.is_parent else [])]
    for candidate in candidates:
        for image in candidate.images.all():  # in display order; prefetched by the catalog's product_queryset
            if image.original:
                return image.original.url
    return None


def _absolute(url: str | None, request) -> str | None:
    return request.build_absolute_uri(url) if url and request is not None else url
