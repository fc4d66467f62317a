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

from .. import search
from ..catalog import FilterError, get_catalog
from ..conf import shop_clip_settings
from ..encoders import get_encoder
from ..images import ImageRejected, decode_size, load_image, read_limited
from ..spaces import NoActiveSpace, active_space
from ..status import index_status
from .serializers import PageSerializer, StatusSerializer, serialize_hits

PAGING = [OpenApiParameter("limit", int), OpenApiParameter("offset", int)]
FILTER_PARAMS = [OpenApiParameter(name, str, description=f"filter: {lookup}")
                 for name, lookup in (("category", "category slug"), ("min_price", "price >="),
                                      ("max_price", "price <="), ("in_stock", "true/false"))]


def _error(message: str, code: int) -> Response:
    return Response({"detail": message}, status=code)


class SearchServiceView(APIView):
    """Translates the search service's exceptions into HTTP answers."""

    def handle_exception(self, exc):
        if isinstance(exc, (search.QueryError, FilterError, ImageRejected)):
            return _error(str(exc), status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, search.NotEmbedded):
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


class SearchView(SearchServiceView):
    @extend_schema(summary="Natural-language product search",
                   parameters=[OpenApiParameter("q", str, required=True), *PAGING, *FILTER_PARAMS],
                   responses=PageSerializer)
    def get(self, request):
        return self.page_response(request, search.search_text(request.GET.get("q"), request.GET))


class ImageSearchView(SearchServiceView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Visual search: upload a photo (multipart field 'image')",
                   parameters=[*PAGING, *FILTER_PARAMS], responses=PageSerializer,
                   request={"multipart/form-data": {
                       "type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}})
    def post(self, request):
        upload = request.FILES.get("image")
        if upload is None:
            raise search.QueryError("send the photo as multipart form field 'image'")
        # Decoded as the indexer decodes product images for the same model.
        target = decode_size(get_encoder(model=active_space().model_ref).image_size)
        image = load_image(read_limited(upload, shop_clip_settings.MAX_UPLOAD_BYTES), target=target)
        return self.page_response(request, search.search_image(image, request.GET))


class SimilarView(SearchServiceView):
    @extend_schema(summary="Look-alike products", parameters=[*PAGING, *FILTER_PARAMS], responses=PageSerializer)
    def get(self, request, pk: str):
        model = get_catalog().product_model
        try:
            product = model._default_manager.only("pk").get(pk=model._meta.pk.to_python(pk))
        except (model.DoesNotExist, ValidationError, ValueError) as exc:
            raise Http404(f"no product with id {pk!r}") from exc
        return self.page_response(request, search.similar_products(product.pk, request.GET))


class StatusView(APIView):
    @extend_schema(summary="Indexing progress", responses=StatusSerializer)
    def get(self, request):
        return Response(index_status())
