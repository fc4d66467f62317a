"""The storefront's pages: text search, photo search, shop the look and a product page.

Each extends the store's base template (``SHOP_CLIP["BASE_TEMPLATE"]``), works without JavaScript
and answers what the Python API refuses with the HTTP API's message and status (400, 409, 413,
429, 503) on the page itself; a method a page does not take is a 405 page, not Django's blank one.
Pages that run the model count against the API's throttle scopes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt

from .. import look, search
from ..api.params import look_sizes, paging
from ..api.refusals import refusal
from ..api.throttling import IMAGE_SCOPE, SEARCH_SCOPE
from ..api.uploads import LimitedMemoryUploadHandler, UploadTooLarge, refuse_declared_length
from ..arguments import named_filters
from ..catalog import get_catalog
from ..conf import shop_clip_settings
from ..keywords import keyword_search_enabled
from ..query_vectors import tidy_words
from ..read_db import ReadDatabaseUnavailable, on_read, reading
from ..results import Page
from .answers import Outcome, ask
from .cards import cards_for, look_rows, product_card, unmatched_names
from .filters import filter_fields
from .links import product_url, script_links, search_field_context
from .photos import COPY_FIELD, PHOTO_FIELD, data_url, display_copy, from_data_url, search_copy, uploaded_photo

logger = logging.getLogger("shop_clip.storefront")


def base_template() -> str:
    """The template every page extends: ``SHOP_CLIP["BASE_TEMPLATE"]``, a minimal one by default;
    it must define a ``content`` block and may define ``title``."""
    return shop_clip_settings.BASE_TEMPLATE


def render_page(request: HttpRequest, template: str, context: dict, outcome: Outcome | None = None) -> HttpResponse:
    outcome = outcome or Outcome()
    context = {"base_template": base_template(), "links": script_links(), "error": outcome.error,
               "max_upload_bytes": shop_clip_settings.MAX_UPLOAD_BYTES, **context}
    response = TemplateResponse(request, template, context, status=outcome.status)
    if outcome.retry_after:
        response["Retry-After"] = str(outcome.retry_after)
    return response


NOT_ALLOWED = "This page cannot take what was sent to it: open it from the shop's menu and search from there."


def allow_methods(allowed: list[str]):
    """Django's ``require_http_methods``, answered with a page saying so (Django's 405 is blank)."""
    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in allowed:
                return view(request, *args, **kwargs)
            logger.info("a %s request to %s was refused: the page takes %s", request.method, request.path,
                        ", ".join(allowed))
            response = render_page(request, "shop_clip/notice.html", {"title": "This page cannot take that"},
                                   Outcome(status=405, error=NOT_ALLOWED))
            response["Allow"] = ", ".join(allowed)
            return response
        return checked
    return decorate


def results_context(params: Mapping[str, Any], page: Page) -> dict:
    """A page of results: its cards, the position of its first, and the links to its neighbours."""
    def link(offset: int) -> str:
        query = params.copy() if isinstance(params, QueryDict) else QueryDict(mutable=True)
        query["offset"] = str(offset)
        return f"?{query.urlencode()}"

    more = page.more
    return {"cards": cards_for(page.hits), "page": page, "first_number": page.offset + 1,
            "last_number": page.offset + len(page.hits),
            "next_url": link(page.offset + page.limit) if more else None,
            "previous_url": link(max(0, page.offset - page.limit)) if page.offset else None,
            "next_offset": page.offset + page.limit if more else None}


def shown_mode(mode: str | None) -> str:
    """The mode the form shows selected: the one the search reads (``MODE`` as ``mode``)."""
    return (mode or "").strip().lower()


def mode_choices() -> list[tuple[str, str]]:
    """How text search may rank, where keyword search is on."""
    if not keyword_search_enabled():
        return []
    return [("", "Looks and words"), ("vector", "Looks only"), ("keyword", "Every word")]


@csrf_exempt  # it takes no POST: a POST is then told 405, not refused for a token it never needs
@allow_methods(["GET", "HEAD"])
def search_page(request: HttpRequest) -> HttpResponse:
    """Results for ``?q=`` with the store's filters, a page at a time (``limit``, ``offset``)."""
    refused = None
    try:
        params = request.GET
    except SuspiciousOperation as exc:  # more parameters than Django parses: the API's answer, on the page
        status, message = refusal(exc)
        params, refused = QueryDict(), Outcome(status=status, error=message)
    query = tidy_words(params.get("q"))  # as the search reads it: no NUL written into the page
    context = {"query": query, "filters": filter_fields(params), "modes": mode_choices(),
               "mode": shown_mode(params.get("mode")), "shop_clip_page": "search", "photo_field": PHOTO_FIELD,
               **search_field_context()}
    if refused or not query:
        return render_page(request, "shop_clip/search.html", context, refused)
    # A page's link may carry a campaign's names (utm_source): only the store's filters filter.
    outcome = ask(request, SEARCH_SCOPE, lambda: search.search(
        query, filters=named_filters(params), mode=params.get("mode"), **paging(params)))
    if outcome.answer is not None:
        context.update(results_context(params, outcome.answer))
    return render_page(request, "shop_clip/search.html", context, outcome)


FORM_EXPIRED = ("This form has expired, or your browser did not send this shop's cookie: reload the page "
                "and choose the photo again.")


def with_limited_upload(view: Callable[[HttpRequest], HttpResponse], refused_template: str):
    """``view`` reading POSTed photos as the API does: in memory, refused past ``MAX_UPLOAD_BYTES``
    with a message; the CSRF check runs after (it reads the form, which sets the upload handlers)."""

    class FormCsrf(CsrfViewMiddleware):
        # Django's CSRF page speaks to developers; a shopper with an expired form is told what to do.
        def _reject(self, request, reason):
            logger.info("a photo form was refused by the CSRF check: %s", reason)
            return render_page(request, refused_template, photo_form_context(QueryDict(), refused_template),
                               Outcome(status=403, error=FORM_EXPIRED))

    protected = decorator_from_middleware(FormCsrf)(view)

    @csrf_exempt
    def upload_view(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            request.upload_handlers = [LimitedMemoryUploadHandler(request)]
            try:
                refuse_declared_length(request.META)
                request.POST, request.FILES  # noqa: B018 - parsed here, within the limit
            except MultiPartParserError:  # Django's bare "Bad Request (400)" page said nothing
                return render_page(request, refused_template, photo_form_context(QueryDict(), refused_template),
                                   Outcome(status=400, error="The form could not be read: choose the photo and "
                                                             "send the form again."))
            except (UploadTooLarge, RequestDataTooBig, SuspiciousOperation) as exc:
                status, message = refusal(exc)
                return render_page(request, refused_template, photo_form_context(QueryDict(), refused_template),
                                   Outcome(status=status, error=message))
        return protected(request)

    upload_view.__doc__ = view.__doc__
    return allow_methods(["GET", "HEAD", "POST"])(upload_view)


def photo_form_context(params: Mapping[str, Any], template: str) -> dict:
    page = "look" if template.endswith("shop_the_look.html") else "photo"
    return {"filters": filter_fields(params), "shop_clip_page": page, "photo_field": PHOTO_FIELD,
            "copy_field": COPY_FIELD}


def _photo_search(request: HttpRequest) -> HttpResponse:
    """Upload a photo (``image``), then the products that look like it, a page at a time."""
    template = "shop_clip/photo_search.html"
    context = photo_form_context(request.POST, template)
    if request.method != "POST":
        return render_page(request, template, context)

    def question() -> tuple[bytes, Page]:
        posted_copy = request.POST.get(COPY_FIELD) if PHOTO_FIELD not in request.FILES else None
        # The next page searches the copy the first one did, byte for byte.
        photo = from_data_url(posted_copy) if posted_copy else search_copy(uploaded_photo(request))
        return photo, search.search_by_image(photo, filters=named_filters(request.POST), **paging(request.POST))

    outcome = ask(request, IMAGE_SCOPE, question)
    if outcome.answer is not None:
        photo, page = outcome.answer
        context.update(results_context(request.POST, page), photo_url=data_url(photo))
    return render_page(request, template, context, outcome)


def _shop_the_look(request: HttpRequest) -> HttpResponse:
    """Upload a scene photo (``image``), then the photo with a box on each product found and a
    row of matching products for each."""
    template = "shop_clip/shop_the_look.html"
    context = photo_form_context(request.POST, template)
    if request.method != "POST":
        return render_page(request, template, context)

    def question():
        photo = uploaded_photo(request)
        answer = look.shop_the_look(photo, filters=named_filters(request.POST), **look_sizes(request.POST))
        return display_copy(photo), answer

    outcome = ask(request, IMAGE_SCOPE, question)
    if outcome.answer is not None:
        photo_url, answer = outcome.answer
        context.update(photo_url=photo_url, rows=look_rows(answer), unmatched=unmatched_names(answer), answered=True)
    return render_page(request, template, context, outcome)


photo_search_page = with_limited_upload(_photo_search, "shop_clip/photo_search.html")
shop_the_look_page = with_limited_upload(_shop_the_look, "shop_clip/shop_the_look.html")


@csrf_exempt  # as search_page
@allow_methods(["GET", "HEAD"])
def product_page(request: HttpRequest, pk: str) -> HttpResponse:
    """A product shoppers may see: its own page where the store has one (``get_absolute_url``),
    else a page of its own with "more like this" and "complete the look"."""
    catalog = get_catalog()
    try:
        with reading():  # where the answers that link here were read
            product = on_read(catalog.visible(catalog.product_queryset())).get(
                pk=catalog.product_model._meta.pk.to_python(pk))
            card = None if hasattr(product, "get_absolute_url") else product_card(product)
    except (catalog.product_model.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise Http404(f"no product with id {pk!r}") from exc
    except ReadDatabaseUnavailable as exc:
        return render_page(request, "shop_clip/notice.html", {"title": "Try again shortly"},
                           Outcome(status=503, error=str(exc)))
    if hasattr(product, "get_absolute_url"):
        return redirect(product_url(product))
    return render_page(request, "shop_clip/product.html", {"product": product, "card": card,
                                                           "shop_clip_page": "product"})
