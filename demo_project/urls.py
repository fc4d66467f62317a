from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from demo_project.catalog import views

router = DefaultRouter()
router.register("products", views.ProductViewSet)

urlpatterns = [
    path("", views.search_page, name="search-page"),
    path("admin/", admin.site.urls),
    path("api/catalog/", include(router.urls)),
    path("api/shop-clip/", include("shop_clip.api.urls")),
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
