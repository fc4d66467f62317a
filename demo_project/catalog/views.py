from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.static import serve
from rest_framework import viewsets

from .models import Product
from .serializers import ProductSerializer


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """The store's own read-only catalog API."""

    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer


def product_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The store's product page; "more like this" and "complete the look" come from shop-clip's tags."""
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    return render(request, "catalog/product.html", {"product": product})


def media(request: HttpRequest, path: str) -> HttpResponse:
    """A file under MEDIA_ROOT (product images); paths outside it are refused by ``serve``."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
