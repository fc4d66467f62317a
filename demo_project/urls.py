import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from demo_project.catalog import views
from shop_clip.storefront import views as storefront

router = DefaultRouter()
router.register("products", views.ProductViewSet)

urlpatterns = [
    # The home page is the storefront's search; its other pages live under shop/.
    path("", storefront.search_page, name="home"),
    path("shop/", include("shop_clip.storefront.urls")),
    path("products/<int:pk>/", views.product_page, name="product"),
    path("admin/", admin.site.urls),
    path("api/catalog/", include(router.urls)),
    path("api/shop-clip/", include("shop_clip.api.urls")),
    # Served with DEBUG off too (static() serves only with DEBUG): the demo has no separate media server.
    re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", views.media, name="media"),
]
