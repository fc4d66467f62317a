"""shop-clip in a django-oscar 4.2 shop through the preset (``shop_clip.contrib.oscar``): hidden
products, parent/child variants, Oscar's categories, stock records, images and strategy."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from oscar.core.loading import get_class, get_model
from PIL import Image

from shop_clip.catalog import get_catalog
from shop_clip.contrib.oscar import filters
from shop_clip.contrib.oscar.serializers import OscarProductSerializer
from shop_clip.models import ProductVector
from shop_clip.search import product_vectors
from shop_clip.spaces import active_space

from ..conftest import png_bytes, wait_for_indexing, wait_until
from ..store_contract import ContractCatalog, FilterCase, Photo, StoreContract, StoreQueryset, committed_catalog

pytestmark = [pytest.mark.django_db(transaction=True)]

API = "/api/shop-clip"
RED, BLUE, GREEN, YELLOW = (220, 20, 20), (20, 20, 220), (20, 180, 20), (230, 230, 0)
PURPLE, ORANGE, CYAN, MAGENTA = (130, 0, 160), (250, 140, 0), (0, 200, 200), (230, 0, 160)
BROWN, GREY, BLACK, NAVY = (120, 70, 20), (128, 128, 128), (15, 15, 15), (0, 0, 90)
OLIVE, PINK, TEAL = (110, 110, 0), (255, 170, 200), (0, 110, 110)

Product = get_model("catalogue", "Product")
ProductClass = get_model("catalogue", "ProductClass")
ProductImage = get_model("catalogue", "ProductImage")
ProductCategory = get_model("catalogue", "ProductCategory")
Category = get_model("catalogue", "Category")
Partner = get_model("partner", "Partner")
StockRecord = get_model("partner", "StockRecord")


@dataclass
class Shop:
    """The shop's products by name, and its stock-record partner."""

    partner: Partner
    products: dict[str, Product] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Product:
        try:
            return self.__dict__["products"][name]
        except KeyError:
            raise AttributeError(name) from None

    def add(self, name: str, title: str, *, structure: str = Product.STANDALONE, parent: Product | None = None,
            product_class: ProductClass | None = None, categories=(), colours=(), public: bool = True,
            price: str | None = None, currency: str = "GBP", stock: int | None = 5, allocated: int | None = None,
            description: str = "") -> Product:
        """An Oscar product as the dashboard would make it (validated by ``Product.clean``)."""
        product = Product(title=title, structure=structure, parent=parent, is_public=public, description=description,
                          product_class=None if parent else product_class, slug=name.replace("_", "-"))
        product.clean()
        product.save()
        for category in categories:
            ProductCategory.objects.create(product=product, category=category)
        for order, colour in enumerate(colours):
            add_image(product, colour, order)
        if price is not None:
            StockRecord.objects.create(product=product, partner=self.partner, partner_sku=f"sku-{name}",
                                       price=Decimal(price), price_currency=currency, num_in_stock=stock,
                                       num_allocated=allocated)
        self.products[name] = product
        return product

    def ids(self, *names: str) -> set[int]:
        return {self.products[name].pk for name in names}


def add_image(product: Product, colour, order: int) -> ProductImage:
    image = ProductImage(product=product, display_order=order)
    image.original.save(f"{product.slug}-{order}.png", ContentFile(png_bytes(colour)), save=True)
    return image


@pytest.fixture
def shop() -> Shop:
    return build_shop()


def build_shop() -> Shop:
    """Families, standalone products, hidden ones and every stock situation Oscar's strategy knows."""
    tee_class = ProductClass.objects.create(name="T-shirt", track_stock=True)
    gift_class = ProductClass.objects.create(name="Gift card", track_stock=False)
    clothing = Category.add_root(name="Clothing", slug="clothing")
    tshirts = clothing.add_child(name="T-shirts", slug="t-shirts")
    hats = clothing.add_child(name="Hats", slug="hats")
    bags = Category.add_root(name="Bags", slug="bags")
    gifts = Category.add_root(name="Gifts", slug="gifts")
    archive = Category.add_root(name="Archive", slug="archive", is_public=False)
    shop = Shop(Partner.objects.create(name="Warehouse"))
    add, parent = shop.add, Product.PARENT

    classic = add("classic", "Classic tee", structure=parent, product_class=tee_class, categories=[tshirts],
                  colours=[RED], description="Soft cotton")
    add("classic_red", "", structure=Product.CHILD, parent=classic, colours=[RED], price="25.00", stock=5)
    add("classic_blue", "Classic tee, blue", structure=Product.CHILD, parent=classic, colours=[BLUE], price="40.00")
    add("classic_hidden", "Classic tee, pink", structure=Product.CHILD, parent=classic, colours=[PINK],
        price="10.00", public=False)
    premium = add("premium", "Premium tee", structure=parent, product_class=tee_class, categories=[tshirts],
                  colours=[PURPLE])
    add("premium_a", "Premium tee, yellow", structure=Product.CHILD, parent=premium, colours=[YELLOW], price="40.00")
    add("premium_b", "", structure=Product.CHILD, parent=premium, price="45.00")  # no image of its own
    add("cheap_tee", "Plain tee", product_class=tee_class, categories=[tshirts], colours=[ORANGE], price="20.00",
        currency="EUR", stock=7)
    add("red_cap", "Red cap", product_class=tee_class, categories=[hats], colours=[RED], price="12.00", stock=1)
    beanie = add("beanie", "Beanie", structure=parent, product_class=tee_class, categories=[hats])
    add("beanie_black", "", structure=Product.CHILD, parent=beanie, colours=[BLACK], price="22.00", stock=0)
    add("beanie_navy", "", structure=Product.CHILD, parent=beanie, colours=[NAVY], price="22.00", stock=0)
    add("beanie_hidden", "", structure=Product.CHILD, parent=beanie, colours=[PINK], price="22.00", stock=0,
        public=False)
    add("tote", "Canvas tote", product_class=tee_class, categories=[bags, archive], colours=[GREEN], price="30.00",
        stock=4)
    add("sold_out_bag", "Leather bag", product_class=tee_class, categories=[bags], colours=[CYAN], price="15.00",
        stock=3, allocated=3)
    add("unlisted_bag", "Straw bag", product_class=tee_class, categories=[bags], colours=[BROWN])  # no stock record
    add("null_stock_bag", "Wool bag", product_class=tee_class, categories=[bags], colours=[GREY], price="18.00",
        stock=None)
    add("gift_card", "Gift card", product_class=gift_class, categories=[gifts], colours=[MAGENTA], price="50.00",
        stock=0)
    # Hidden: the twin of the tote (same photo), and a hidden family whose public child is the plain tee's twin.
    add("hidden", "Canvas tote secretword", product_class=tee_class, categories=[bags], colours=[GREEN],
        price="30.00", public=False)
    secret = add("secret", "Secret tee secretword", structure=parent, product_class=tee_class, categories=[tshirts],
                 colours=[OLIVE], public=False)
    add("secret_child", "", structure=Product.CHILD, parent=secret, colours=[ORANGE], price="20.00")
    return shop


LISTED = ("classic", "premium", "cheap_tee", "red_cap", "beanie", "tote", "sold_out_bag", "unlisted_bag",
          "null_stock_bag", "gift_card")
HIDDEN = ("hidden", "secret", "secret_child", "classic_hidden", "beanie_hidden")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [hit["product"]["id"] for hit in response.json()["results"]]


def found(client: Client, **params) -> set[int]:
    """Every product a text search may show under ``params`` (the catalog is smaller than a page)."""
    hits = ids(client.get(f"{API}/search/", {"q": "tee", "mode": "vector", "limit": 100, **params}))
    assert len(hits) == len(set(hits)), "a product listed twice"
    return set(hits)


def photo(colour) -> dict:
    return {"image": ContentFile(png_bytes(colour), name="photo.png")}


def scene(*colours) -> bytes:
    """A flat-lay: a block of each colour on a white backdrop."""
    image = Image.new("RGB", (220 * len(colours) + 20, 240), (255, 255, 255))
    for index, colour in enumerate(colours):
        image.paste(colour, (20 + 220 * index, 20, 220 * (index + 1), 220))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def look_ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {hit["product"]["id"] for group in response.json()["groups"] for hit in group["results"]}


def sellable(product: Product) -> bool:
    """Oscar's own answer: the shop's strategy, as its product pages and basket use it."""
    strategy = get_class("partner.strategy", "Selector")().strategy()
    info = strategy.fetch_for_parent(product) if product.is_parent else strategy.fetch_for_product(product)
    return info.availability.is_available_to_buy


# -- without vectors: the preset's view of Oscar's models --------------------------------------------------------

def test_the_preset_passes_the_system_checks():
    call_command("check", "--fail-level", "WARNING")


def test_complete_the_look_offers_no_ancestor_or_subcategory_of_the_products_own(shop):
    """A t-shirt got a "Clothing" group: its ancestor, whose products are t-shirts too."""
    from shop_clip.look import complementary_categories

    assert "clothing" not in complementary_categories(["clothing/t-shirts"])
    assert "clothing/t-shirts" not in complementary_categories(["clothing"])
    assert {"clothing/hats", "bags", "gifts"} <= set(complementary_categories(["clothing/t-shirts"]))
    assert "archive" not in complementary_categories(["clothing/t-shirts"])  # not browsable


def test_a_child_has_its_parents_title_description_and_categories(shop):
    catalog = get_catalog()
    child = Product.objects.get(pk=shop.classic_red.pk)
    assert catalog.text(child) == "Classic tee Soft cotton"
    assert catalog.category_values(child) == ["clothing/t-shirts"]
    assert catalog.category_values(shop.tote) == ["bags"]  # the hidden category "archive" is no shopper's
    assert "archive" not in catalog.category_choices()


def test_categories_of_one_slug_under_two_parents_stay_apart(shop):
    """Oscar's slugs are unique among siblings only: "Men > Shirts" and "Women > Shirts" were both
    ``shirts``, one menu entry, one filter and one group in the looks."""
    catalog = get_catalog()
    mens = Category.add_root(name="Men", slug="men").add_child(name="Shirts", slug="shirts")
    womens = Category.add_root(name="Women", slug="women").add_child(name="Shirts", slug="shirts")
    tee_class = ProductClass.objects.get(name="T-shirt")
    shop.add("oxford", "Oxford shirt", product_class=tee_class, categories=[mens], colours=[TEAL], price="35.00")
    shop.add("silk", "Silk shirt", product_class=tee_class, categories=[womens], colours=[PINK], price="45.00")
    shown = {product.pk: product for product in catalog.product_queryset().filter(pk__in=shop.ids("oxford", "silk"))}
    assert catalog.category_values(shown[shop.oxford.pk]) == ["men/shirts"]
    assert catalog.category_values(shop.silk) == ["women/shirts"]  # not prefetched: read from its ancestors
    assert {"men/shirts", "women/shirts", "clothing/t-shirts"} <= set(catalog.category_choices())
    assert catalog.category_names(["men/shirts", "women/shirts", "clothing/t-shirts", "men"]) == {
        "men/shirts": "Men > Shirts", "women/shirts": "Women > Shirts", "clothing/t-shirts": "T-shirts", "men": "Men"}

    def listed(value: str) -> set[int]:
        return set(Product.objects.filter(filters.in_category(value)).values_list("pk", flat=True))

    assert listed("men/shirts") == shop.ids("oxford") and listed("women") == shop.ids("silk")
    assert listed("shirts") == shop.ids("oxford", "silk")  # a bare slug (an old link): every category of it
    assert listed("clothing/t-shirts") == listed("t-shirts") != set()
    looked_in = set(Product.objects.filter(**catalog.category_lookups(["men/shirts"])).values_list("pk", flat=True))
    assert looked_in == shop.ids("oxford")
    assert {"men/shirts", "women/shirts"} <= set(complementary_categories_of("clothing/t-shirts"))
    # The same kind under another tree is not what completes a shirt's look.
    assert catalog.category_family(["men/shirts"]) == {"men", "men/shirts", "women/shirts"}
    assert "women/shirts" not in complementary_categories_of("men/shirts")


def test_look_categories_named_by_an_oscar_slug_are_told_the_full_slug(shop, settings):
    from django.core.checks import run_checks

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "LOOK_CATEGORIES": {"t-shirts": ["clothing/hats", "bags"]}}
    warnings = [(m.msg, m.hint) for m in run_checks(databases=["default"]) if m.id == "shop_clip.W005"]
    assert warnings == [("SHOP_CLIP['LOOK_CATEGORIES'] names 't-shirts', which is none of the store's categories: "
                         "complete the look leaves it out.", "Did you mean 'clothing/t-shirts'?")]


def test_oscars_product_admin_has_shop_clips_column_filter_and_details(shop, admin_client):
    """register_product_admin, as the README tells a shop: Oscar's own admin, shop-clip mixed in."""
    listing = admin_client.get("/admin/catalogue/product/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "shop-clip" in page and "Embed again with shop-clip" in page
    assert "column-upc" in page  # Oscar's own columns are still there

    def listed(state: str) -> int:
        return admin_client.get("/admin/catalogue/product/", {"shop_clip": state}).context["cl"].result_count

    # No worker ran: a product with a photo is pending, one without has no vectors.
    assert listed("pending") == Product.objects.filter(images__isnull=False).distinct().count() > 0
    assert listed("pending") + listed("none") == Product.objects.count() and listed("embedded") == 0
    change = admin_client.get(f"/admin/catalogue/product/{shop.cheap_tee.pk}/change/")
    image = shop.cheap_tee.images.get()
    assert change.status_code == 200 and f"img:{image.pk} · " in change.content.decode()  # its vector's row


def test_the_readmes_product_page_template_is_the_one_tested_here():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = re.search(r'```django\n(\{% extends "oscar/catalogue/detail.html" %\}.*?)```', readme, re.S)
    template = Path(__file__).parent / "templates" / "oscar" / "catalogue" / "detail.html"
    assert snippet and snippet.group(1) == template.read_text()


def test_the_storefront_in_oscars_own_layout(shop, client):
    page = client.get("/shop/")
    assert page.status_code == 200
    shown = page.content.decode()
    assert 'id="content_inner"' in shown and 'class="shop-clip-nav"' in shown  # Oscar's layout, shop-clip's page
    assert '<option value="clothing/t-shirts">T-shirts</option>' in shown and 'value="archive"' not in shown


def complementary_categories_of(category: str) -> list[str]:
    from shop_clip.look import complementary_categories

    return complementary_categories([category])


def test_images_in_display_order(shop):
    add_image(shop.cheap_tee, BLUE, 1)
    first = add_image(shop.cheap_tee, GREEN, 0)  # a second primary: Oscar orders by display_order only
    keys = [ref.key for ref in get_catalog().image_refs([shop.cheap_tee.pk])]
    assert keys[:2] == [f"img:{shop.cheap_tee.images.order_by('pk')[0].pk}", f"img:{first.pk}"]
    assert len(keys) == 3


def test_availability_filter_agrees_with_oscars_strategy(shop):
    available = set(Product.objects.filter(filters.in_stock("true")).values_list("pk", flat=True))
    unavailable = set(Product.objects.filter(filters.in_stock("false")).values_list("pk", flat=True))
    for product in Product.objects.filter(is_public=True, parent__isnull=True):
        assert (product.pk in available) is sellable(product), product.title
        assert (product.pk in unavailable) is not sellable(product), product.title
    for child in Product.objects.filter(is_public=True, parent__is_public=True, parent__isnull=False):
        assert (child.pk in available) is sellable(child), child.get_title()
    assert not unavailable & set(Product.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    assert shop.ids("gift_card", "classic") <= available  # untracked stock; a family with one size in stock
    assert shop.ids("sold_out_bag", "null_stock_bag", "unlisted_bag", "beanie") <= unavailable


def test_category_filter_takes_subcategories(shop):
    in_clothing = set(Product.objects.filter(filters.in_category("clothing")).values_list("pk", flat=True))
    assert shop.ids("classic", "classic_red", "premium", "cheap_tee", "red_cap", "beanie") <= in_clothing
    assert not in_clothing & shop.ids("tote", "gift_card")
    assert not Product.objects.filter(filters.in_category("archive")).exists()  # not browsable
    assert not Product.objects.filter(filters.in_category("no-such-category")).exists()


# -- with the real worker ------------------------------------------------------------------------------------------

@pytest.mark.worker
def test_price_currency_availability_and_url_in_the_json(celery_worker, shop):
    wait_for_indexing()
    body = Client().get(f"{API}/search/", {"q": "tee", "mode": "vector", "limit": 100}).json()
    shown = {hit["product"]["id"]: hit["product"] for hit in body["results"]}
    plain = shown[shop.cheap_tee.pk]
    assert plain == {
        "id": shop.cheap_tee.pk, "title": "Plain tee", "price": "20.00", "currency": "EUR", "available": True,
        "num_available": 7, "url": f"http://testserver{shop.cheap_tee.get_absolute_url()}",
        "image_url": f"http://testserver{shop.cheap_tee.images.get().original.url}",
        "category": [{"slug": "clothing/t-shirts", "name": "T-shirts", "full_name": "Clothing > T-shirts"}],
    }
    assert plain["url"].startswith("http://testserver/catalogue/")
    family = shown[shop.classic.pk]  # the lowest public child's price; the hidden 10.00 child counts for nothing
    assert (family["title"], family["price"], family["currency"], family["available"], family["num_available"]) == \
        ("Classic tee", "25.00", "GBP", True, 10)
    assert family["url"] == f"http://testserver{shop.classic.get_absolute_url()}"
    hidden_photo = shop.classic_hidden.images.get().original.url
    assert family["image_url"] and not family["image_url"].endswith(hidden_photo)
    assert shown[shop.beanie.pk]["available"] is False and shown[shop.beanie.pk]["num_available"] == 0
    unlisted = shown[shop.unlisted_bag.pk]
    assert (unlisted["price"], unlisted["currency"], unlisted["available"]) == (None, None, False)
    gift = shown[shop.gift_card.pk]
    assert (gift["price"], gift["available"], gift["num_available"]) == ("50.00", True, None)
    # never a bare string
    assert shown[shop.tote.pk]["category"] == [{"slug": "bags", "name": "Bags", "full_name": "Bags"}]


@pytest.mark.worker
def test_images_added_replaced_and_deleted_through_oscar_keep_the_vectors_current(celery_worker, shop):
    wait_for_indexing()
    product = shop.red_cap
    first = product.images.get()

    def rows():
        return {row.image_key: row for row in ProductVector.objects.filter(product=product)}

    assert {key: row.status for key, row in rows().items()} == {f"img:{first.pk}": "embedded"}
    with transaction.atomic():  # the worker sees nothing until the commit
        second = add_image(product, YELLOW, 1)
        assert rows()[f"img:{second.pk}"].status == "pending"
    wait_for_indexing()
    assert {row.status for row in rows().values()} == {"embedded"} and len(rows()) == 2

    before = rows()[f"img:{first.pk}"].embedding
    with transaction.atomic():
        first.original.save("replaced.png", ContentFile(png_bytes(TEAL)), save=True)
        assert rows()[f"img:{first.pk}"].status == "pending"
    wait_for_indexing()
    assert rows()[f"img:{first.pk}"].status == "embedded"
    assert list(rows()[f"img:{first.pk}"].embedding) != list(before)
    best = Client().post(f"{API}/search/image/?limit=1", photo(TEAL)).json()["results"][0]
    assert best["product"]["id"] == product.pk and best["score"] > 0.99

    first.delete()  # Oscar's delete renumbers the remaining images (and saves them)
    second.refresh_from_db()
    assert second.display_order == 0
    assert set(rows()) == {f"img:{second.pk}"}
    wait_for_indexing()
    assert rows()[f"img:{second.pk}"].status == "embedded"
    best = Client().post(f"{API}/search/image/?limit=1", photo(TEAL)).json()["results"][0]
    assert best["product"]["id"] != product.pk or best["score"] < 0.99

    product.delete()
    assert not ProductVector.objects.filter(product_id=product.pk).exists()


@pytest.mark.worker
def test_two_categories_of_one_slug_are_two_groups_of_the_look_and_of_the_menu(celery_worker, shop):
    mens = Category.add_root(name="Men", slug="men").add_child(name="Shirts", slug="shirts")
    womens = Category.add_root(name="Women", slug="women").add_child(name="Shirts", slug="shirts")
    tee_class = ProductClass.objects.get(name="T-shirt")
    shop.add("oxford", "Oxford shirt", product_class=tee_class, categories=[mens], colours=[TEAL], price="35.00")
    shop.add("silk", "Silk shirt", product_class=tee_class, categories=[womens], colours=[PINK], price="45.00")
    wait_for_indexing()
    client = Client()
    body = client.get(f"{API}/products/{shop.cheap_tee.pk}/complete-the-look/", {"categories": 10, "per_category": 5})
    assert body.status_code == 200, body.content
    groups = {group["category"]: {hit["product"]["id"] for hit in group["results"]} for group in body.json()["groups"]}
    assert groups["men/shirts"] == shop.ids("oxford") and groups["women/shirts"] == shop.ids("silk")
    names = {group["category"]: group["name"] for group in body.json()["groups"]}
    assert names["men/shirts"] == "Men > Shirts" and names["clothing/hats"] == "Hats"
    # A men's shirt's look is completed by other kinds, not by the women's shirts.
    offered = client.get(f"{API}/products/{shop.oxford.pk}/complete-the-look/", {"categories": 10}).json()["groups"]
    assert offered and "women/shirts" not in {group["category"] for group in offered}
    kept = client.get(f"{API}/products/{shop.cheap_tee.pk}/complete-the-look/", {"category": "women/shirts"})
    assert {hit["product"]["id"] for group in kept.json()["groups"] for hit in group["results"]} == shop.ids("silk")
    from shop_clip.storefront.filters import category_choices

    assert {("men/shirts", "Men > Shirts"), ("women/shirts", "Women > Shirts")} <= set(category_choices())


@pytest.mark.worker
def test_shop_the_look_finds_a_shirt_in_a_shop_with_four_shirt_trees(celery_worker, shop):
    """Men, Women, Kids and Unisex each have "Shirts": the nearest products' votes split four ways,
    and a category with one tree (or none) outvoted the shirts, or they fell under LOOK_MIN_CONFIDENCE."""
    tee_class = ProductClass.objects.get(name="T-shirt")
    shades = {"men": (0, 110, 110), "women": (0, 116, 104), "kids": (6, 104, 116), "unisex": (0, 120, 120)}
    for tree, colour in shades.items():
        shirts = Category.add_root(name=tree.title(), slug=tree).add_child(name="Shirts", slug="shirts")
        shop.add(f"{tree}_shirt", f"{tree.title()} shirt", product_class=tee_class, categories=[shirts],
                 colours=[colour], price="30.00")
    wait_for_indexing()
    answer = Client().post(f"{API}/shop-the-look/?categories=5&per_category=3",
                           {"image": ContentFile(scene(TEAL, RED), name="scene.png")})
    assert answer.status_code == 200, answer.content
    teal = [group for group in answer.json()["groups"] if group["box"][2] < 0.6]  # the left block's region
    assert len(teal) == 1 and teal[0]["category"].endswith("/shirts"), answer.json()
    assert teal[0]["name"].endswith("> Shirts")  # split four ways, the votes had named it a bag


@pytest.mark.worker
def test_the_storefronts_search_lists_oscars_visible_products_with_their_own_pages(celery_worker, shop, client):
    wait_for_indexing()
    page = client.get("/shop/", {"q": "tee", "limit": 50})
    assert page.status_code == 200
    shown = page.content.decode()
    listed = {int(pk) for pk in re.findall(r'data-product-id="(\d+)"', shown)}
    assert shop.ids("cheap_tee", "classic") <= listed and not listed & shop.ids(*HIDDEN)
    assert f'href="{shop.cheap_tee.get_absolute_url()}"' in shown
    narrowed = client.get("/shop/", {"q": "tee", "category": "clothing/hats", "limit": 50}).content.decode()
    assert {int(pk) for pk in re.findall(r'data-product-id="(\d+)"', narrowed)} == shop.ids("red_cap", "beanie")


@pytest.mark.worker
def test_oscars_product_page_shows_more_like_this(celery_worker, shop):
    """The storefront's tag on Oscar's own product page (templates/oscar/catalogue/detail.html)."""
    wait_for_indexing()
    product = shop.products["cheap_tee"]
    page = Client().get(product.get_absolute_url()).content.decode()
    # The README's template for it, word for word.
    assert "<h2>More like this</h2>" in page and "/static/shop_clip/shop_clip.css" in page
    assert "<h2>Complete the look</h2>" in page
    shown = {int(pk) for pk in re.findall(r'data-product-id="(\d+)"', page)}
    assert shown and product.pk not in shown and not shown & shop.ids(*HIDDEN)


def test_switched_to_a_binary_index_the_shop_answers_with_families_and_hidden_products_as_exact_search_does(
        celery_worker, shop, settings):
    import numpy as np

    from shop_clip.hnsw import BINARY, HALFVEC, has_index
    from shop_clip.knn import nearest, nearest_each
    from shop_clip.scan_plan import ScanPlan
    from shop_clip.spaces import latest_active_space

    wait_for_indexing()
    wait_until(lambda: (space := latest_active_space()) is not None and has_index(space.pk), 60,
               "the worker to build the index")
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "VECTOR_INDEX": BINARY}
    call_command("shop_clip_index", "--switch-index")  # outside a transaction: built and dropped CONCURRENTLY
    space = latest_active_space()
    assert space.index_kind == BINARY and space.index_centre is not None
    assert has_index(space.pk, BINARY) and not has_index(space.pk, HALFVEC)
    hidden = shop.ids(*HIDDEN)
    for row in ProductVector.objects.filter(space=space, embedding__isnull=False):
        query = np.asarray(row.embedding, dtype=np.float32)
        # 400 candidates re-ranked: every row of this small shop, so the order is exact search's.
        walked = [(hit.product_id, hit.group_id) for hit in nearest(query, space, wanted=20, plan=ScanPlan.INDEX)]
        assert walked == [(hit.product_id, hit.group_id) for hit in nearest(query, space, wanted=20,
                                                                             plan=ScanPlan.EXACT)]
        families = [group for _, group in walked]
        assert len(families) == len(set(families)) and not {value for hit in walked for value in hit} & hidden
    queries = [np.asarray(row.embedding, dtype=np.float32) for row in ProductVector.objects.filter(
        space=space, embedding__isnull=False)]
    # Every query in one statement of binary_statement's: the same answers as one by one.
    assert nearest_each(queries, space, wanted=20) == [nearest(query, space, wanted=20) for query in queries]


# -- the store contract (tests/store_contract.py) on the shop, committed once and embedded in this process --------

class TestContract(StoreContract):
    @pytest.fixture(scope="class")
    def contract_shop(self, django_db_setup, django_db_blocker) -> Shop:
        with committed_catalog(django_db_blocker, build_shop) as shop:
            yield shop

    @pytest.fixture(scope="class")
    def contract_catalog(self, contract_shop, django_db_blocker) -> ContractCatalog:
        shop = contract_shop
        families = (("classic", "classic_red", "classic_blue", "classic_hidden"), ("premium", "premium_a", "premium_b"),
                    ("beanie", "beanie_black", "beanie_navy", "beanie_hidden"))
        with django_db_blocker.unblock():
            catalog = get_catalog()

            def urls(*names: str) -> set[str]:
                return {image.original.url for name in names for image in shop.products[name].images.all()}

            image_urls = {shop.products[name].pk: urls(name) for name in LISTED}
            for family in families:  # a family shows its visible members' photos, never a hidden child's
                image_urls[shop.products[family[0]].pk] = urls(*(name for name in family if name not in HIDDEN))
            categories = {shop.products[name].pk: set(catalog.category_values(shop.products[name])) for name in LISTED}
            photos = {shop.products[name].pk: Photo(png_bytes(colour), shop.products[owner].images.get().original.url)
                      for name, owner, colour in (("classic", "classic_blue", BLUE), ("premium", "premium_a", YELLOW),
                                                  ("tote", "tote", GREEN), ("cheap_tee", "cheap_tee", ORANGE),
                                                  ("gift_card", "gift_card", MAGENTA))}
        return ContractCatalog(
            products=[shop.products[name].pk for name in LISTED], categories=categories, image_urls=image_urls,
            photos=photos, text="tee",
            # A page of one family costs one query fewer than longer pages (a prefetch with nothing to fetch).
            short_page=2,
            # Not the beanie: a family whose parent has no photo of its own has no look-alikes nor looks yet (409);
            # test_a_parent_without_a_photo_of_its_own_has_look_alikes holds the gap.
            asked=[shop.products[name].pk for name in LISTED],
            families={shop.products[member].pk: shop.ids(*family) - {shop.products[member].pk}
                      for family in families for member in family if member not in HIDDEN},
        )

    @pytest.fixture(scope="class")
    def contract_filters(self, contract_shop) -> list[FilterCase]:
        shop = contract_shop

        def named(*names: str):
            wanted = shop.ids(*names)
            return lambda product: product["id"] in wanted

        return [
            FilterCase({"in_stock": "true"}, named("classic", "premium", "cheap_tee", "red_cap", "tote", "gift_card"),
                       rejects=("maybe",)),
            FilterCase({"in_stock": "false"}, named("sold_out_bag", "unlisted_bag", "null_stock_bag", "beanie")),
            FilterCase({"min_price": "30"}, named("classic", "premium", "tote", "gift_card"), rejects=("1e40",)),
            # The hidden child's 10.00 does not bring its family in.
            FilterCase({"max_price": "12"}, named("red_cap"), rejects=("cheap", "NaN")),
            FilterCase({"min_price": "20", "max_price": "25"}, named("classic", "cheap_tee", "beanie")),
            FilterCase({"in_stock": "true", "max_price": "30"}, named("classic", "cheap_tee", "red_cap", "tote")),
            # The category is the parent's, the price a child's: the family whose child costs 25, not 40 and 45.
            FilterCase({"category": "t-shirts", "max_price": "30"}, named("classic", "cheap_tee")),
            FilterCase({"category": "clothing"}, named("classic", "premium", "cheap_tee", "red_cap", "beanie")),
        ]

    @pytest.fixture
    def contract_queryset(self) -> StoreQueryset:
        return StoreQueryset(Product.objects.exclude(categories__slug="bags"),
                             lambda product: not product.categories.filter(slug="bags").exists(), "'bags'")

    @pytest.fixture
    def contract_hidden(self, contract_shop) -> dict:
        """Each hidden product but one has a visible twin with the very same photo: a leak would tie it for first."""
        shop = contract_shop
        return {shop.products[name].pk: png_bytes(colour)
                for name, colour in (("hidden", GREEN), ("secret", OLIVE), ("secret_child", ORANGE),
                                     ("classic_hidden", PINK))}

    def test_hidden_words_scenes_and_categories_bring_no_hidden_product(self, contract_shop, contract_client):
        client, hidden = contract_client, contract_shop.ids(*HIDDEN)
        assert ids(client.get(f"{API}/search/", {"q": "secretword", "mode": "keyword"})) == []
        assert not set(ids(client.get(f"{API}/search/", {"q": "secretword tote", "limit": 100}))) & hidden
        # Nor do a hidden variant's words bring its family: "pink" is only the hidden child's.
        assert ids(client.get(f"{API}/search/", {"q": "pink", "mode": "keyword"})) == []
        shown = look_ids(client.post(f"{API}/shop-the-look/?per_category=20&categories=5",
                                     {"image": ContentFile(scene(GREEN, ORANGE, PINK), name="scene.png")}))
        assert shown and not shown & hidden
        assert found(client, category="archive") == set()  # not browsable

    def test_a_childs_nearest_look_alike_is_its_photo_outside_the_family(self, contract_shop, contract_client):
        shop = contract_shop
        hits = ids(contract_client.get(f"{API}/products/{shop.classic_red.pk}/similar/", {"limit": 100}))
        assert hits[0] == shop.red_cap.pk  # the same photo outside the family; the parent's own red photo is left out

    def test_a_parent_without_a_photo_of_its_own_has_look_alikes(self, contract_shop, contract_catalog,
                                                                 contract_client):
        beanie = contract_shop.beanie.pk
        for path in ("similar", "complete-the-look"):
            assert contract_client.get(f"{API}/products/{beanie}/{path}/").status_code == 200, path
        hits = {str(pk) for pk in ids(contract_client.get(f"{API}/products/{beanie}/similar/", {"limit": 100}))}
        assert hits == contract_catalog.shown - contract_catalog.family(beanie)
        # Its look is its shown variants' photos: the hidden pink one's decided it too.
        shown_variants = ProductVector.objects.filter(product__in=contract_shop.ids("beanie_black", "beanie_navy"))
        expected = np.asarray(list(shown_variants.values_list("embedding", flat=True)), dtype=np.float32)
        vectors = product_vectors(beanie, active_space())
        assert len(expected) == 2 and sorted(map(tuple, vectors.tolist())) == sorted(map(tuple, expected.tolist()))

    def test_the_json_of_a_page_costs_the_same_queries_whatever_its_length(self, contract_shop):
        from django.contrib.auth.models import AnonymousUser
        from django.db import connection
        from django.test import RequestFactory
        from django.test.utils import CaptureQueriesContext

        catalog, request, counts = get_catalog(), RequestFactory().get("/"), {}
        request.user = AnonymousUser()  # as Django's authentication middleware sets it; Oscar's strategy reads it
        for names in (("classic", "cheap_tee", "beanie"), LISTED):  # each page has families and standalone products
            with CaptureQueriesContext(connection) as queries:
                products = list(catalog.product_queryset().filter(pk__in=contract_shop.ids(*names)))
                body = OscarProductSerializer(products, many=True, context={"request": request}).data
            assert len(body) == len(names)
            counts[len(names)] = len(queries)
        assert counts[3] == counts[len(LISTED)], counts  # prices, stock, children, photos, categories: per page
