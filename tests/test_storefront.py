"""The storefront's pages and template tags, served by Django without JavaScript, over an
embedded demo catalog: results, filters, paging, photos, looks, errors as messages, escaping."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.template import Context, Template
from django.test import Client
from PIL import Image

from shop_clip import look
from shop_clip.models import EmbeddingSpace
from shop_clip.storefront.cards import Card, cards_for
from shop_clip.storefront.photos import DATA_URL_PREFIX

from .conftest import committed_demo_catalog, png_bytes

CATALOG_SIZE = 120
PAYLOAD = "<img src=x onerror=alert(1)>"
MARKER = "quokkamarker"  # a word only the hostile product's description holds
SHOP = "/shop/"


def add_hostile_product() -> None:
    """A product whose title and category name are markup, embedded with the catalog."""
    from django.core.files.base import ContentFile

    from demo_project.catalog.models import Category, Product
    from shop_clip.claim_lanes import process_pending

    category = Category.objects.create(name=PAYLOAD, slug="hostile")
    product = Product(title=PAYLOAD, description=f"{MARKER} striped cotton tee", category=category,
                      price=Decimal("9.99"))
    product.image.save("hostile.png", ContentFile(png_bytes((200, 30, 30), (128, 128))), save=False)
    product.save()
    process_pending()


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    with committed_demo_catalog(django_db_blocker, CATALOG_SIZE, seed=23, then=add_hostile_product) as ids:
        yield ids


@pytest.fixture
def shop(catalog, db):
    caches["default"].clear()  # throttle counts and cached looks of other tests
    return Client()


def products(ids):
    from demo_project.catalog.models import Product

    return Product.objects.select_related("category").in_bulk(ids)


def jpeg_upload(image: Image.Image, name: str = "photo.jpg") -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    buffer.seek(0)
    buffer.name = name
    return buffer


def photo_of(product) -> io.BytesIO:
    return jpeg_upload(Image.open(product.image.path).convert("RGB"))


def card_ids(response) -> list:
    return [card.product.pk for card in response.context["cards"]]


def error_of(response) -> str:
    found = re.search(r'<p class="shop-clip-error" role="alert">(.*?)</p>', response.content.decode(), re.S)
    return html.unescape(found.group(1)) if found else ""


# -- text search --------------------------------------------------------------------------------

def test_the_search_page_without_words_is_a_labelled_form(shop):
    page = shop.get(SHOP).content.decode()
    assert '<label for="shop-clip-q">' in page and 'id="shop-clip-q"' in page and 'name="q"' in page
    for name in ("category", "min_price", "max_price", "in_stock"):
        assert f'for="shop-clip-filter-{name}"' in page and f'name="{name}"' in page
    assert '<option value="t-shirt">T-shirt</option>' in page  # categories by name
    assert '<select id="shop-clip-filter-in_stock" name="in_stock">' in page
    assert "shop-clip-grid" not in page and "shop_clip/shop_clip.js" in page


def test_the_demo_home_page_is_the_storefront_search(shop):
    response = shop.get("/", {"q": "red t-shirt"})
    assert response.status_code == 200
    assert len(response.context["cards"]) == 20
    assert 'action="/shop/"' in response.content.decode()


def test_words_find_products_with_pictures_titles_and_links(shop, catalog):
    response = shop.get(SHOP, {"q": "red t-shirt"})
    assert response.status_code == 200
    cards = response.context["cards"]
    assert len(cards) == 20 and len(set(card_ids(response))) == 20
    found = products(card_ids(response))
    assert sum(found[card.product.pk].category.slug == "t-shirt" for card in cards) >= 5  # chance: about 1
    page = response.content.decode()
    for card in cards:
        assert card.image_url and card.image_url.startswith("/media/")
        assert f'src="{card.image_url}" alt="{html.escape(card.title)}"' in page
        assert card.url in (f"/products/{card.product.pk}/", f"/shop/products/{card.product.pk}/")
        assert f'href="{card.url}"' in page
    assert "Products 1–20 for “red t-shirt”" in page
    assert 'role="status" aria-live="polite"' in page


@pytest.mark.parametrize(("params", "check"), [
    ({"category": "t-shirt"}, lambda product: product.category.slug == "t-shirt"),
    ({"in_stock": "true"}, lambda product: product.in_stock),
    ({"max_price": "50"}, lambda product: product.price <= 50),
    ({"category": "mug", "min_price": "20"}, lambda product: product.category.slug == "mug" and product.price >= 20),
])
def test_the_stores_filters_narrow_the_results(shop, params, check):
    everything = card_ids(shop.get(SHOP, {"q": "red striped", "limit": 100}))
    assert not all(check(product) for product in products(everything).values())
    response = shop.get(SHOP, {"q": "red striped", "limit": 100, **params})
    narrowed = card_ids(response)
    assert narrowed and all(check(product) for product in products(narrowed).values())
    page = response.content.decode()
    for name, value in params.items():  # the form keeps what was chosen
        assert f'value="{value}" selected' in page or f'name="{name}" value="{value}"' in page, name


def test_a_links_campaign_names_are_not_filters_and_the_stores_filters_still_are(shop, catalog):
    """The storefront passes on only the store's filters: the Python API refuses any other name."""
    tracked = {"q": "red striped", "limit": 100, "max_price": "50", "utm_source": "newsletter", "fbclid": "x1"}
    response = shop.get(SHOP, tracked)
    found = products(card_ids(response))
    assert response.status_code == 200 and found and all(product.price <= 50 for product in found.values())
    product = next(iter(found.values()))
    uploaded = shop.post(f"{SHOP}photo/?utm_source=newsletter", {"image": photo_of(product), "max_price": "50"})
    assert uploaded.status_code == 200 and products(card_ids(uploaded))


def selected(page: str, name: str) -> list[str]:
    """The values the form's ``name`` menu shows selected."""
    menu = re.search(rf'<select id="[^"]*" name="{name}">(.*?)</select>', page, re.S).group(1)
    return re.findall(r'<option value="([^"]*)" selected>', menu)


def test_the_form_shows_the_filters_the_search_read(shop):
    """``in_stock=no`` searched products out of stock under a ticked "In stock" box; ``mode=VECTOR``
    and an unlisted category searched under menus showing "Looks and words" and "Any"."""
    out_of_stock = shop.get(SHOP, {"q": "red", "in_stock": "no", "limit": 50})
    assert not any(product.in_stock for product in products(card_ids(out_of_stock)).values())
    assert selected(out_of_stock.content.decode(), "in_stock") == ["false"]
    assert selected(shop.get(SHOP, {"q": "red", "in_stock": "1"}).content.decode(), "in_stock") == ["true"]
    assert selected(shop.get(SHOP, {"q": "red", "in_stock": ""}).content.decode(), "in_stock") == [""]
    assert selected(shop.get(SHOP, {"q": "red", "mode": " VECTOR"}).content.decode(), "mode") == ["vector"]
    unlisted = shop.get(SHOP, {"q": "red", "category": "LAMP"}).content.decode()
    assert selected(unlisted, "category") == ["LAMP"]


def test_control_characters_never_reach_the_page_and_invisible_words_are_no_query(shop):
    page = shop.get(SHOP, {"q": "red\x00dress"}).content.decode()
    assert "\x00" not in page and "for “red dress”" in page
    refused = shop.get(SHOP, {"q": "red", "max_price": "1\x00"})
    assert refused.status_code == 400 and "\x00" not in refused.content.decode()
    for nothing in ("\x00", "\u200b\u200b", " "):
        empty = shop.get(SHOP, {"q": nothing})
        assert empty.status_code == 200 and not empty.context.get("cards")


def test_pages_follow_each_other_without_repeating_a_product(shop):
    seen: list = []
    url = f"{SHOP}?q=blue+dress&in_stock=true&limit=7"
    for number in range(3):
        response = shop.get(url)
        ids = card_ids(response)
        assert len(ids) == 7 and not set(ids) & set(seen)
        seen += ids
        page = response.content.decode()
        assert ('rel="prev"' in page) == (number > 0)
        url = SHOP + html.unescape(re.search(r'rel="next" href="([^"]+)"', page).group(1))
        assert "in_stock=true" in url and f"offset={7 * (number + 1)}" in url
    assert card_ids(shop.get(SHOP, {"q": "blue dress", "in_stock": "true", "limit": 21})) == seen


def test_the_last_page_has_no_next_link(shop):
    response = shop.get(SHOP, {"q": "mug", "category": "mug", "limit": 100})
    assert 0 < len(response.context["cards"]) < 100
    assert 'rel="next"' not in response.content.decode()
    past = shop.get(SHOP, {"q": "mug", "category": "mug", "offset": 5000})
    assert past.status_code == 200 and "No more products." in past.content.decode()


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"q": "tee", "min_price": "cheap"}, 400, "min_price"),
    ({"q": "tee", "offset": "two"}, 400, "offset must be a whole number"),
    ({"q": "tee", "limit": "1000"}, 400, "limit must be between 1 and 100"),
    ({"q": "tee", "mode": "psychic"}, 400, "mode must be one of"),
    ({"q": " ".join(f"-w{i}" for i in range(17))}, 400, "operators"),
    ({"q": "tee", "max_price": "1e400"}, 400, "max_price"),
    ({"q": "tee", **{f"p{n}": "1" for n in range(1001)}}, 400, "more than 1000 parameters"),
    ({"q": "tee", "category": ["mug", "boot"]}, 400, "category given more than once"),
])
def test_refusals_are_messages_on_the_page(shop, params, status, message):
    response = shop.get(SHOP, params)
    assert response.status_code == status
    assert message.lower() in error_of(response).lower()
    assert "shop-clip-q" in response.content.decode()  # the form is still there to fix it


def test_no_index_yet_is_a_503_message(shop):
    EmbeddingSpace.objects.update(activated_at=None)  # rolled back with the test
    response = shop.get(SHOP, {"q": "tee"})
    assert response.status_code == 503 and "nothing is indexed yet" in error_of(response).lower()


def test_a_model_that_cannot_be_loaded_is_a_503_message_and_a_logged_reason(shop, caplog):
    EmbeddingSpace.objects.update(model_ref="/nowhere/no-such-model")  # rolled back with the test
    words = {"q": "unloadable-model-probe"}  # words no earlier test cached a vector for
    response = shop.get(SHOP, words)
    assert response.status_code == 503 and "its model could not be loaded" in error_of(response)
    api = shop.get("/api/shop-clip/search/", words)
    assert api.status_code == 503 and "its model could not be loaded" in api.json()["detail"]
    assert "/nowhere/no-such-model" not in api.content.decode()  # paths stay in the log
    assert any("/nowhere/no-such-model" in record.getMessage() for record in caplog.records
               if record.name == "shop_clip.api")


def test_throttled_searches_are_a_429_message_shared_with_the_api(shop, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "shop_clip_search": "2/min", "shop_clip_image": "1/min"}}
    assert shop.get(SHOP, {"q": "tee"}).status_code == 200
    assert shop.get("/api/shop-clip/search/", {"q": "tee"}).status_code == 200
    response = shop.get(SHOP, {"q": "tee"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "Too many searches" in error_of(response)
    assert shop.get(SHOP).status_code == 200  # the empty form runs nothing and is never refused


def test_markup_in_product_data_is_text(shop):
    response = shop.get(SHOP, {"q": f"{MARKER} tee", "mode": "keyword"})
    assert [card.title for card in response.context["cards"]] == [PAYLOAD]
    page = response.content.decode()
    assert PAYLOAD not in page
    escaped = html.escape(PAYLOAD)
    assert f'alt="{escaped}"' in page and f'<p class="shop-clip-card-title">{escaped}</p>' in page
    assert f'<p class="shop-clip-card-category">{escaped}</p>' in page
    query = shop.get(SHOP, {"q": PAYLOAD}).content.decode()  # the shopper's own words, echoed back
    assert PAYLOAD not in query and f'value="{escaped}"' in query
    assert f'<option value="hostile">{escaped}</option>' in query  # the category filter's names


def test_a_card_template_escapes_what_a_store_stores():
    card = Card(product=None, title=PAYLOAD, url='/p/1"><script>alert(1)</script>',
                image_url='x" onerror="alert(1)', category=PAYLOAD)
    rendered = Template('{% include "shop_clip/card.html" %}').render(Context({"card": card}))
    assert "<script>" not in rendered and 'onerror="' not in rendered and "<img src=x" not in rendered


# -- photo search -------------------------------------------------------------------------------

def test_a_photo_of_a_product_finds_it_first_and_pages_carry_the_photo(shop, catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[17])
    form = shop.get(f"{SHOP}photo/").content.decode()
    assert 'enctype="multipart/form-data"' in form and 'type="file" name="image"' in form
    assert '<label for="shop-clip-photo-image">' in form and "csrfmiddlewaretoken" in form
    response = shop.post(f"{SHOP}photo/", {"image": photo_of(product), "limit": 6})
    assert response.status_code == 200, error_of(response)
    first = card_ids(response)
    assert first[0] == product.pk and len(first) == 6
    copy = response.context["photo_url"]
    assert copy.startswith(DATA_URL_PREFIX) and f'src="{copy}"' in response.content.decode()
    more = response.content.decode().split('class="shop-clip-paging"')[1]
    assert f'name="photo" value="{copy}"' in more and 'name="offset" value="6"' in more
    assert 'name="limit" value="6"' in more
    # The next page: the copy the first page searched, posted back; nothing was kept on the server.
    second = shop.post(f"{SHOP}photo/", {"photo": copy, "offset": 6, "limit": 6})
    assert second.status_code == 200
    ids = card_ids(second)
    assert len(ids) == 6 and not set(ids) & set(first)
    both = shop.post(f"{SHOP}photo/", {"photo": copy, "limit": 12})
    assert card_ids(both) == first + ids


def test_photo_search_takes_the_stores_filters(shop, catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.select_related("category").get(pk=catalog[3])
    other = "mug" if product.category.slug != "mug" else "lamp"
    response = shop.post(f"{SHOP}photo/", {"image": photo_of(product), "category": other})
    found = products(card_ids(response))
    assert found and all(item.category.slug == other for item in found.values())
    assert f'<option value="{other}" selected' in response.content.decode()


def test_photo_uploads_over_the_limit_or_not_photos_are_refused_with_a_message(shop, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "MAX_UPLOAD_BYTES": 50_000}
    big = io.BytesIO(b"\xff\xd8" + b"\0" * 200_000)
    big.name = "big.jpg"
    response = shop.post(f"{SHOP}photo/", {"image": big})
    assert response.status_code == 413 and "larger than" in error_of(response)
    assert 'type="file"' in response.content.decode()
    not_photo = io.BytesIO(b"%PDF-1.4 not a photo")
    not_photo.name = "doc.pdf"
    response = shop.post(f"{SHOP}photo/", {"image": not_photo})
    assert response.status_code == 400 and "not an image" in error_of(response)
    response = shop.post(f"{SHOP}photo/", {})
    assert response.status_code == 400 and "choose a photo" in error_of(response).lower()
    broken = shop.post(f"{SHOP}photo/", data=b"--x\r\nnot a form", content_type="multipart/form-data")
    assert broken.status_code == 400 and "form could not be read" in error_of(broken)
    two = shop.post(f"{SHOP}photo/", {"image": [jpeg_upload(Image.new("RGB", (64, 64), "red")),
                                                 jpeg_upload(Image.new("RGB", (64, 64), "blue"))]})
    assert two.status_code == 400 and "image given more than once" in error_of(two)  # the last one answered
    response = shop.post(f"{SHOP}photo/", {"photo": "data:text/html,<script>alert(1)</script>"})
    assert response.status_code == 400 and "<script>alert" not in response.content.decode()


def test_photo_forms_need_the_csrf_token(catalog, db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"{SHOP}photo/", {"image": jpeg_upload(Image.new("RGB", (64, 64), "red"))})
    # The shopper's words and the form again, not Django's page for developers.
    assert response.status_code == 403 and "This form has expired" in error_of(response)
    assert 'type="file"' in response.content.decode() and "CSRF verification failed" not in response.content.decode()
    form = client.get(f"{SHOP}photo/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    sent = client.post(f"{SHOP}photo/", {"image": jpeg_upload(Image.new("RGB", (64, 64), "red")),
                                         "csrfmiddlewaretoken": token})
    assert sent.status_code == 200 and sent.context["cards"]
    assert client.get(f"{SHOP}shop-the-look/").status_code == 200
    # A page that takes no POST says so, whatever the token.
    for refused, allowed in ((client.post(SHOP, {"q": "red"}), "GET, HEAD"),
                             (client.post(f"{SHOP}products/{catalog[0]}/"), "GET, HEAD"),
                             (client.put(f"{SHOP}photo/"), "GET, HEAD, POST")):
        # Django's 405 is a blank page: the shopper is told what to do, in the store's own page.
        assert refused.status_code == 405 and refused["Allow"] == allowed
        shown = refused.content.decode()
        assert "open it from the shop&#x27;s menu" in shown and 'class="shop-clip-nav' in shown


# -- shop the look ------------------------------------------------------------------------------

def collage_of(picked) -> Image.Image:
    collage = Image.new("RGB", (512, 512))
    for index, product in enumerate(picked):
        collage.paste(Image.open(product.image.path).convert("RGB").resize((256, 256)),
                      ((index % 2) * 256, (index // 2) * 256))
    return collage


def one_per_category(ids, count: int) -> list:
    picked: list = []
    for product in products(ids).values():
        if product.category.slug != "hostile" and all(product.category_id != other.category_id for other in picked):
            picked.append(product)
        if len(picked) == count:
            break
    return picked


def test_shop_the_look_shows_the_photo_a_box_per_product_and_a_row_each(shop, catalog):
    picked = one_per_category(catalog, 4)
    response = shop.post(f"{SHOP}shop-the-look/", {"image": jpeg_upload(collage_of(picked)), "categories": 4})
    assert response.status_code == 200, error_of(response)
    rows = response.context["rows"]
    assert {row.category for row in rows} == {product.category.slug for product in picked}
    matches = {row.category: [card.product.pk for card in row.cards] for row in rows}
    for product in picked:  # the very product photographed, among its row's matches
        assert product.pk in matches[product.category.slug]
    page = response.content.decode()
    assert response.context["photo_url"].startswith(DATA_URL_PREFIX)
    for row in rows:
        assert all(card.product.category.slug == row.category for card in row.cards)
        x0, y0, x1, y1 = row.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert f'href="#shop-clip-region-{row.number}" style="{row.box_style}"' in page
        assert f'id="shop-clip-region-{row.number}"' in page
        assert 0 < row.confidence <= 1 and f"{row.confidence_percent}% sure" in page  # how sure each box is
    assert page.count('class="shop-clip-box"') == 4


def test_shop_the_look_says_what_the_photo_shows_that_the_filters_leave_without_products(shop, catalog):
    """A price no product has said "No products found in this photo" of a photo that shows some;
    and a region emptied by the filters took one of the groups asked for."""
    from demo_project.catalog.models import Product

    picked = one_per_category(catalog, 4)
    photo = collage_of(picked)
    nothing = shop.post(f"{SHOP}shop-the-look/", {"image": jpeg_upload(photo), "max_price": "0.01"})
    page = nothing.content.decode()
    assert nothing.status_code == 200 and not nothing.context["rows"] and nothing.context["unmatched"]
    assert "but no products match your filters" in page and "No products found in this photo" not in page
    every = [group.category for group in look.shop_the_look(photo, categories=4)]
    assert len(every) >= 2
    without_first = Product.objects.exclude(category__slug=every[0])
    one = look.shop_the_look(photo, categories=1, queryset=without_first)
    assert [group.category for group in one] == every[1:2] and one.unmatched == (every[0],)


def test_shop_the_look_refuses_bad_requests_with_messages(shop):
    broken = io.BytesIO(b"\xff\xd8\xff\xe0 not really a jpeg")
    broken.name = "broken.jpg"
    response = shop.post(f"{SHOP}shop-the-look/", {"image": broken})
    assert response.status_code == 400 and error_of(response)
    photo = jpeg_upload(Image.new("RGB", (300, 300), (230, 230, 225)))
    response = shop.post(f"{SHOP}shop-the-look/", {"image": photo, "categories": 99})
    assert response.status_code == 400 and "categories must be between" in error_of(response).lower()


# -- product pages and tags ---------------------------------------------------------------------

def test_the_demo_product_page_shows_more_like_this_and_complete_the_look(shop, catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.select_related("category").get(pk=catalog[5])
    response = shop.get(f"/products/{product.pk}/")
    page = response.content.decode()
    assert response.status_code == 200 and "<h2>More like this</h2>" in page and "<h2>Complete the look</h2>" in page
    similar = [int(pk) for pk in re.findall(r'data-product-id="(\d+)"', page.split("<h2>Complete the look</h2>")[0])]
    assert len(similar) == 8 and product.pk not in similar
    assert f'alt="{html.escape(product.title)}"' in page
    assert 'id="demo-search"' in page  # the header's search box tag


def test_the_storefront_product_page_for_stores_without_one(shop, catalog):
    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[9])
    response = shop.get(f"{SHOP}products/{product.pk}/")
    if hasattr(product, "get_absolute_url"):  # the demo's ABSOLUTE_URL_OVERRIDES
        assert response.status_code == 302 and response["Location"] == product.get_absolute_url()
    else:
        assert response.status_code == 200 and "<h2>More like this</h2>" in response.content.decode()
    assert shop.get(f"{SHOP}products/999999999/").status_code == 404
    assert shop.get(f"{SHOP}products/not-a-key/").status_code == 404


def test_hidden_products_have_no_storefront_page(shop, catalog, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VISIBLE": {"in_stock": True}}
    from demo_project.catalog.models import Product

    hidden = Product.objects.filter(pk__in=catalog, in_stock=False).first()
    assert shop.get(f"{SHOP}products/{hidden.pk}/").status_code == 404
    ids = card_ids(shop.get(SHOP, {"q": "red", "limit": 100}))
    assert hidden.pk not in ids and all(product.in_stock for product in products(ids).values())


def render(source: str, **context) -> str:
    return Template("{% load shop_clip %}" + source).render(Context(context))


def test_similar_products_tag_as_a_variable_and_as_a_template(catalog, db):
    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[2])
    listed = render("{% similar_products product limit=4 as items %}"
                    "{% for card in items %}{{ card.product.pk }},{% endfor %}", product=product)
    ids = [int(pk) for pk in listed.strip(",").split(",")]
    assert len(ids) == 4 and product.pk not in ids
    by_key = render("{% similar_products pk limit=4 as items %}{{ items|length }}", pk=product.pk)
    assert by_key == "4"
    shown = render("{% similar_products product limit=3 %}", product=product)
    assert "<h2>More like this</h2>" in shown and shown.count('class="shop-clip-card"') == 3
    in_stock = render('{% similar_products product limit=20 in_stock="true" as items %}'
                      "{% for card in items %}{{ card.product.in_stock }}{% endfor %}", product=product)
    assert in_stock and "False" not in in_stock
    queryset = Product.objects.filter(category__slug="mug")
    mugs = render("{% similar_products product limit=5 queryset=mugs as items %}"
                  "{% for card in items %}{{ card.product.category.slug }} {% endfor %}",
                  product=product, mugs=queryset)
    assert set(mugs.split()) == {"mug"}
    other = render('{% similar_products product limit=2 template="shop_clip/grid.html" %}', product=product)
    assert "More like this" not in other  # grid.html reads `cards`, not `items`: an empty grid


def test_tags_show_nothing_for_a_product_without_a_vector(catalog, db, make_product, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    product = make_product(title="Fresh arrival")  # pending: no vector yet
    assert render("{% similar_products product %}{% complete_the_look product %}", product=product).strip() == ""
    assert render("{% similar_products product as items %}{{ items|length }}", product=product) == "0"
    assert render("{% similar_products missing %}").strip() == ""


def test_complete_the_look_tag_brings_other_categories(catalog, db):
    from demo_project.catalog.models import Product

    product = Product.objects.select_related("category").get(pk=catalog[4])
    rows = Template("{% load shop_clip %}{% complete_the_look product per_category=2 as rows %}")
    context = Context({"product": product})
    rows.render(context)
    found = context["rows"]
    assert found and all(row.category != product.category.slug and len(row.cards) <= 2 for row in found)
    shown = render("{% complete_the_look product categories=2 %}", product=product)
    assert "<h2>Complete the look</h2>" in shown and shown.count("<h3>") == 2


def test_tags_take_a_templates_numbers_as_text_and_refuse_another_models_object(catalog, db, settings, caplog):
    """``categories="2"`` crashed the product page; ``product.category`` showed the look-alikes of
    the product whose key the category's happened to be."""
    from django.template import TemplateSyntaxError

    from demo_project.catalog.models import Product

    product = Product.objects.select_related("category").get(pk=catalog[4])
    shown = render('{% complete_the_look product categories="2" per_category="1" %}', product=product)
    assert shown.count("<h3>") == 2 and shown.count('class="shop-clip-card"') == 2
    assert render('{% similar_products product limit="3" as items %}{{ items|length }}', product=product) == "3"
    settings.DEBUG = False
    with caplog.at_level("ERROR", logger="shop_clip.storefront"):
        wrong = render("{% similar_products product.category as items %}{{ items|length }}", product=product)
        word = render('{% similar_products product limit="abc" %}', product=product)
    assert wrong == "0" and word.strip() == ""
    assert "product must be a catalog.Product" in caplog.text and "limit must be a whole number" in caplog.text
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError, match="similar_products.*product must be a catalog.Product"):
        render("{% similar_products product.category %}", product=product)


def test_a_tags_misspelt_filter_is_the_templates_mistake(catalog, db, settings, caplog):
    from django.template import TemplateSyntaxError

    from demo_project.catalog.models import Product

    product = Product.objects.get(pk=catalog[4])
    settings.DEBUG = False
    with caplog.at_level("ERROR", logger="shop_clip.storefront"):
        shown = render('{% similar_products product in_stok=True as items %}{{ items|length }}', product=product)
    assert shown == "0" and "unknown filter 'in_stok' (did you mean 'in_stock'?)" in caplog.text
    settings.DEBUG = True
    with pytest.raises(TemplateSyntaxError, match="complete_the_look.*unknown filter 'in_stok'"):
        render("{% complete_the_look product in_stok=True %}", product=product)


def test_search_box_tag(catalog, db):
    shown = render('{% search_box id="header-q" label="Find it" %}')
    assert 'action="/shop/"' in shown and '<label for="header-q">Find it</label>' in shown
    assert 'data-shop-clip-suggest="/api/shop-clip/search/"' in shown
    assert 'data-product-url="/shop/products/__pk__/"' in shown and 'maxlength="200"' in shown
    assert 'role="listbox"' in shown and 'aria-live="polite"' in shown
    assets = render("{% shop_clip_assets %}")
    assert 'href="/static/shop_clip/shop_clip.css"' in assets and 'src="/static/shop_clip/shop_clip.js" defer' in assets


def test_pages_extend_the_base_template_the_store_names(shop, settings):
    assert "<main>" in shop.get(SHOP).content.decode()  # shop_clip/base.html
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "BASE_TEMPLATE": "catalog/base.html"}
    page = shop.get(SHOP).content.decode()
    assert 'class="demo-header"' in page and 'id="demo-search"' not in page  # no second search box
    assert 'id="demo-search"' in shop.get(f"{SHOP}photo/").content.decode()


def test_tag_filters_are_offered_where_the_store_has_them(shop, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "TAGS": {"colour": ["red", "blue"]}, "TAG_FILTERS": ["colour"]}
    page = shop.get(SHOP).content.decode()
    assert '<select id="shop-clip-filter-colour" name="colour">' in page and '<option value="red">red</option>' in page


def test_cards_read_every_picture_in_one_query(catalog, db, django_assert_max_num_queries):
    from shop_clip import search

    page = search.search("red", limit=30)
    with django_assert_max_num_queries(2):  # the images, and the categories' names
        cards = cards_for(page.hits)
    assert len(cards) == 30 and all(card.image_url for card in cards)
