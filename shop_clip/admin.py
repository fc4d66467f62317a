from django.contrib import admin

from .models import EmbeddingSpace, ProductVector


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ["model_id", "dim", "created_at", "activated_at"]


@admin.register(ProductVector)
class ProductVectorAdmin(admin.ModelAdmin):
    list_display = ["product", "image_key", "space", "status", "attempts", "updated_at"]
    list_filter = ["status", "space"]
    search_fields = ["error"]
    readonly_fields = [f.name for f in ProductVector._meta.fields if f.name != "embedding"]
    exclude = ["embedding"]
    actions = ["retry"]

    @admin.action(description="Embed again")
    def retry(self, request, queryset):
        from .indexing import enqueue_indexing

        queryset.update(status=ProductVector.Status.PENDING, attempts=0, error="")
        enqueue_indexing()
