"""What a page gets from the Python API: an answer, or the refusal it shows instead, with the
HTTP API's status and message, and the API's throttle scopes, whose counts the pages share."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request

from ..api.params import once_each
from ..api.refusals import refusal
from ..api.throttling import ShopClipRateThrottle
from ..read_db import reading


@dataclass(frozen=True)
class Outcome:
    """What a page got from the Python API: an answer, or the status and message of a refusal."""

    answer: Any = None
    status: int = 200
    error: str | None = None
    retry_after: int | None = None


def throttle_wait(request: HttpRequest, scope: str) -> int | None:
    """Seconds the shopper must wait when this request is over the scope's rate, else None; the
    pages and the API share the count."""
    throttle = ShopClipRateThrottle()
    shopper = Request(request)
    if hasattr(request, "user"):  # a signed-in shopper is counted by account, as the API counts them
        shopper.user = request.user
    if throttle.allow_request(shopper, SimpleNamespace(throttle_scope=scope)):
        return None
    return max(1, math.ceil(throttle.wait() or 1))


def ask(request: HttpRequest, scope: str, question: Callable[[], Any]) -> Outcome:
    """``question()``'s answer, or the refusal the page shows instead."""
    wait = throttle_wait(request, scope)
    if wait is not None:
        return Outcome(status=429, retry_after=wait,
                       error=f"Too many searches right now: try again in {wait} seconds.")
    try:
        once_each(request.GET)
        once_each(request.POST)
        once_each(request.FILES)
        with reading():  # the read database, as the API reads it
            return Outcome(question())
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        return Outcome(status=refused[0], error=refused[1])
