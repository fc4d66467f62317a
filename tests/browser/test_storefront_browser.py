"""The storefront in a real browser: search as one types, filters, pages, photo search, shop the
look, product pages, hostile product data, the keyboard alone, API errors and no JavaScript."""

from __future__ import annotations

import base64
import io
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import MARKER, PAYLOAD

# The database is open to each test (and to the live server's threads) in a transaction that
# writes nothing: the catalog is the session's, committed; a flush would delete it.
pytestmark = pytest.mark.django_db

SUGGESTIONS = "#shop-clip-q-suggestions [role=option]"
CARDS = ".shop-clip-grid .shop-clip-card"
API_SEARCH = "/api/shop-clip/search/"


def card_ids(page: Page, within: str = "") -> list[int]:
    return [int(pk) for pk in page.locator(f"{within} {CARDS}".strip()).evaluate_all(
        "cards => cards.map(card => card.dataset.productId)")]


def products(ids):
    from demo_project.catalog.models import Product

    return Product.objects.select_related("category").in_bulk(ids)


def jpeg_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_of(product) -> bytes:
    from PIL import Image

    return jpeg_bytes(Image.open(product.image.path))


# Categories the bundled model tells apart in a 2x2 flat-lay of this catalog (a lamp, it takes
# for a hat or a cushion).
FLAT_LAY = ("hat", "scarf", "dress", "mug")


def flat_lay(storefront):
    """Catalog photos of a product of each of FLAT_LAY's categories, laid side by side."""
    from PIL import Image

    catalog = products(storefront.ids).values()
    picked = [next(product for product in catalog if product.category.slug == slug) for slug in FLAT_LAY]
    collage = Image.new("RGB", (512, 512))
    for index, product in enumerate(picked):
        collage.paste(Image.open(product.image.path).convert("RGB").resize((256, 256)),
                      ((index % 2) * 256, (index // 2) * 256))
    return jpeg_bytes(collage), picked


# Hands a photo to the page as a shopper's drop or paste would.
HAND_OVER = """([how, data, name, size]) => {
  const bytes = data === null ? new Uint8Array(size) : Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
  if (how === 'paste') {
    document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true}));
  } else {
    const zone = document.querySelector('[data-shop-clip-drop]');
    zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}"""


def hand_over(page: Page, how: str, data: bytes | None, name: str = "photo.jpg", size: int = 0) -> None:
    """Drop or paste ``data``, or ``size`` zero bytes made in the page."""
    page.evaluate(HAND_OVER, [how, None if data is None else base64.b64encode(data).decode(), name, size])


def test_typing_suggests_without_a_request_per_keystroke_and_a_filter_narrows(page: Page, screenshot):
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if API_SEARCH in request.url else None)
    page.goto("/shop/")
    # A store's own field in its search form (its template's): the API, which takes no such name, is not sent it.
    page.evaluate("""() => { const field = document.createElement('input');
        Object.assign(field, {type: 'hidden', name: 'sort', value: 'newest'});
        document.querySelector('.shop-clip-search-form').append(field); }""")
    box = page.get_by_label("Describe what you are looking for")
    box.press_sequentially("re", delay=20)
    page.wait_for_timeout(600)
    assert asked == []  # under the minimum length
    box.press_sequentially("d t-shirt", delay=40)
    expect(page.locator(SUGGESTIONS)).to_have_count(5)
    assert len(asked) == 1 and "q=red+t-shirt" in asked[0]  # one request after the typing stopped
    assert "sort=" not in asked[0]
    expect(page.locator("#shop-clip-q-status")).to_contain_text("5 suggestions")
    expect(box).to_have_attribute("aria-expanded", "true")
    screenshot(page, "search-suggestions")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/shop/\?q=red\+t-shirt"))
    expect(page.locator(CARDS)).to_have_count(20)
    expect(page.locator("[data-shop-clip-results-status]")).to_contain_text("Products 1–20 for “red t-shirt”")
    everything = card_ids(page)
    for image in page.locator(f"{CARDS} img").all()[:5]:  # alt text: the product's title, shown below it
        title = image.locator("xpath=ancestor::article").locator(".shop-clip-card-title").inner_text()
        assert image.get_attribute("alt") == title
    screenshot(page, "search-results")
    page.get_by_label("Category").select_option("dress")
    page.get_by_label("In stock").select_option("true")
    page.locator(".shop-clip-search-form").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"category=dress.*in_stock=true"))
    narrowed = card_ids(page)
    assert narrowed and narrowed != everything
    assert all(product.category.slug == "dress" and product.in_stock for product in products(narrowed).values())
    expect(page.get_by_label("Category")).to_have_value("dress")


def test_the_next_page_repeats_no_product(page: Page):
    page.goto("/shop/?q=blue+dress&limit=8")
    first = card_ids(page)
    assert len(first) == 8
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"offset=8"))
    second = card_ids(page)
    assert len(second) == 8 and not set(first) & set(second)
    page.get_by_role("link", name="Previous").click()
    assert card_ids(page) == first


def test_a_dropped_photo_of_a_product_shows_that_product_first(page: Page, storefront, screenshot):
    product = products([storefront.ids[12]])[storefront.ids[12]]
    page.goto("/shop/photo/")
    expect(page.get_by_text("You can also drop it here, or paste it.")).to_be_visible()
    with page.expect_navigation():
        hand_over(page, "drop", photo_of(product))
    expect(page.locator(CARDS).first).to_have_attribute("data-product-id", str(product.pk))
    expect(page.get_by_role("img", name="Your photo")).to_be_visible()
    screenshot(page, "photo-search")
    first = card_ids(page)
    page.get_by_role("button", name="More results").click()
    expect(page.locator(CARDS).first).not_to_have_attribute("data-product-id", str(product.pk))
    assert not set(card_ids(page)) & set(first)


def test_a_photo_over_the_limit_is_refused_before_it_is_sent(page: Page):
    page.goto("/shop/photo/")
    limit = int(page.locator("form[data-shop-clip-photo]").get_attribute("data-max-bytes"))
    hand_over(page, "drop", None, "huge.jpg", size=limit + 1)
    expect(page.locator("[data-shop-clip-photo-status]")).to_contain_text("larger than 10 MB")
    expect(page).to_have_url(re.compile(r"/shop/photo/$"))


def test_a_flat_lay_shows_a_box_per_product_and_a_box_shows_its_products(page: Page, storefront, screenshot):
    photo, picked = flat_lay(storefront)
    page.goto("/shop/shop-the-look/")
    with page.expect_navigation():
        hand_over(page, "paste", photo, "flat-lay.jpg")
    boxes = page.locator(".shop-clip-box")
    expect(boxes).to_have_count(4)
    expect(page.locator(".shop-clip-region:visible")).to_have_count(4)
    expect(page.locator(".shop-clip-scene img")).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"))
    screenshot(page, "shop-the-look")
    wanted = {product.category.name: product for product in picked}
    found = 0
    for index in range(4):
        box = boxes.nth(index)
        box.click()
        number = box.get_attribute("data-region")
        expect(box).to_have_attribute("aria-current", "true")
        region = page.locator(f"#shop-clip-region-{number}")
        expect(page.locator(".shop-clip-region:visible")).to_have_count(1)
        expect(region).to_be_visible()
        name = region.get_attribute("data-name")
        expect(page.locator("[data-shop-clip-look-status]")).to_contain_text(name)
        ids = card_ids(page, f"#shop-clip-region-{number}")
        assert {product.category.name for product in products(ids).values()} == {name}
        found += name in wanted and wanted[name].pk in ids  # the very product photographed
        if index == 1:
            screenshot(page, "shop-the-look-region")
    assert found >= 3  # each of 4 today; shop the look's own accuracy is tests/test_look.py's business
    page.get_by_role("button", name="Show every product found").click()
    expect(page.locator(".shop-clip-region:visible")).to_have_count(4)


def test_a_product_page_shows_more_like_this_and_complete_the_look(page: Page, storefront, screenshot):
    product = products([storefront.ids[7]])[storefront.ids[7]]
    page.goto(f"/products/{product.pk}/")
    expect(page.get_by_role("heading", name=product.title)).to_be_visible()
    similar = page.locator(".shop-clip-similar")
    expect(similar.get_by_role("heading", name="More like this")).to_be_visible()
    expect(similar.locator(".shop-clip-card")).to_have_count(8)
    ids = card_ids(page, ".shop-clip-similar")
    assert product.pk not in ids
    look = page.locator(".shop-clip-complete")
    expect(look.get_by_role("heading", name="Complete the look")).to_be_visible()
    assert product.category.name not in look.locator("h3").all_inner_texts()
    screenshot(page, "product-page")
    similar.locator("a.shop-clip-card-link").first.click()
    expect(page.get_by_role("heading", name="More like this")).to_be_visible()
    assert re.search(rf"/products/{ids[0]}/$", page.url)


def test_a_product_titled_with_markup_shows_it_as_text_and_runs_nothing(page: Page, storefront):
    page.goto("/shop/")
    page.get_by_label("Describe what you are looking for").fill(MARKER)
    option = page.locator(SUGGESTIONS).filter(has_text=PAYLOAD)
    expect(option).to_have_count(1)
    expect(option.locator("img")).to_have_attribute("alt", PAYLOAD)
    page.get_by_label("Describe what you are looking for").press("Enter")
    card = page.locator(f'{CARDS}[data-product-id="{storefront.hostile}"]')
    expect(card.locator(".shop-clip-card-title")).to_have_text(PAYLOAD)
    card.locator("a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PAYLOAD)
    page.goto(f"/shop/?q={MARKER}+{PAYLOAD}")  # the shopper's own words, echoed back
    expect(page.get_by_label("Describe what you are looking for")).to_have_value(f"{MARKER} {PAYLOAD}")
    assert page.locator('img[src="x"]').count() == 0  # the page fixture fails on any dialog


def focus_by_tab(page: Page, selector: str, most: int = 40) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def outline_of(page: Page) -> tuple[str, float]:
    return tuple(page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""))


def test_keyboard_only(page: Page, storefront):
    page.goto("/shop/")
    focus_by_tab(page, "#shop-clip-q")
    page.keyboard.type("blue dress")
    expect(page.locator(SUGGESTIONS)).to_have_count(5)
    box = page.locator("#shop-clip-q")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "shop-clip-q-option-1")
    expect(page.locator("#shop-clip-q-option-1")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    expect(page.locator("#shop-clip-q-suggestions")).to_be_hidden()
    page.keyboard.press("Enter")  # no suggestion chosen: the search itself
    expect(page.locator(CARDS)).to_have_count(20)
    focus_by_tab(page, "a.shop-clip-card-link")
    style, width = outline_of(page)
    assert style != "none" and width >= 2  # a visible focus
    ids = card_ids(page)
    focused = "document.activeElement.closest('.shop-clip-card').dataset.productId"
    page.keyboard.press("ArrowRight")
    assert int(page.evaluate(focused)) == ids[1]
    columns = page.evaluate("""() => { const cards = [...document.querySelectorAll('.shop-clip-card')];
        return cards.filter(c => c.getBoundingClientRect().top === cards[0].getBoundingClientRect().top).length; }""")
    page.keyboard.press("ArrowDown")
    assert int(page.evaluate(focused)) == ids[1 + columns]
    page.keyboard.press("End")
    assert int(page.evaluate(focused)) == ids[-1]
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="More like this")).to_be_visible()
    # A suggestion opened from the keyboard.
    page.goto("/shop/")
    focus_by_tab(page, "#shop-clip-q")
    page.keyboard.type("red t-shirt")
    expect(page.locator(SUGGESTIONS)).to_have_count(5)
    chosen = page.locator(SUGGESTIONS).first.get_attribute("data-product-id")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/products/{chosen}/$"))
    # Shop the look's boxes, from the keyboard (the file itself comes from the system's dialog).
    photo, _ = flat_lay(storefront)
    page.goto("/shop/shop-the-look/")
    focus_by_tab(page, "input[type=file]")
    style, width = outline_of(page)
    assert style != "none" and width >= 2
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "look.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    focus_by_tab(page, "form[data-shop-clip-photo] button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator(".shop-clip-box")).to_have_count(4)
    focus_by_tab(page, "a.shop-clip-box")
    assert outline_of(page)[0] != "none"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the second box
    expect(page.locator(".shop-clip-region:visible")).to_have_count(1)
    expect(page.locator(".shop-clip-box").nth(1)).to_have_attribute("aria-current", "true")
    focus_by_tab(page, "[data-shop-clip-show-all]")
    page.keyboard.press("Enter")
    expect(page.locator(".shop-clip-region:visible")).to_have_count(4)


def test_the_apis_400_and_429_are_shown_as_messages(page: Page, settings, screenshot):
    from django.core.cache import caches

    page.goto("/shop/")
    box = page.get_by_label("Describe what you are looking for")
    box.fill("tee " + " ".join(f"-w{i}" for i in range(17)))
    status = page.locator("#shop-clip-q-status")
    expect(status).to_have_text(re.compile(r"q has 17 operators .* at most 16 are allowed"))
    expect(status).to_have_class(re.compile("shop-clip-error"))
    expect(page.locator("#shop-clip-q-suggestions")).to_be_hidden()
    screenshot(page, "search-error")
    caches["default"].clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "shop_clip_search": "1/min", "shop_clip_image": "1/min"}}
    try:
        box.fill("red tee")
        expect(page.locator(SUGGESTIONS)).to_have_count(5)
        box.fill("blue tee")
        expect(status).to_have_text(re.compile(r"Too many searches right now: try again in \d+ seconds\."))
        box.press("Enter")  # the page shares the API's count: a message, not a blank page
        expect(page.locator(".shop-clip-error[role=alert]")).to_contain_text("Too many searches right now")
    finally:
        caches["default"].clear()


def test_the_pages_work_without_javascript(no_script: Page, storefront):
    page = no_script
    page.goto("/shop/")
    page.get_by_label("Describe what you are looking for").fill("green mug")
    page.get_by_label("Category").select_option("mug")
    page.locator(".shop-clip-search-form").get_by_role("button", name="Search").click()
    first = card_ids(page)
    assert first and {product.category.slug for product in products(first).values()} == {"mug"}
    expect(page.locator(SUGGESTIONS)).to_have_count(0)
    page.goto("/shop/?q=striped&limit=6")
    first = card_ids(page)
    page.get_by_role("link", name="Next").click()
    assert not set(card_ids(page)) & set(first)
    # Photo search and its next page, by plain form posts.
    product = products([storefront.ids[40]])[storefront.ids[40]]
    page.goto("/shop/photo/")
    page.get_by_label("Photo of what you are looking for").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": photo_of(product)}])
    page.get_by_role("button", name="Find products like it").click()
    assert card_ids(page)[0] == product.pk
    first = card_ids(page)
    page.get_by_role("button", name="More results").click()
    assert card_ids(page) and not set(card_ids(page)) & set(first)
    # Shop the look: every region's row is shown, and a box is a link to its row.
    photo, _ = flat_lay(storefront)
    page.goto("/shop/shop-the-look/")
    page.get_by_label("Photo of a look or a flat-lay").set_input_files(
        files=[{"name": "look.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    page.get_by_role("button", name="Shop this look").click()
    expect(page.locator(".shop-clip-box")).to_have_count(4)
    expect(page.locator(".shop-clip-region:visible")).to_have_count(4)
    page.locator(".shop-clip-box").nth(2).click()
    assert re.search(r"#shop-clip-region-3$", page.url)
    expect(page.locator(".shop-clip-region:visible")).to_have_count(4)
    # A product page's look-alikes are server-rendered.
    page.goto(f"/products/{storefront.ids[3]}/")
    expect(page.locator(".shop-clip-similar .shop-clip-card")).to_have_count(8)


@pytest.mark.parametrize("path", ["/shop/", "/shop/photo/", "/shop/shop-the-look/"])
def test_every_input_has_a_label(page: Page, path: str):
    page.goto(path)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select')]
        .filter(input => !input.labels || input.labels.length === 0).map(input => input.name)""")
    assert unlabelled == []


@pytest.mark.parametrize("path", ["/", "/shop/", "/shop/photo/", "/shop/shop-the-look/", "/shop/?q=striped+tee"])
def test_a_phone_wide_screen_never_scrolls_sideways(page: Page, path: str, screenshot):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(path)
    screenshot(page, "phone" + re.sub(r"\W+", "-", path).rstrip("-"))
    wide = page.evaluate("""() => [document.documentElement.scrollWidth, window.innerWidth,
        [...document.querySelectorAll('.shop-clip *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(e => e.className || e.tagName).slice(0, 5)]""")
    assert wide[0] <= wide[1], wide
