"""Hits as the templates show them: the product, its title, its picture and where it links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..catalog import display_names, get_catalog
from ..read_db import reads
from ..results import Box, Hit, Look
from .links import product_url


@dataclass(frozen=True)
class Card:
    """One product in a grid: ``product`` is the store's own instance, for templates that show more."""

    product: Any
    title: str
    url: str | None
    image_url: str | None
    category: str
    score: float | None = None


def product_title(product: Any) -> str:
    """What a product is called: its first text field (``SHOP_CLIP["TEXT_FIELDS"]``), else ``str()``."""
    fields = get_catalog().text_fields
    value = getattr(product, fields[0], None) if fields else None
    return str(value).strip() if value else str(product)


@reads
def cards_for(hits: Sequence[Hit]) -> list[Card]:
    """Cards for hits, in their order, with every picture found in one query per image source:
    the image that matched (a family's hit shows its variant's), else the product's first.  Read
    where the answers are (``READ_DATABASE``), also while a template renders them."""
    catalog = get_catalog()
    wanted = {hit.product.pk for hit in hits} | {hit.variant.pk for hit in hits if hit.variant is not None}
    refs = catalog.image_refs(wanted)
    by_key = {(ref.product_id, ref.key): ref for ref in refs}
    first: dict[Any, Any] = {}
    for ref in refs:
        first.setdefault(ref.product_id, ref)
    names = _category_names(hit.product for hit in hits)
    cards = []
    for hit in hits:
        owner = hit.variant.pk if hit.variant is not None else hit.product.pk
        ref = by_key.get((owner, hit.image_key)) or first.get(owner) or first.get(hit.product.pk)
        values = catalog.category_values(hit.product)
        cards.append(Card(hit.product, product_title(hit.product), product_url(hit.product),
                          ref.file.url if ref is not None else None,
                          ", ".join(names.get(value, value) for value in values), hit.score))
    return cards


@dataclass(frozen=True)
class LookRow:
    """One category of a look: its products, where a scene photo shows it (``box``) and how sure
    that region's category is (``confidence``, 0 to 1)."""

    number: int
    category: str
    name: str
    cards: list[Card]
    box: Box | None = None
    confidence: float | None = None

    @property
    def confidence_percent(self) -> int | None:
        return None if self.confidence is None else round(100 * self.confidence)

    @property
    def box_style(self) -> str:
        """The box as CSS percentages of the photo (numbers only: nothing a shopper sent)."""
        if self.box is None:
            return ""
        x0, y0, x1, y1 = (100 * float(value) for value in self.box)
        return f"left:{x0:.2f}%;top:{y0:.2f}%;width:{x1 - x0:.2f}%;height:{y1 - y0:.2f}%"


@reads
def look_rows(look: Look) -> list[LookRow]:
    """A row per group of ``look``, best first, with every card's picture in one query."""
    cards = cards_for([hit for group in look.groups for hit in group.hits])
    names = display_names(group.category for group in look.groups)
    rows, start = [], 0
    for number, group in enumerate(look.groups, 1):
        rows.append(LookRow(number, group.category, names.get(group.category, group.category),
                            cards[start:start + len(group.hits)], group.box, group.confidence))
        start += len(group.hits)
    return rows


def unmatched_names(look: Look) -> list[str]:
    """The names of the categories a scene photo shows that no product under the filters matches."""
    names = display_names(look.unmatched)
    return [names.get(category, category) for category in look.unmatched]


def product_card(product: Any) -> Card:
    """The card of one product, outside any answer (a product page's own picture)."""
    return replace(cards_for([Hit(product, 0.0)])[0], score=None)


def _category_names(products: Iterable[Any]) -> dict[str, str]:
    catalog = get_catalog()
    return display_names(value for product in products for value in catalog.category_values(product))
