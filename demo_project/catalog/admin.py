from django.contrib import admin

from shop_clip.admin import ShopClipProductAdminMixin

from .models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "department"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(ShopClipProductAdminMixin, admin.ModelAdmin):
    list_display = ["title", "category", "price", "in_stock"]
    list_filter = ["category", "in_stock"]
    search_fields = ["title", "description"]
