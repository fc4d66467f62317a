from django.urls import path

from . import views

app_name = "shop_clip"

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="search"),
    path("search/image/", views.ImageSearchView.as_view(), name="search-image"),
    path("products/<str:pk>/similar/", views.SimilarView.as_view(), name="similar"),
    path("products/<str:pk>/complete-the-look/", views.CompleteTheLookView.as_view(), name="complete-the-look"),
    path("shop-the-look/", views.ShopTheLookView.as_view(), name="shop-the-look"),
    path("products/<str:pk>/tags/", views.ProductTagsView.as_view(), name="tags"),
    path("status/", views.StatusView.as_view(), name="status"),
    path("schema/", views.ShopClipSchemaView.as_view(), name="schema"),
]
