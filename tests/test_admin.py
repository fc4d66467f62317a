"""The store's product admin with shop-clip mixed in: state column, filter, details, action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from shop_clip import tagging
from shop_clip.claim_lanes import process_pending
from shop_clip.hnsw import build_index, has_index, index_state
from shop_clip.models import EmbeddingSpace, ProductFlag, ProductVector
from shop_clip.spaces import active_space


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


@pytest.fixture
def products(make_product, settings):
    settings.SHOP_CLIP = {**settings.SHOP_CLIP, "ENQUEUE_ON_SAVE": False}
    good = make_product("Red T-shirt", colour=(200, 30, 30))
    broken = make_product("Broken T-shirt", image=b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    process_pending()
    waiting = make_product("Waiting T-shirt", colour=(30, 30, 200))
    return good, broken, waiting


def changelist(client: Client, **params) -> str:
    response = client.get("/admin/catalog/product/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_list_shows_each_products_state_and_filters_by_it(staff, products):
    good, broken, waiting = products
    page = changelist(staff)
    for state in ("embedded", "failed", "pending"):
        assert f'<td class="field-shop_clip_state">{state}</td>' in page
    failed = changelist(staff, shop_clip="failed")
    assert "Broken T-shirt" in failed and "Red T-shirt" not in failed and "Waiting T-shirt" not in failed
    embedded = changelist(staff, shop_clip="embedded")
    assert "Red T-shirt" in embedded and "Broken T-shirt" not in embedded


def test_product_page_shows_vectors_tags_and_open_flags(staff, products, settings):
    good, broken, _ = products
    page = staff.get(f"/admin/catalog/product/{broken.pk}/change/").content.decode()
    assert "<b>failed</b>" in page and "corrupt or truncated" in page

    settings.SHOP_CLIP = {**settings.SHOP_CLIP, **settings.DEMO_TAGGING}
    tagging.tag_products([good.pk])
    ProductFlag.objects.create(product=good, space=ProductVector.objects.get(product=good).space,
                               kind="category_mismatch", label="Boots", score=0.9,
                               detail="listed as T-shirt, looks like Boots (0.90)")
    page = staff.get(f"/admin/catalog/product/{good.pk}/change/").content.decode()
    assert "<b>embedded</b>" in page and "tags: colour " in page
    assert "listed as T-shirt, looks like Boots (0.90)" in page
    assert "embedded, flagged" in changelist(staff)
    assert "Red T-shirt" in changelist(staff, shop_clip="flagged")


def test_embed_again_action_reencodes_the_selected_products(staff, products):
    good, broken, _ = products
    response = staff.post("/admin/catalog/product/", {
        "action": "shop_clip_embed_again", "_selected_action": [good.pk, broken.pk]})
    assert response.status_code == 302
    rows = {row.product_id: row for row in ProductVector.objects.filter(product__in=[good, broken])}
    assert {row.status for row in rows.values()} == {"pending"}
    assert rows[broken.pk].attempts == 0 and rows[broken.pk].error == ""
    result, _ = process_pending()
    # The red T-shirt encoded again (not skipped as unchanged), beside the one still waiting.
    assert (result.embedded, result.unchanged, result.failed) == (2, 0, 1)
    assert ProductVector.objects.get(product=good).status == "embedded"
    assert ProductVector.objects.get(product=broken).status == "failed"


def test_the_vector_rows_embed_again_action_reencodes_them(staff, products):
    good, _, _ = products
    rows = list(ProductVector.objects.filter(product=good).values_list("pk", flat=True))
    response = staff.post("/admin/shop_clip/productvector/", {"action": "retry", "_selected_action": rows}, follow=True)
    assert "1 images will be embedded again by the workers" in response.content.decode()
    result, _ = process_pending()
    assert (result.embedded, result.unchanged) == (2, 0)  # the red T-shirt again, not skipped as unchanged


def test_staff_who_may_only_view_get_no_action_that_writes(products, db):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client = Client()
    client.force_login(viewer)
    flag = ProductFlag.objects.create(product=products[0], space=active_space(), kind="category", label="boots",
                                      score=0.9)
    for model, action in (("shop_clip/productvector", "retry"), ("shop_clip/productflag", "mark_reviewed"),
                          ("catalog/product", "shop_clip_embed_again")):
        page = client.get(f"/admin/{model}/")
        assert page.status_code == 200 and f'value="{action}"' not in page.content.decode(), model
        client.post(f"/admin/{model}/", {"action": action, "_selected_action": [flag.pk, products[0].pk]})
    flag.refresh_from_db()
    assert flag.reviewed_at is None
    assert ProductVector.objects.get(product=products[0]).status == "embedded"


@pytest.mark.parametrize("url", [
    "/admin/shop_clip/producttag/?group=%00", "/admin/shop_clip/productvector/?space=%00",
    "/admin/shop_clip/productflag/?space=%00", "/admin/shop_clip/productvector/?error__regex=(",
])
def test_a_lookup_the_database_refuses_is_the_admins_bad_lookup_page(staff, products, url):
    response = staff.get(url)
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    assert staff.get(response["Location"]).status_code == 200


def test_an_id_no_row_can_have_is_the_admins_not_found(staff, products):
    response = staff.get("/admin/shop_clip/embeddingspace/%00/change/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_rows_the_pipeline_writes_cannot_be_added_by_hand(staff, products):
    for model in ("productvector", "producttag", "productflag", "embeddingspace"):
        assert staff.get(f"/admin/shop_clip/{model}/add/").status_code == 403
        assert staff.post(f"/admin/shop_clip/{model}/add/", {}).status_code == 403
    assert ProductVector.objects.count() and not EmbeddingSpace.objects.filter(model_ref="").exists()


def test_a_space_search_has_left_can_be_deleted_with_its_index_and_the_active_one_cannot(
        staff, products, django_capture_on_commit_callbacks):
    active = active_space()
    old = EmbeddingSpace.objects.create(model_id="left-behind", model_ref="x", dim=active.dim)
    assert build_index(old.pk, old.dim) and has_index(old.pk)
    page = staff.get(f"/admin/shop_clip/embeddingspace/{active.pk}/change/").content.decode()
    assert "answers from this space" in page and "/delete/" not in page
    assert staff.post(f"/admin/shop_clip/embeddingspace/{active.pk}/delete/", {"post": "yes"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # the index is dropped once the view commits
        response = staff.post(f"/admin/shop_clip/embeddingspace/{old.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not EmbeddingSpace.objects.filter(pk="left-behind").exists()
    assert index_state("left-behind") is None
    # The list's bulk delete refuses it too: its confirmation says so, and confirming is refused.
    chosen = {"action": "delete_selected", "_selected_action": [active.pk]}
    confirm = staff.post("/admin/shop_clip/embeddingspace/", chosen).content.decode()
    assert "doesn’t have permission to delete" in confirm or "doesn't have permission to delete" in confirm
    assert staff.post("/admin/shop_clip/embeddingspace/", {**chosen, "post": "yes"}).status_code == 403
    assert EmbeddingSpace.objects.filter(pk=active.pk).exists()


def test_read_only_pages_offer_no_save_and_a_flag_is_reviewed_not_deleted(staff, products):
    """Every field of these rows is read-only: Save saved nothing.  A flag deleted instead of
    marked reviewed is raised again at the next tagging."""
    good = products[0]
    vector = ProductVector.objects.get(product=good)
    flag = ProductFlag.objects.create(product=good, space=vector.space, kind="category_mismatch", label="Boots",
                                      score=0.9, detail="...")
    for path in (f"productvector/{vector.pk}", f"productflag/{flag.pk}", f"embeddingspace/{vector.space_id}"):
        page = staff.get(f"/admin/shop_clip/{path}/change/").content.decode()
        assert 'name="_save"' not in page and 'name="_continue"' not in page, path
    assert "/delete/" not in staff.get(f"/admin/shop_clip/productflag/{flag.pk}/change/").content.decode()
    listing = staff.get("/admin/shop_clip/productflag/").content.decode()
    assert 'value="mark_reviewed"' in listing and 'value="delete_selected"' not in listing
    # The flagged product can still be deleted, its flag with it.
    staff.post(f"/admin/catalog/product/{good.pk}/delete/", {"post": "yes"})
    assert not ProductFlag.objects.filter(pk=flag.pk).exists()
