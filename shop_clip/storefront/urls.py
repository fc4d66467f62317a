"""The storefront's pages; a store includes them with one line:
``path("shop/", include("shop_clip.storefront.urls"))``."""

from django.urls import path

from . import views

app_name = "shop_clip_storefront"

urlpatterns = [
    path("", views.search_page, name="search"),
    path("photo/", views.photo_search_page, name="photo-search"),
    path("shop-the-look/", views.shop_the_look_page, name="shop-the-look"),
    path("products/<str:pk>/", views.product_page, name="product"),
]
