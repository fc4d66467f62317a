"""``{% load shop_clip %}``: look-alikes, complete the look and a search box on a store's own pages.

    {% similar_products product %}                    renders shop_clip/similar.html
    {% similar_products product limit=4 as items %}   a list of cards (.product .title .url .image_url)
    {% complete_the_look product %}                   renders shop_clip/complete_the_look.html
    {% complete_the_look product as rows %}           rows (.name .cards) per category
    {% search_box %}                                  renders shop_clip/search_box.html
    {% shop_clip_assets %}                            the optional stylesheet and the script

Each tag calls the Python API.  ``queryset=`` restricts the answer to the store's queryset,
``template=`` names another template, and any other keyword is one of the store's named filters
(``in_stock="true"``).  A product without a vector yet, or an index not built yet, shows nothing:
a product page never fails because of shop-clip.  A tag given what it cannot take (another model's
object, ``limit="abc"``) logs an error saying which, and shows nothing; with ``DEBUG`` it raises.
"""

from __future__ import annotations

import logging
from inspect import getfullargspec, unwrap
from typing import Any

from django import template
from django.conf import settings
from django.template.library import parse_bits
from django.templatetags.static import static
from django.utils.html import format_html

from .. import look, search
from ..catalog import FilterError, UnknownFilter
from ..errors import NotEmbedded, ProductNotFound, QueryError
from ..read_db import ReadDatabaseUnavailable
from ..spaces import NoActiveSpace
from ..storefront.cards import Card, LookRow, cards_for, look_rows
from ..storefront.links import page_url, search_field_context

register = template.Library()
logger = logging.getLogger("shop_clip.storefront")

# What a product page shows as "nothing to suggest" rather than an error.
QUIET = (NotEmbedded, ProductNotFound, NoActiveSpace, QueryError, FilterError)


def template_number(value: Any) -> Any:
    """A number a template wrote as text (``limit="4"``) as an int; anything else as it came."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return value


def misused(tag: str, exc: TypeError | UnknownFilter) -> None:
    """A template's mistake: the developer sees it with DEBUG, the shopper never does."""
    if settings.DEBUG:
        raise template.TemplateSyntaxError(f"{{% {tag} %}}: {exc}") from exc
    logger.error("{%% %s %%} shows nothing: %s", tag, exc)


def similar_cards(product: Any, limit: int = 8, queryset: Any = None, **filters: Any) -> list[Card]:
    """Look-alikes of ``product`` (an instance or its key) as cards; none when it cannot have any yet."""
    if product in (None, ""):
        return []
    try:
        return cards_for(search.similar(product, queryset=queryset, filters=filters or None,
                                        limit=template_number(limit)).hits)
    except (TypeError, UnknownFilter) as exc:  # the template's mistake, before a value's (QUIET)
        misused("similar_products", exc)
    except QUIET as exc:
        logger.info("no look-alikes for product %s: %s", getattr(product, "pk", product), exc)
    except ReadDatabaseUnavailable as exc:  # the store's page still renders, without them
        logger.warning("no look-alikes for product %s: %s", getattr(product, "pk", product), exc)
    return []


def look_of(product: Any, categories: int | None = None, per_category: int | None = None, queryset: Any = None,
            **filters: Any) -> list[LookRow]:
    """Complete the look of ``product``: a row per category that goes with it; none when it cannot."""
    if product in (None, ""):
        return []
    try:
        return look_rows(look.complete_the_look(product, queryset=queryset, filters=filters or None,
                                                categories=template_number(categories),
                                                per_category=template_number(per_category)))
    except (TypeError, UnknownFilter) as exc:  # the template's mistake, before a value's (QUIET)
        misused("complete_the_look", exc)
    except QUIET as exc:
        logger.info("no look for product %s: %s", getattr(product, "pk", product), exc)
    except ReadDatabaseUnavailable as exc:  # the store's page still renders, without it
        logger.warning("no look for product %s: %s", getattr(product, "pk", product), exc)
    return []


class AnswerNode(template.Node):
    """Calls ``fetch`` with the tag's arguments: stores the answer as ``as <name>`` says, or renders
    ``template_name`` (``template=`` overrides it) with the answer as ``items``."""

    def __init__(self, fetch, template_name: str, args, kwargs, target: str | None) -> None:
        self.fetch, self.template_name, self.args, self.kwargs, self.target = fetch, template_name, args, kwargs, target

    def render(self, context: template.Context) -> str:
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {name: value.resolve(context) for name, value in self.kwargs.items()}
        name = kwargs.pop("template", None) or self.template_name
        items = self.fetch(*args, **kwargs)
        if self.target:
            context[self.target] = items
            return ""
        chosen = context.template.engine.get_template(name)
        return chosen.render(context.new({"items": items, "product": args[0] if args else None,
                                          "request": context.get("request")}))


def answer_tag(name: str, fetch, template_name: str) -> None:
    """Register ``{% name args... [as var] %}`` over ``fetch``."""
    spec = getfullargspec(unwrap(fetch))

    def compile_tag(parser, token):
        bits = token.split_contents()[1:]
        target = None
        if len(bits) >= 2 and bits[-2] == "as":
            target, bits = bits[-1], bits[:-2]
        args, kwargs = parse_bits(
            parser, bits, spec.args, spec.varargs, spec.varkw, spec.defaults, spec.kwonlyargs,
            spec.kwonlydefaults, False, name)
        return AnswerNode(fetch, template_name, args, kwargs, target)

    register.tag(name, compile_tag)


answer_tag("similar_products", similar_cards, "shop_clip/similar.html")
answer_tag("complete_the_look", look_of, "shop_clip/complete_the_look.html")


@register.inclusion_tag("shop_clip/search_box.html", takes_context=True)
def search_box(context: template.Context, id: str = "shop-clip-search-box", label: str = "Search products",
               placeholder: str = "Describe it: red striped cotton t-shirt") -> dict:
    """A search form that goes to the storefront's results page and suggests products as one types."""
    request = context.get("request")
    return {"field_id": id, "label": label, "placeholder": placeholder, "action": page_url("search"),
            "query": request.GET.get("q", "") if request is not None else "", **search_field_context()}


@register.simple_tag
def shop_clip_assets() -> str:
    """The stylesheet and the script (deferred): both optional, both static files, no build step."""
    return format_html('<link rel="stylesheet" href="{}">\n<script src="{}" defer></script>',
                       static("shop_clip/shop_clip.css"), static("shop_clip/shop_clip.js"))
