"""Admin for shop-clip's own models, and a mixin for the store's product admin."""

from django.contrib import admin
from django.db import DataError, transaction
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .marking import enqueue_indexing, mark_pending
from .models import EmbeddingSpace, ProductFlag, ProductTag, ProductVector
from .spaces import latest_active_space


class LookupErrorsMixin:
    """A hand-typed list filter or id the database refuses (a NUL byte, a broken ``__regex``)
    answers as Django's own bad lookups do, not with a 500."""

    def changelist_view(self, request, extra_context=None):
        try:
            with transaction.atomic():  # the refused statement leaves the request's transaction usable
                response = super().changelist_view(request, extra_context)
                if hasattr(response, "render"):
                    response.render()  # the rows are read here, while the error can still be caught
                return response
        except DataError:
            return HttpResponseRedirect(f"{request.path}?e=1")  # the admin's "bad lookup" page

    def get_object(self, request, object_id, from_field=None):
        if "\x00" in str(object_id):  # PostgreSQL refuses NUL in text: no row can have that key
            return None
        return super().get_object(request, object_id, from_field)


class NoSaveMixin:
    """Change pages whose every field is read-only: no Save buttons, which saved nothing."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False,
                         "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context)


class ReadOnlyRowsMixin(NoSaveMixin, LookupErrorsMixin):
    """Rows the pipeline writes: looked at, acted on, never added by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="score", ordering="score")
    def shown_score(self, row) -> str:
        return f"{row.score:.3f}"


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(NoSaveMixin, LookupErrorsMixin, admin.ModelAdmin):
    """Spaces to look at, and to delete once search has left them.  A space comes from
    `shop_clip_index` with the configured model, is activated when its backfill and index are
    complete, and changes kind with `shop_clip_index --switch-index`: a space added or edited here
    would send every search to a model nobody loaded, or to an index that is not there."""

    list_display = ["model_id", "backend", "dim", "index_kind", "created_at", "activated_at", "searched"]
    readonly_fields = [*(f.name for f in EmbeddingSpace._meta.fields), "searched"]

    @admin.display(description="search")
    def searched(self, space) -> str:
        if space.pk == getattr(latest_active_space(on_primary=True), "pk", None):
            return "answers from this space (it cannot be deleted while it does)"
        return "not searched" if space.activated_at is None else "searched before the active space"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        active = latest_active_space(on_primary=True)
        return super().has_delete_permission(request, obj) and (obj is None or active is None or obj.pk != active.pk)


@admin.register(ProductVector)
class ProductVectorAdmin(ReadOnlyRowsMixin, admin.ModelAdmin):
    list_select_related = ["product"]
    list_display = ["product", "image_key", "space", "status", "attempts", "updated_at"]
    list_filter = ["status", "space"]
    search_fields = ["error"]
    readonly_fields = [f.name for f in ProductVector._meta.fields if f.name != "embedding"]
    exclude = ["embedding"]
    actions = ["retry"]

    @admin.action(description="Embed again", permissions=["change"])
    def retry(self, request, queryset):
        # The hash forgotten too: a worker skips a row whose image hashes as it did when embedded.
        rows = queryset.update(status=ProductVector.Status.PENDING, content_hash="", attempts=0, error="")
        enqueue_indexing()
        self.message_user(request, f"{rows} images will be embedded again by the workers")


@admin.register(ProductTag)
class ProductTagAdmin(ReadOnlyRowsMixin, admin.ModelAdmin):
    list_select_related = ["product"]
    list_display = ["product", "group", "label", "shown_score", "space", "updated_at"]
    list_filter = ["group", "label", "space"]
    readonly_fields = [f.name for f in ProductTag._meta.fields]


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("no", "Not reviewed"), ("yes", "Reviewed")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(reviewed_at__isnull=self.value() == "no")
        return queryset


@admin.register(ProductFlag)
class ProductFlagAdmin(ReadOnlyRowsMixin, admin.ModelAdmin):
    list_select_related = ["product"]
    list_display = ["product", "kind", "label", "shown_score", "detail", "created_at", "reviewed_at"]
    list_filter = ["kind", ReviewedFilter]
    readonly_fields = [f.name for f in ProductFlag._meta.fields]
    actions = ["mark_reviewed"]

    # A deleted flag is raised again at the next tagging: "Mark reviewed" is what keeps it quiet.
    # Not has_delete_permission: without it, deleting a flagged product would be refused.
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})

    @admin.action(description="Mark reviewed (not raised again while the images stay the same)",
                  permissions=["change"])
    def mark_reviewed(self, request, queryset):
        count = queryset.filter(reviewed_at__isnull=True).update(reviewed_at=timezone.now())
        self.message_user(request, f"{count} flags marked reviewed")


class ShopClipStateFilter(admin.SimpleListFilter):
    """Filter the store's products by what shop-clip knows of them."""

    title = "shop-clip"
    parameter_name = "shop_clip"

    def lookups(self, request, model_admin):
        return [("embedded", "Embedded"), ("pending", "Pending"), ("failed", "Failed"),
                ("flagged", "Flagged for review"), ("none", "No vectors (no image?)")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "embedded":
            return queryset.filter(_clip_embedded=True, _clip_pending=False, _clip_failed=False)
        if value == "pending":
            return queryset.filter(_clip_pending=True)
        if value == "failed":
            return queryset.filter(_clip_failed=True)
        if value == "flagged":
            return queryset.filter(_clip_flagged=True)
        if value == "none":
            return queryset.filter(_clip_embedded=False, _clip_pending=False, _clip_failed=False)
        return queryset


class ShopClipProductAdminMixin:
    """Mix into the store's own product admin (``class ProductAdmin(ShopClipProductAdminMixin,
    admin.ModelAdmin)``): each product's shop-clip state in the list and a filter for it; its
    images' vectors, tags and open flags on its page; an action that embeds the selected again."""

    def get_queryset(self, request):
        vectors = ProductVector.objects.filter(product=OuterRef("pk"))
        return super().get_queryset(request).annotate(
            _clip_embedded=Exists(vectors.filter(status=ProductVector.Status.EMBEDDED)),
            _clip_pending=Exists(vectors.filter(status=ProductVector.Status.PENDING)),
            _clip_failed=Exists(vectors.filter(status=ProductVector.Status.FAILED)),
            _clip_flagged=Exists(ProductFlag.objects.filter(product=OuterRef("pk"), reviewed_at__isnull=True)),
        )

    def get_list_display(self, request):
        return [*super().get_list_display(request), "shop_clip_state"]

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), ShopClipStateFilter]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "shop_clip_details"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request):  # what Django checks of the actions it lists itself
            actions["shop_clip_embed_again"] = self.get_action("shop_clip_embed_again")
        return actions

    @admin.display(description="shop-clip")
    def shop_clip_state(self, product) -> str:
        state = ("failed" if product._clip_failed else "pending" if product._clip_pending
                 else "embedded" if product._clip_embedded else "no vectors")
        return f"{state}, flagged" if product._clip_flagged else state

    @admin.display(description="shop-clip")
    def shop_clip_details(self, product) -> str:
        if product is None or product.pk is None:
            return "-"
        vectors = ProductVector.objects.filter(product=product).order_by("space_id", "image_key")
        lines = [format_html("{} · {}: <b>{}</b>{}", row.image_key, row.space_id, row.status,
                             f" ({row.error})" if row.error else "") for row in vectors]
        tags = ProductTag.objects.filter(product=product).exclude(label="").order_by("space_id", "group")
        if tags:
            lines.append(format_html("tags: {}", ", ".join(f"{t.group} {t.label} ({t.score:.2f})" for t in tags)))
        for flag in ProductFlag.objects.filter(product=product, reviewed_at__isnull=True):
            lines.append(format_html("<b>flag</b>: {}", flag.detail or flag.label))
        return mark_safe("<br>".join(lines)) if lines else "no vectors yet (no image?)"  # parts escaped above

    @admin.action(description="Embed again with shop-clip", permissions=["change"])
    def shop_clip_embed_again(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        ProductVector.objects.filter(product_id__in=ids).update(content_hash="", attempts=0, error="")
        rows = mark_pending(ids)
        self.message_user(request, f"{len(ids)} products ({rows} images) will be embedded again by the workers")
