"""shop-clip in a store shaped unlike the demo: UUID keys, several photos per item, M2M categories."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from shop_clip.models import ProductVector

from ..conftest import png_bytes, wait_for_indexing
from ..store_contract import (
    ContractCatalog,
    FilterCase,
    Photo,
    StoreContract,
    StoreQueryset,
    committed_catalog,
    has_tag,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

RED, BLUE = png_bytes((220, 20, 20)), png_bytes((20, 20, 220))
GREEN, YELLOW = png_bytes((20, 200, 20)), png_bytes((230, 230, 0))
ORANGE, PURPLE = png_bytes((250, 140, 0)), png_bytes((130, 0, 160))
BROWN, GREY = png_bytes((120, 70, 20)), png_bytes((128, 128, 128))


def striped(colour, ink=(255, 255, 255), width=16, size=224) -> bytes:
    """Vertical stripes: the photo zero-shot tagging calls striped."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, size, 2 * width):
        draw.rectangle([x, 0, x + width - 1, size], fill=ink)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


STRIPED = striped((0, 0, 90))


def make_item(name, photos, price=10.0, collections=(), available=True):
    from .shop.models import Collection, Item, Photo

    item = Item.objects.create(name=name, blurb=f"{name} blurb", price=price, available=available)
    for slug in collections:
        item.collections.add(Collection.objects.get_or_create(slug=slug, defaults={"title": slug})[0])
    for index, data in enumerate(photos):
        photo = Photo(item=item, position=index)
        photo.file.save(f"{name}-{index}.png", ContentFile(data), save=False)
        photo.save()
    return item


def ids(response):
    return [hit["product"]["id"] for hit in response.json()["results"]]


def test_each_photo_gets_its_own_vector(celery_worker):
    item = make_item("two-photos", [RED, BLUE])
    wait_for_indexing()
    rows = ProductVector.objects.filter(product=item)
    assert sorted(row.image_key for row in rows) == sorted(f"img:{p.pk}" for p in item.photos.all())
    assert {row.status for row in rows} == {"embedded"}


def test_look_alikes_compare_by_best_matching_photo(celery_worker):
    both = make_item("red-and-blue", [RED, BLUE])
    blue = make_item("blue", [BLUE])
    red = make_item("red", [RED])
    make_item("green", [GREEN])
    make_item("yellow", [YELLOW])
    wait_for_indexing()
    response = Client().get(f"/api/products/{both.pk}/similar/", {"limit": 4})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {hit["product"]["id"] for hit in results[:2]} == {str(blue.pk), str(red.pk)}
    assert all(hit["score"] > 0.99 for hit in results[:2])  # identical photo: best match, not an average
    assert str(both.pk) not in ids(response)


def test_adding_and_deleting_photos_keeps_vectors_current(celery_worker):
    from .shop.models import Photo

    item = make_item("changing", [RED])
    wait_for_indexing()
    photo = Photo(item=item, position=1)
    photo.file.save("extra.png", ContentFile(GREEN), save=True)
    wait_for_indexing()
    assert ProductVector.objects.filter(product=item, status="embedded").count() == 2
    photo.delete()
    assert list(ProductVector.objects.filter(product=item).values_list("image_key", flat=True)) == [
        f"img:{item.photos.get().pk}"]
    item.delete()
    assert not ProductVector.objects.exists()


def test_complete_the_look_with_many_to_many_categories_and_uuid_keys(celery_worker):
    hat = make_item("red-hat", [RED], collections=["hats", "summer"])
    make_item("blue-hat", [BLUE], collections=["hats"])
    red_shoe = make_item("red-shoe", [RED], collections=["shoes"])
    make_item("blue-shoe", [BLUE], collections=["shoes"])
    red_bag = make_item("red-bag", [RED], collections=["bags"])
    make_item("green-bag", [GREEN], collections=["bags"])
    wait_for_indexing()
    response = Client().get(f"/api/products/{hat.pk}/complete-the-look/", {"per_category": 1, "categories": 5})
    assert response.status_code == 200, response.content
    groups = {group["category"]: group["results"] for group in response.json()["groups"]}
    # Neither of the hat's own collections; each other collection's closest item (same photo colour).
    assert set(groups) == {"shoes", "bags"}
    assert groups["shoes"][0]["product"]["id"] == str(red_shoe.pk)
    assert groups["bags"][0]["product"]["id"] == str(red_bag.pk)


def test_keyword_and_hybrid_search_with_uuid_keys_and_many_to_many_filters(celery_worker):
    tote = make_item("Marrakesh tote", [RED], collections=["bags"])
    make_item("Marrakesh lamp", [BLUE], collections=["home"])
    make_item("plain tote", [RED], collections=["bags"])
    wait_for_indexing()
    client = Client()
    keyword = client.get("/api/search/", {"q": "marrakesh", "mode": "keyword", "category": "bags"})
    assert keyword.status_code == 200 and ids(keyword) == [str(tote.pk)]
    hybrid = client.get("/api/search/", {"q": "marrakesh tote", "limit": 3})
    assert ids(hybrid)[0] == str(tote.pk) and len(ids(hybrid)) == 3


# -- the store contract (tests/store_contract.py) on a catalog committed once --------------------------------------

@dataclass(frozen=True)
class Spec:
    """An item of the contract catalog, as the test knows it (the truth each filter is held to)."""

    name: str
    photos: tuple[bytes, ...]
    price: float
    collections: tuple[str, ...]
    available: bool = True


CONTRACT_ITEMS = (
    Spec("summer-hat", (YELLOW,), 15.0, ("summer", "hats")),  # first: the photo of an item with one
    Spec("winter-hat", (BLUE,), 25.0, ("winter", "hats")),
    Spec("sold-out", (GREEN,), 5.0, ("summer",), available=False),
    Spec("red-scarf", (RED, BROWN), 30.0, ("scarves",)),
    Spec("two-tone-bag", (ORANGE, PURPLE), 40.0, ("bags",)),
    Spec("grey-bag", (GREY,), 12.0, ("bags",)),
    Spec("striped-tie", (STRIPED,), 18.0, ("ties",)),
)


class TestContract(StoreContract):
    test_hidden_products_never_appear = None  # this store hides no product: the demo and Oscar stores test it

    @pytest.fixture(scope="class")
    def contract_items(self, django_db_setup, django_db_blocker) -> dict[str, tuple]:
        """Name -> (the committed item, its spec)."""
        def build():
            return {spec.name: (make_item(spec.name, spec.photos, spec.price, spec.collections, spec.available), spec)
                    for spec in CONTRACT_ITEMS}

        with committed_catalog(django_db_blocker, build) as items:
            yield items

    @pytest.fixture(scope="class")
    def contract_catalog(self, contract_items, django_db_blocker) -> ContractCatalog:
        items = [item for item, _ in contract_items.values()]
        with django_db_blocker.unblock():
            urls = {item.pk: [photo.file.url for photo in item.photos.order_by("position")] for item in items}
        named = {name: item for name, (item, _) in contract_items.items()}
        photos = {named[name].pk: Photo(data, urls[named[name].pk][index]) for name, index, data in (
            ("summer-hat", 0, YELLOW), ("grey-bag", 0, GREY), ("winter-hat", 0, BLUE), ("striped-tie", 0, STRIPED))}
        return ContractCatalog(
            products=[item.pk for item in items],
            categories={item.pk: set(spec.collections) for item, spec in contract_items.values()},
            image_urls={pk: set(found) for pk, found in urls.items()},
            photos=photos, unknown_pk=str(uuid.uuid4()), malformed_pks=("12345",),
        )

    @pytest.fixture(scope="class")
    def contract_filters(self, contract_items) -> list[FilterCase]:
        by_id = {str(item.pk): spec for item, spec in contract_items.values()}

        def spec(product) -> Spec:
            return by_id[product["id"]]

        return [
            FilterCase({"category": "summer"}, lambda product: "summer" in spec(product).collections),
            FilterCase({"category": "hats", "max_price": "20"},
                       lambda product: "hats" in spec(product).collections and spec(product).price <= 20),
            FilterCase({"category": "summer", "available": "true"},
                       lambda product: "summer" in spec(product).collections and spec(product).available),
            FilterCase({"min_price": "20"}, lambda product: spec(product).price >= 20, rejects=("cheap",)),
            FilterCase({"max_price": "15.5"}, lambda product: spec(product).price <= 15.5, rejects=("cheap",)),
            FilterCase({"available": "false"}, lambda product: not spec(product).available, rejects=("maybe",)),
            FilterCase({"colour": "red"}, has_tag("colour", "red"), rejects=("crimson",)),
            FilterCase({"pattern": "striped"}, has_tag("pattern", "striped")),
        ]

    @pytest.fixture
    def contract_queryset(self) -> StoreQueryset:
        from .shop.models import Item

        return StoreQueryset(Item.objects.filter(available=True), lambda item: item.available, '."available"')

    def test_many_to_many_categories_in_the_json(self, contract_client):
        body = contract_client.get("/api/search/", {"q": "hat", "category": "winter"}).json()
        assert body["results"][0]["product"]["name"] == "winter-hat"
        assert sorted(body["results"][0]["product"]["category"]) == ["hats", "winter"]
