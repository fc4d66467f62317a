"""The store contract (tests/store_contract.py) on the demo store: integer keys, one image field,
a category foreign key, decimal prices; out-of-stock products hidden where VISIBLE says so."""

from __future__ import annotations

from decimal import Decimal
from statistics import median

import pytest

from .conftest import committed_demo_catalog
from .store_contract import ContractCatalog, FilterCase, Photo, StoreContract, StoreQueryset


@pytest.fixture(scope="module")
def demo_catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, 30, seed=26) as ids:
        yield ids


class TestContract(StoreContract):
    @pytest.fixture(scope="class")
    def contract_catalog(self, demo_catalog, django_db_blocker) -> ContractCatalog:
        from demo_project.catalog.models import Product

        with django_db_blocker.unblock():
            products = list(Product.objects.select_related("category").filter(pk__in=demo_catalog))
            photos = {}
            for product in products[:3]:
                with product.image.open("rb") as image:
                    photos[product.pk] = Photo(image.read(), product.image.url)
        return ContractCatalog(
            products=[product.pk for product in products],
            categories={product.pk: {product.category.slug} for product in products},
            image_urls={product.pk: {product.image.url} for product in products},
            photos=photos,
        )

    @pytest.fixture(scope="class")
    def contract_filters(self, contract_catalog, django_db_blocker) -> list[FilterCase]:
        from demo_project.catalog.models import Product

        with django_db_blocker.unblock():
            products = list(Product.objects.select_related("category").filter(pk__in=contract_catalog.products))
        slug = products[0].category.slug
        middle = Decimal(median(product.price for product in products)).quantize(Decimal("0.01"))

        def price(product) -> Decimal:
            return Decimal(product["price"])

        return [
            FilterCase({"category": slug}, lambda product: product["category"]["slug"] == slug),
            FilterCase({"min_price": str(middle)}, lambda product: price(product) >= middle, rejects=("cheap",)),
            FilterCase({"max_price": str(middle)}, lambda product: price(product) <= middle, rejects=("NaN",)),
            FilterCase({"in_stock": "false"}, lambda product: not product["in_stock"], rejects=("maybe",)),
            FilterCase({"in_stock": "true", "max_price": str(middle)},
                       lambda product: product["in_stock"] and price(product) <= middle),
        ]

    @pytest.fixture
    def contract_queryset(self) -> StoreQueryset:
        from demo_project.catalog.models import Product

        return StoreQueryset(Product.objects.filter(in_stock=True), lambda product: product.in_stock, "in_stock")

    @pytest.fixture
    def contract_hidden(self, contract_catalog, settings) -> dict:
        """Out-of-stock products, once the store's VISIBLE hides them."""
        from demo_project.catalog.models import Product

        settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VISIBLE": {"in_stock": True}}
        hidden = {}
        for product in Product.objects.filter(pk__in=contract_catalog.products, in_stock=False):
            with product.image.open("rb") as image:
                hidden[product.pk] = image.read()
        return hidden
