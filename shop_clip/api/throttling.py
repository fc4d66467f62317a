"""Rate limits for shop-clip's endpoints: DRF throttle scopes with defaults a store can change.

``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` sets ``shop_clip_image`` (photo search and shop the
look: each runs the model on an upload) and ``shop_clip_search`` (text search, look-alikes,
looks, tags); a scope set to None is not limited.  Counts live in Django's default cache, per
client address: the connection's own (``REMOTE_ADDR``), and ``X-Forwarded-For`` only when DRF's
``NUM_PROXIES`` says how many proxies in front of the store wrote it.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

IMAGE_SCOPE = "shop_clip_image"
SEARCH_SCOPE = "shop_clip_search"
DEFAULT_RATES = {IMAGE_SCOPE: "20/min", SEARCH_SCOPE: "120/min"}


class ShopClipRateThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` whose rates are read at each request, with shop-clip's defaults
    for scopes the store does not set (DRF's own class reads them once, at import)."""

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        return rates[self.scope] if self.scope in rates else DEFAULT_RATES.get(self.scope)

    def get_ident(self, request) -> str | None:
        # DRF trusts the whole X-Forwarded-For when NUM_PROXIES is unset, so any client could name
        # a new address with each request and never be limited.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR")
        return super().get_ident(request)
