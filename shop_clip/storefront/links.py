"""Where the pages, the tags and the script link to: the store's product pages, the storefront's
own pages and the JSON API, wherever the store included each."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from ..arguments import filter_names
from ..conf import shop_clip_settings

STOREFRONT = "shop_clip_storefront"  # the URL namespace of storefront/urls.py
API = "shop_clip"                    # the URL namespace of api/urls.py
PK_PLACEHOLDER = "__pk__"            # the script puts a product's key here
SUGGEST_MIN_LENGTH = 3               # characters typed before the script asks for suggestions
SUGGEST_DEBOUNCE_MS = 300            # quiet time after the last keystroke before it asks


def page_url(name: str, *args: Any) -> str | None:
    """A storefront page's URL, or None where the store did not include the storefront."""
    try:
        return reverse(f"{STOREFRONT}:{name}", args=args)
    except NoReverseMatch:
        return None


def api_url(name: str, *args: Any) -> str | None:
    """A JSON endpoint's URL, or None where the store did not include the API."""
    try:
        return reverse(f"{API}:{name}", args=args)
    except NoReverseMatch:
        return None


def product_url(product: Any) -> str | None:
    """The product's page: its ``get_absolute_url()`` (or ``ABSOLUTE_URL_OVERRIDES``), else the
    storefront's own product page where the store includes the storefront, else None."""
    if hasattr(product, "get_absolute_url"):
        return product.get_absolute_url()
    return page_url("product", product.pk)


def script_links() -> dict[str, str | None]:
    """The URLs the script calls: text search for suggestions, and the product page of a key."""
    return {"suggest": api_url("search"), "product": page_url("product", PK_PLACEHOLDER)}


def search_field_context() -> dict:
    """What a search field's template needs: the script's URLs and its limits."""
    names = filter_names()
    return {"links": script_links(), "max_length": shop_clip_settings.MAX_QUERY_LENGTH,
            "min_length": SUGGEST_MIN_LENGTH, "debounce": SUGGEST_DEBOUNCE_MS,
            # The form's names the API's search takes (None: the catalog does not say, and it refuses none).
            "suggest_params": None if names is None else " ".join(sorted({*names, "mode"}))}
