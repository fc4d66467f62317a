"""The Python API's arguments: a store's slip is an error naming the argument, never another
product's answer (before these checks, a queryset of categories searched the products whose keys
the categories' were, and ``similar(category)`` answered for the product with its key)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.http import QueryDict
from PIL import Image

from shop_clip import look, search
from shop_clip.catalog import FilterError, SettingsCatalog, UnknownFilter
from shop_clip.errors import ProductNotFound, QueryError
from shop_clip.images import ImageRejected

from .conftest import committed_demo_catalog, png_bytes


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, 60, seed=11) as ids:
        yield ids


@pytest.fixture
def product(catalog, db):
    from demo_project.catalog.models import Product

    return Product.objects.select_related("category").get(pk=catalog[3])


def keys(page) -> list:
    return [hit.product.pk for hit in page]


def test_a_queryset_must_be_of_the_product_model_and_unsliced(product):
    from django.contrib.auth.models import User

    from demo_project.catalog.models import Category, Product

    for wrong in (Category.objects.all(), User.objects.all()):
        with pytest.raises(TypeError, match="queryset must be a QuerySet of catalog.Product, not of"):
            search.search("red shirt", queryset=wrong)
        with pytest.raises(TypeError, match="QuerySet of catalog.Product"):
            search.similar(product, queryset=wrong)
        with pytest.raises(TypeError, match="QuerySet of catalog.Product"):
            look.complete_the_look(product, queryset=wrong)
    with pytest.raises(TypeError, match="not list"):
        search.search("red shirt", queryset=[product])
    with pytest.raises(TypeError, match="must not be sliced"):
        search.search("red shirt", queryset=Product.objects.all()[:10])
    in_stock = Product.objects.filter(in_stock=True)
    assert all(hit.product.in_stock for hit in search.search("red shirt", queryset=in_stock, limit=10))


def test_a_product_is_the_stores_product_or_its_key(product):
    from demo_project.catalog.models import Product

    with pytest.raises(TypeError, match="product must be a catalog.Product .or its key., not a catalog.Category"):
        search.similar(product.category)
    with pytest.raises(TypeError, match="product must be a catalog.Product"):
        look.complete_the_look(product.category)
    for number in (1.5, True, None):
        with pytest.raises(TypeError, match="product must be a catalog.Product or its key"):
            search.similar(number)
    with pytest.raises(ProductNotFound, match="not saved yet"):
        search.similar(Product(title="x"))
    for missing in (99_999_999, "abc"):
        with pytest.raises(ProductNotFound, match="no product with key"):
            search.similar(missing)
    with pytest.raises(ProductNotFound):
        look.complete_the_look(99_999_999)
    assert keys(search.similar(product, limit=5)) == keys(search.similar(str(product.pk), limit=5))


def test_paging_and_text_take_their_types_only(product):
    for name, value in (("limit", "5"), ("limit", True), ("limit", 5.5), ("offset", None), ("offset", "3")):
        with pytest.raises(TypeError, match=f"{name} must be a whole number"):
            search.search("red shirt", **{name: value})
    for value in ("2", 2.5, True):
        with pytest.raises(TypeError, match="categories must be a whole number"):
            look.complete_the_look(product, categories=value)
    with pytest.raises(TypeError, match="text must be a string, not int"):
        search.search(123)
    with pytest.raises(QueryError, match="q is required"):
        search.search(None)
    assert keys(search.search("red shirt", limit=np.int64(4), mode="vector")) == keys(
        search.search("red shirt", limit=4, mode="vector"))


def test_filters_are_a_mapping_of_one_value_each(product, settings):
    for wrong in ([("max_price", "10")], "max_price=10"):
        with pytest.raises(TypeError, match="filters must be a mapping"):
            search.search("red shirt", filters=wrong)
    with pytest.raises(FilterError, match="max_price"):
        search.search("red shirt", filters={"max_price": True})  # was price <= 1
    with pytest.raises(FilterError, match="category: one value .* not list"):
        search.search("red shirt", filters={"category": ["lamp", "vase"]})
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, **settings.DEMO_TAGGING}
    with pytest.raises(FilterError, match="colour: '5' is not a tag"):  # was 'int' has no attribute 'strip'
        search.search("red shirt", filters={"colour": 5})
    with pytest.raises(QueryError, match="max_price is given 2 times"):
        search.search("red shirt", filters=QueryDict("max_price=10&max_price=1000"))
    as_number = search.search("red shirt", filters={"max_price": 30}, mode="vector", limit=20)
    assert keys(as_number) == keys(search.search("red shirt", filters={"max_price": "30"}, mode="vector", limit=20))
    assert as_number.hits and all(hit.product.price <= 30 for hit in as_number)


class BrandCatalog(SettingsCatalog):
    """A store's catalog that reads a filter of its own, which FILTERS does not name."""

    def filter_kwargs(self, params, prefix=""):
        kwargs = super().filter_kwargs(params, prefix)
        return {**kwargs, f"{prefix}title__icontains": params["brand"]} if params.get("brand") else kwargs


def test_a_filter_name_no_filter_has_is_refused_naming_the_nearest(product, settings):
    filters = "category, colour, in_stock, max_price, min_price, pattern"  # FILTERS and TAG_FILTERS
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, **settings.DEMO_TAGGING}
    for call in (lambda given: search.search("red shirt", filters=given),
                 lambda given: search.similar(product, filters=given),
                 lambda given: look.complete_the_look(product, filters=given)):
        with pytest.raises(UnknownFilter, match=re.escape(
                f"unknown filter 'max_prise' (did you mean 'max_price'?); the filters are: {filters}")):
            call({"max_prise": "10"})  # was: answered unfiltered, every price
        with pytest.raises(UnknownFilter, match=re.escape("unknown filter 'price_max' (did you mean 'max_price'?)")):
            call({"price_max": "10"})  # the same words in another order
        with pytest.raises(UnknownFilter, match="unknown filter 'brand'; the filters"):  # nothing near it
            call({"brand": "acme", "colour": "red"})
    # A catalog that reads names of its own says none, and no name is refused.
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "CATALOG": "tests.test_python_arguments.BrandCatalog"}
    titled = search.search("shirt", filters={"brand": product.title.split()[0]}, mode="vector", limit=50)
    assert titled.hits and all(product.title.split()[0].lower() in hit.product.title.lower() for hit in titled)
    assert search.search("shirt", filters={"max_prise": "10"}, mode="vector", limit=5).hits


def test_a_photo_is_an_image_its_bytes_or_an_open_file(product):
    by_bytes = keys(search.search_by_image(png_bytes(), limit=5))
    assert keys(search.search_by_image(io.BytesIO(png_bytes()), limit=5)) == by_bytes
    with product.image.open("rb") as stored:
        data = stored.read()
    assert keys(search.search_by_image(product.image, limit=5)) == keys(search.search_by_image(data, limit=5))
    with pytest.raises(TypeError, match="image must be a PIL image, its bytes or an open file, not str"):
        search.search_by_image("/tmp/photo.jpg")
    with pytest.raises(TypeError, match="not NoneType"):
        search.search_by_image(None)


def test_a_decoded_photo_passes_the_same_limits_as_an_upload(product):
    for size in ((1, 1), (0, 0), (20_000, 10)):
        with pytest.raises(ImageRejected, match="pixels"):
            search.search_by_image(Image.new("RGB", size))
        with pytest.raises(ImageRejected, match="pixels"):
            look.shop_the_look(Image.new("RGB", size))
    decoded = Image.open(io.BytesIO(png_bytes()))
    assert keys(search.search_by_image(decoded.convert("P"), limit=5)) == keys(search.search_by_image(
        decoded.convert("RGB"), limit=5))
