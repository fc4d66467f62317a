from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.static import serve
from rest_framework import viewsets

from .models import Product
from .serializers import ProductSerializer


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """The store's own read-only catalog API."""

    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer


def search_page(request):
    """A minimal search page over shop-clip's API."""
    return render(request, "catalog/search.html")


def media(request: HttpRequest, path: str) -> HttpResponse:
    """A file under MEDIA_ROOT (product images); paths outside it are refused by ``serve``."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
