"""HTTP for the search services: validation errors are 400, unknown products 404,
products without vectors 409, uploads over the limit 413, throttled clients 429, an index not
built yet or a read database that cannot answer 503 — each with a message.  No input a shopper sends reaches a 500."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.http import Http404, QueryDict
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import NotAcceptable
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.versioning import QueryParameterVersioning
from rest_framework.views import APIView

from .. import look, search, tagging
from ..catalog import display_names, get_catalog
from ..conf import shop_clip_settings
from ..errors import QueryError
from ..images import read_limited
from ..read_db import on_read, reading
from ..results import Look, Mode, Page
from ..status import index_status
from .params import filters_of, look_sizes, once_each, paging, refuse_unknown
from .refusals import refusal
from .serializers import (
    ErrorSerializer,
    LookSerializer,
    PageSerializer,
    ProductTagsSerializer,
    StatusSerializer,
    serialize_hits,
)
from .throttling import IMAGE_SCOPE, SEARCH_SCOPE, ShopClipRateThrottle
from .uploads import LimitedMemoryUploadHandler, refuse_declared_length

logger = logging.getLogger("shop_clip.api")


def _bounded(name: str, low: int, high: int, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": low, "maximum": high}, description=description)


PAGING = [_bounded("limit", 1, shop_clip_settings.MAX_LIMIT), _bounded("offset", 0, search.MAX_OFFSET)]
LOOK_PARAMS = [_bounded("categories", 1, look.MAX_GROUPS, "groups (categories) in the answer"),
               _bounded("per_category", 1, look.MAX_GROUPS, "products in each group")]
PHOTO_UPLOAD = {"multipart/form-data": {
    "type": "object", "properties": {"image": {"type": "string", "format": "binary"}}, "required": ["image"]}}
SEARCH_MODE = OpenApiParameter(
    "mode", str, enum=[mode.value for mode in Mode],
    description="hybrid (default where keyword search is on): nearest products fused with those whose text "
                "contains every word; vector: nearest only; keyword: every word required, nearest first")


def filter_parameters() -> list[OpenApiParameter]:
    """The store's named filters and tag filters, as the settings name them when the schema is built."""
    catalog = get_catalog()
    return [
        *(OpenApiParameter(name, str, description=f"filter: {lookup_words(lookup)}")
          for name, lookup in catalog.filters.items()),
        *(OpenApiParameter(name, str, description="filter: computed by the store")
          for name in getattr(catalog, "filter_callables", {})),
        *(OpenApiParameter(name, str, description=f"filter: zero-shot {name} tag")
          for name in shop_clip_settings.TAG_FILTERS or ()),
    ]


LOOKUP_WORDS = {"gte": "at least", "lte": "at most", "gt": "over", "lt": "under", "exact": "is",
                "iexact": "is (any case)", "contains": "contains", "icontains": "contains (any case)"}


def lookup_words(lookup: str) -> str:
    """A filter's ORM lookup as a client reads it: ``price__gte`` is "price at least the value"
    (the schema is public; the store's field paths are not the client's business)."""
    *path, last = str(lookup).split("__")
    operator = LOOKUP_WORDS.get(last)
    if operator is None:
        path, operator = [*path, last], "is"
    return f"{' '.join(path).replace('_', ' ')} {operator} the value"


class ShopClipSchema(AutoSchema):
    """drf-spectacular's schema, with the store's filters on the operations that take them."""

    def get_description(self):
        # An operation is described by its summary: the views' docstrings are for developers.
        return ""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        return [*parameters, *filter_parameters()] if getattr(self.view, "takes_filters", False) else parameters


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    meaning = {400: "the request is invalid (a value, or a parameter the operation does not take); `detail` says how",
               404: "no such product",
               409: "the product has no vector yet, or could not be embedded",
               413: "the upload is larger than the limit", 429: "too many requests; see Retry-After",
               503: "no index is ready yet"}
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code]) for code in codes}


def documented(**details):
    """``extend_schema`` built on drf-spectacular's schema class whatever the store's
    ``DEFAULT_SCHEMA_CLASS`` (which the decorator otherwise extends, at import)."""
    def decorate(method):
        method.kwargs = {"schema": ShopClipSchema}
        return extend_schema(**details)(method)
    return decorate


def _error(message: str, code: int) -> Response:
    return Response({"detail": message}, status=code)


class SearchServiceView(APIView):
    """Translates the search service's exceptions into HTTP answers."""

    schema = ShopClipSchema()  # whatever the store's DEFAULT_SCHEMA_CLASS, shop-clip's schema is OpenAPI 3
    takes_filters = True  # the store's named filters narrow the answer
    throttle_scope = SEARCH_SCOPE
    reads_answers = True  # the answer is read from SHOP_CLIP["READ_DATABASE"] (read_db.py)

    def get_throttles(self):
        return [*super().get_throttles(), ShopClipRateThrottle()]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (CSRF checks of signed-in staff read the form).
        request.upload_handlers = [LimitedMemoryUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    own_params: tuple[str, ...] = ()  # the query's names that are not the store's filters

    def initial(self, request, *args, **kwargs):
        refuse_declared_length(request.META)
        super().initial(request, *args, **kwargs)
        once_each(request.GET)
        # An upload's names are its query string's and form's (upload_params); a method the view
        # does not take is told 405 by the handler.
        if request.method != "POST" and hasattr(self, request.method.lower()):
            refuse_unknown(request.GET, self.taken_params(), takes_filters=self.takes_filters)

    def taken_params(self) -> tuple[str, ...]:
        """``own_params``, and the version's name where the store versions its API by the query."""
        versioning = self.versioning_class
        if versioning is not None and issubclass(versioning, QueryParameterVersioning):
            return (*self.own_params, versioning.version_param)
        return self.own_params

    def filters(self, params: QueryDict) -> QueryDict:
        """The store's filters among ``params``."""
        return filters_of(params, self.taken_params())

    def upload_params(self, request) -> QueryDict:
        """``_upload_params``, each name one the operation takes."""
        params = _upload_params(request)
        refuse_unknown(params, self.taken_params(), takes_filters=self.takes_filters)
        return params

    def dispatch(self, request, *args, **kwargs):
        if not self.reads_answers:
            return super().dispatch(request, *args, **kwargs)
        with reading():  # the product lookup, the search and the serializers' reads: one database
            return super().dispatch(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404 as exc:  # a ?format= no renderer has: DRF's bare "Not found." says nothing of it
            formats = ", ".join(renderer.format for renderer in self.get_renderers())
            raise NotAcceptable(f"format must be one of {formats}") from exc

    def handle_exception(self, exc):
        refused = refusal(exc)
        if refused is not None:
            return _error(refused[1], refused[0])
        return super().handle_exception(exc)

    def page_response(self, request, page: Page) -> Response:
        results = serialize_hits(page.hits, {"request": request})
        next_url = None
        if page.more:
            query = request.GET.copy()
            query["offset"] = str(page.offset + page.limit)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"results": results, "count": len(results), "limit": page.limit,
                         "offset": page.offset, "next": next_url, "model": page.model_id})

    def look_response(self, request, result: Look) -> Response:
        # One product serializer for every group's hits: one query per image source, not per group.
        results = serialize_hits([hit for group in result.groups for hit in group.hits], {"request": request})
        names = display_names([group.category for group in result.groups])
        groups, start = [], 0
        for group in result.groups:
            groups.append({"category": group.category, "name": names[group.category],
                           "score": round(float(group.score), 6),
                           "box": None if group.box is None else [round(v, 4) for v in group.box],
                           "confidence": group.confidence,
                           "results": results[start:start + len(group.hits)]})
            start += len(group.hits)
        return Response({"groups": groups, "unmatched": list(result.unmatched), "model": result.model_id})


class SearchView(SearchServiceView):
    own_params = ("q", "mode", "limit", "offset")

    @documented(summary="Natural-language product search",
                   parameters=[OpenApiParameter("q", {"type": "string", "minLength": 1,
                                                      "maxLength": shop_clip_settings.MAX_QUERY_LENGTH},
                                                required=True), SEARCH_MODE, *PAGING],
                   responses={200: PageSerializer, **_errors(400, 429, 503)})
    def get(self, request):
        return self.page_response(request, search.search(
            request.GET.get("q"), filters=self.filters(request.GET), mode=request.GET.get("mode"),
            **paging(request.GET)))


class ImageSearchView(SearchServiceView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = IMAGE_SCOPE
    own_params = ("image", "limit", "offset")

    @documented(summary="Visual search: upload a photo (multipart field 'image')",
                   parameters=[*PAGING], responses={200: PageSerializer, **_errors(400, 413, 429, 503)},
                   request=PHOTO_UPLOAD)
    def post(self, request):
        params = self.upload_params(request)
        return self.page_response(request, search.search_by_image(
            _uploaded_photo(request), filters=self.filters(params), **paging(params)))


def _product_pk(pk: str):
    """The stored primary key of product ``pk``; 404 when there is none, or shoppers may not see it."""
    catalog = get_catalog()
    try:
        products = on_read(catalog.visible(catalog.products()))
        return products.only("pk").get(pk=catalog.product_model._meta.pk.to_python(pk)).pk
    except (catalog.product_model.DoesNotExist, ValidationError, ValueError) as exc:
        raise Http404(f"no product with id {pk!r}") from exc


def _upload_params(request) -> QueryDict:
    """An upload's paging and filters: the query string's and the form's other fields (a form that
    posts ``limit`` beside the photo means it), each named in one of them only (the view's
    ``upload_params`` refuses names it does not take)."""
    once_each(request.POST)
    once_each(request.FILES)  # two photos: the answer would be the last one's
    both = sorted(set(request.GET) & set(request.POST))
    if both:
        raise QueryError(f"{', '.join(both)} given both in the query string and as a form field; send each once")
    params = request.GET.copy()
    for name, values in request.POST.lists():
        params.setlist(name, values)
    return params


def _uploaded_photo(request) -> bytes:
    """The multipart ``image``'s bytes, at most ``MAX_UPLOAD_BYTES``; the API decodes them
    through the image door as the indexer decodes product images."""
    upload = request.FILES.get("image")
    if upload is None:
        raise QueryError("send the photo as multipart form field 'image'")
    return read_limited(upload, shop_clip_settings.MAX_UPLOAD_BYTES)


class SimilarView(SearchServiceView):
    own_params = ("limit", "offset")

    @documented(summary="Look-alike products", parameters=[*PAGING],
                   responses={200: PageSerializer, **_errors(400, 404, 409, 429, 503)})
    def get(self, request, pk: str):
        return self.page_response(request, search.similar(_product_pk(pk), filters=self.filters(request.GET),
                                                                **paging(request.GET)))


class CompleteTheLookView(SearchServiceView):
    own_params = ("categories", "per_category")

    @documented(summary="Complete the look: matching products from other categories",
                   parameters=[*LOOK_PARAMS],
                   responses={200: LookSerializer, **_errors(400, 404, 409, 429, 503)})
    def get(self, request, pk: str):
        return self.look_response(request, look.complete_the_look(
            _product_pk(pk), filters=self.filters(request.GET), **look_sizes(request.GET)))


class ShopTheLookView(SearchServiceView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = IMAGE_SCOPE
    own_params = ("image", "categories", "per_category")

    @documented(summary="Shop the look: the products a scene photo shows (multipart field 'image')",
                   parameters=[*LOOK_PARAMS],
                   responses={200: LookSerializer, **_errors(400, 413, 429, 503)},
                   request=PHOTO_UPLOAD)
    def post(self, request):
        params = self.upload_params(request)
        return self.look_response(request, look.shop_the_look(
            _uploaded_photo(request), filters=self.filters(params), **look_sizes(params)))


class ProductTagsView(SearchServiceView):
    takes_filters = False
    @documented(summary="Zero-shot tags of a product (colour, pattern, ... as SHOP_CLIP['TAGS'] names them)",
                   responses={200: ProductTagsSerializer, **_errors(400, 404, 409, 429, 503)})
    def get(self, request, pk: str):
        product_id = _product_pk(pk)
        return Response({"product": product_id, **tagging.product_tags(product_id)})


class StatusView(SearchServiceView):
    takes_filters = False
    reads_answers = False  # indexing progress: the primary's
    @documented(summary="Indexing progress", responses={200: StatusSerializer, **_errors(400, 429)})
    def get(self, request):
        status = index_status()
        # Which Python class embeds is the server's business: staff read it in the admin and the command.
        status["models"] = [{key: value for key, value in row.items() if key != "backend"} for row in status["models"]]
        return Response(status)


class ShopClipSchemaView(SpectacularAPIView):
    """The OpenAPI schema of shop-clip's own operations: a store's other views may carry a schema
    class drf-spectacular cannot read, and their documentation is the store's."""

    urlconf = "shop_clip.api.urls"
    schema = ShopClipSchema()

    @documented(exclude=True)
    def get(self, request, *args, **kwargs):
        mounted_at = request.path[: -len("schema/")].rstrip("/")  # where the store included these URLs
        self.custom_settings = {"SCHEMA_PATH_PREFIX_INSERT": mounted_at, "SCHEMA_PATH_PREFIX": ""}
        return super().get(request, *args, **kwargs)
