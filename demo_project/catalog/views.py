from django.shortcuts import render
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
