"""shop-clip in a store shaped unlike the demo: UUID keys, several photos per item, M2M categories."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from shop_clip.models import ProductVector

from ..conftest import png_bytes, wait_for_indexing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

RED, BLUE = png_bytes((220, 20, 20)), png_bytes((20, 20, 220))
GREEN, YELLOW = png_bytes((20, 200, 20)), png_bytes((230, 230, 0))


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


def test_many_to_many_category_and_float_filters(celery_worker):
    summer = make_item("summer-hat", [YELLOW], price=15.0, collections=["summer", "hats"])
    make_item("winter-hat", [BLUE], price=25.0, collections=["winter", "hats"])
    sold_out = make_item("sold-out", [GREEN], price=5.0, collections=["summer"], available=False)
    wait_for_indexing()
    client = Client()
    summer_hits = ids(client.get("/api/search/", {"q": "hat", "category": "summer"}))
    assert set(summer_hits) == {str(summer.pk), str(sold_out.pk)}
    assert ids(client.get("/api/search/", {"q": "hat", "category": "hats", "max_price": "20"})) == [str(summer.pk)]
    assert ids(client.get("/api/search/", {"q": "hat", "category": "summer", "available": "true"})) == [str(summer.pk)]
    body = client.get("/api/search/", {"q": "hat", "category": "winter"}).json()
    assert body["results"][0]["product"]["name"] == "winter-hat"
    assert sorted(body["results"][0]["product"]["category"]) == ["hats", "winter"]


def test_uuid_keys_in_urls(celery_worker):
    item = make_item("uuid", [RED])
    make_item("other", [BLUE])
    wait_for_indexing()
    client = Client()
    assert client.get(f"/api/products/{item.pk}/similar/").status_code == 200
    assert client.get(f"/api/products/{uuid.uuid4()}/similar/").status_code == 404
    assert client.get("/api/products/12345/similar/").status_code == 404


def test_a_page_costs_the_same_queries_whatever_its_length(celery_worker):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    items = [make_item(f"item-{n}", [RED if n % 2 else BLUE, GREEN]) for n in range(6)]
    wait_for_indexing()
    client = Client()
    client.get("/api/search/", {"q": "item", "limit": "1"})  # warm: query embedding cached
    counts = {}
    for limit in (1, 6):
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/search/", {"q": "item", "limit": str(limit)}).json()
        assert len(body["results"]) == limit
        counts[limit] = len(queries)
    assert counts[6] == counts[1], counts  # no query per hit (image URLs, categories)
    for item in items:  # each product's own photo, not a neighbour's
        url = next(hit["product"]["image_url"] for hit in body["results"] if hit["product"]["id"] == str(item.pk))
        assert url in {f"http://testserver{photo.file.url}" for photo in item.photos.all()}


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
    assert Client().get(f"/api/products/{uuid.uuid4()}/complete-the-look/").status_code == 404


def test_schema_documents_this_stores_own_filters():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    documented = {param["name"] for param in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert {"category", "min_price", "max_price", "available"} <= documented and "in_stock" not in documented



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
