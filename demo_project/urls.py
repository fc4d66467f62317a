import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from demo_project.catalog import views

router = DefaultRouter()
router.register("products", views.ProductViewSet)

urlpatterns = [
    path("", views.search_page, name="search-page"),
    path("admin/", admin.site.urls),
    path("api/catalog/", include(router.urls)),
    path("api/shop-clip/", include("shop_clip.api.urls")),
    # Served with DEBUG off too (static() serves only with DEBUG): the demo has no separate media server.
    re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", views.media, name="media"),
]
