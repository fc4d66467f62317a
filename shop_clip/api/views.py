"""HTTP for the search services: validation errors are 400, unknown products 404,
products without vectors 409, an index not built yet 503 — each with a message."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import look, search, tagging
from ..catalog import FilterError, get_catalog
from ..conf import shop_clip_settings
from ..encoders import get_encoder
from ..images import ImageRejected, decode_size, load_image, read_limited
from ..spaces import NoActiveSpace, active_space
from ..status import index_status
from .serializers import LookSerializer, PageSerializer, ProductTagsSerializer, StatusSerializer, serialize_hits

PAGING = [OpenApiParameter("limit", int), OpenApiParameter("offset", int)]
LOOK_PARAMS = [OpenApiParameter("categories", int, description="groups (categories) in the answer"),
               OpenApiParameter("per_category", int, description="products in each group")]
PHOTO_UPLOAD = {"multipart/form-data": {
    "type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}}
SEARCH_MODE = OpenApiParameter(
    "mode", str, enum=list(search.SEARCH_MODES),
    description="hybrid (default where keyword search is on): nearest products fused with those whose text "
                "contains every word; vector: nearest only; keyword: every word required, nearest first")
# The store's own filters and tag filters, as its settings name them when the URLs load.
FILTER_PARAMS = [
    *(OpenApiParameter(name, str, description=f"filter: {lookup}")
      for name, lookup in shop_clip_settings.FILTERS.items()),
    *(OpenApiParameter(name, str, description=f"filter: zero-shot {name} tag")
      for name in shop_clip_settings.TAG_FILTERS or ()),
]


def _error(message: str, code: int) -> Response:
    return Response({"detail": message}, status=code)


class SearchServiceView(APIView):
    """Translates the search service's exceptions into HTTP answers."""

    def handle_exception(self, exc):
        if isinstance(exc, (search.QueryError, FilterError, ImageRejected)):
            return _error(str(exc), status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, (search.NotEmbedded, tagging.NotTagged)):
            return _error(str(exc), status.HTTP_409_CONFLICT)
        if isinstance(exc, NoActiveSpace):
            return _error(str(exc), status.HTTP_503_SERVICE_UNAVAILABLE)
        return super().handle_exception(exc)

    def page_response(self, request, page: search.Page) -> Response:
        results = serialize_hits(page.hits, {"request": request})
        next_url = None
        if len(page.hits) == page.limit:
            query = request.GET.copy()
            query["offset"] = str(page.offset + page.limit)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"results": results, "count": len(results), "limit": page.limit,
                         "offset": page.offset, "next": next_url, "model": page.model_id})

    def look_response(self, request, result: look.Look) -> Response:
        # One product serializer for every group's hits: one query per image source, not per group.
        results = serialize_hits([hit for group in result.groups for hit in group.hits], {"request": request})
        groups, start = [], 0
        for group in result.groups:
            groups.append({"category": group.category, "score": round(float(group.score), 6),
                           "box": None if group.box is None else [round(v, 4) for v in group.box],
                           "results": results[start:start + len(group.hits)]})
            start += len(group.hits)
        return Response({"groups": groups, "model": result.model_id})


class SearchView(SearchServiceView):
    @extend_schema(summary="Natural-language product search",
                   parameters=[OpenApiParameter("q", str, required=True), SEARCH_MODE, *PAGING, *FILTER_PARAMS],
                   responses=PageSerializer)
    def get(self, request):
        return self.page_response(request, search.search_text(request.GET.get("q"), request.GET))


class ImageSearchView(SearchServiceView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Visual search: upload a photo (multipart field 'image')",
                   parameters=[*PAGING, *FILTER_PARAMS], responses=PageSerializer,
                   request=PHOTO_UPLOAD)
    def post(self, request):
        return self.page_response(request, search.search_image(_uploaded_image(request), request.GET))


def _product_pk(pk: str):
    """The stored primary key of product ``pk``; 404 when there is none."""
    model = get_catalog().product_model
    try:
        return model._default_manager.only("pk").get(pk=model._meta.pk.to_python(pk)).pk
    except (model.DoesNotExist, ValidationError, ValueError) as exc:
        raise Http404(f"no product with id {pk!r}") from exc


def _uploaded_image(request, scale: int = 1):
    """The multipart ``image``, decoded as the indexer decodes product images (``scale`` times
    larger for a scene whose regions are cropped)."""
    upload = request.FILES.get("image")
    if upload is None:
        raise search.QueryError("send the photo as multipart form field 'image'")
    target = decode_size(get_encoder(model=active_space().model_ref).image_size) * scale
    return load_image(read_limited(upload, shop_clip_settings.MAX_UPLOAD_BYTES), target=target)


class SimilarView(SearchServiceView):
    @extend_schema(summary="Look-alike products", parameters=[*PAGING, *FILTER_PARAMS], responses=PageSerializer)
    def get(self, request, pk: str):
        return self.page_response(request, search.similar_products(_product_pk(pk), request.GET))


class CompleteTheLookView(SearchServiceView):
    @extend_schema(summary="Complete the look: matching products from other categories",
                   parameters=[*LOOK_PARAMS, *FILTER_PARAMS], responses=LookSerializer)
    def get(self, request, pk: str):
        return self.look_response(request, look.complete_the_look(_product_pk(pk), request.GET))


class ShopTheLookView(SearchServiceView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Shop the look: the products a scene photo shows (multipart field 'image')",
                   parameters=[*LOOK_PARAMS, *FILTER_PARAMS], responses=LookSerializer,
                   request=PHOTO_UPLOAD)
    def post(self, request):
        # Regions are cropped from the photo: decoded larger than for a one-product search.
        image = _uploaded_image(request, scale=shop_clip_settings.LOOK_DECODE_SCALE)
        return self.look_response(request, look.shop_the_look(image, request.GET))


class ProductTagsView(SearchServiceView):
    @extend_schema(summary="Zero-shot tags of a product (colour, pattern, ... as SHOP_CLIP['TAGS'] names them)",
                   responses=ProductTagsSerializer)
    def get(self, request, pk: str):
        product_id = _product_pk(pk)
        return Response({"product": product_id, **tagging.product_tags(product_id)})


class StatusView(APIView):
    @extend_schema(summary="Indexing progress", responses=StatusSerializer)
    def get(self, request):
        return Response(index_status())
