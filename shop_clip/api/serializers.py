"""DRF serializers for search results.  The product serializer is a setting per store."""

from __future__ import annotations

from rest_framework import serializers

from ..catalog import get_catalog
from ..conf import shop_clip_settings

IMAGE_REFS = "shop_clip_image_refs"  # context key: product pk -> the ImageRef to show
MATCHED_IMAGES = "shop_clip_matched_images"  # context key: product pk -> (variant pk, image key) a hit matched


class ProductListSerializer(serializers.ListSerializer):
    """Fetches the image references of a whole page at once (one query per image source)."""

    def to_representation(self, data) -> list[dict]:
        products = list(data.all() if hasattr(data, "all") else data)
        matched = self._context.get(MATCHED_IMAGES, {})  # family pk -> (variant pk, image key) that matched
        found = get_catalog().image_refs({product.pk for product in products} | {pk for pk, _ in matched.values()})
        by_key = {(ref.product_id, ref.key): ref for ref in found}
        refs = {pk: by_key[image] for pk, image in matched.items() if image in by_key}
        for ref in found:  # else the product's first image
            refs.setdefault(ref.product_id, ref)
        self._context = {**self._context, IMAGE_REFS: refs}  # the child reads the root's context
        return super().to_representation(products)


class DefaultProductSerializer(serializers.Serializer):
    """A product as shop-clip knows it from settings: id, text, category, image URL."""

    class Meta:
        list_serializer_class = ProductListSerializer

    def to_representation(self, product) -> dict:
        catalog = get_catalog()
        data = {"id": product.pk}
        for name in catalog.text_fields:
            data[name] = getattr(product, name, None)
        if catalog.category_field:
            values = catalog.category_values(product)
            data["category"] = values[0] if len(values) == 1 else values
        page = self.context.get(IMAGE_REFS)
        ref = page.get(product.pk) if page is not None else _first_ref(product)
        data["image_url"] = _url(ref, self.context.get("request"))
        return data


def _first_ref(product):
    refs = get_catalog().image_refs([product.pk])
    return refs[0] if refs else None


def _url(ref, request=None) -> str | None:
    if ref is None:
        return None
    url = ref.file.url
    return request.build_absolute_uri(url) if request is not None else url


class HitSerializer(serializers.Serializer):
    """Documents one result in the OpenAPI schema; ``serialize_hits`` produces them."""

    product = serializers.DictField(read_only=True)
    score = serializers.FloatField()


def serialize_hits(hits, context: dict) -> list[dict]:
    """``[{"product": ..., "score": ...}]`` with one ``many=True`` product serializer for the page
    (docs/performance.md)."""
    # A family's hit shows the image of the variant that matched.
    matched = {hit.product.pk: (hit.variant.pk, hit.image_key) for hit in hits
               if hit.variant is not None and hit.variant.pk != hit.product.pk}
    context = {**context, MATCHED_IMAGES: matched}
    products = shop_clip_settings.PRODUCT_SERIALIZER([hit.product for hit in hits], many=True, context=context).data
    return [{"product": product, "score": round(float(hit.score), 6)}
            for product, hit in zip(products, hits, strict=True)]


class PageSerializer(serializers.Serializer):
    """Documents a page of results in the OpenAPI schema."""

    results = HitSerializer(many=True)
    count = serializers.IntegerField(help_text="the results on this page")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = serializers.URLField(allow_null=True, help_text="the next page; null when no product ranks after this page")
    model = serializers.CharField()


class LookGroupSerializer(serializers.Serializer):
    """Documents one category's matches in the OpenAPI schema."""

    category = serializers.CharField(help_text="the category, as ?category= names it")
    name = serializers.CharField(help_text="its display name: the full name (Men > Shirts) where two share a name")
    score = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                help_text="x0, y0, x1, y1 as fractions of the photo (shop the look)")
    confidence = serializers.FloatField(
        allow_null=True, min_value=0, max_value=1,
        help_text="how sure the region's category is, 0 to 1: its share of the votes of the region's nearest "
                  "products (shop the look; null for complete the look)")
    results = HitSerializer(many=True)


class LookSerializer(serializers.Serializer):
    """Documents a shop-the-look / complete-the-look answer in the OpenAPI schema."""

    groups = LookGroupSerializer(many=True)
    unmatched = serializers.ListField(child=serializers.CharField(), help_text=(
        "shop the look: categories the photo shows that no product under the filters matches"))
    model = serializers.CharField()


class TagSerializer(serializers.Serializer):
    label = serializers.CharField()
    score = serializers.FloatField(help_text="probability of the label among its group's labels")


class ProductTagsSerializer(serializers.Serializer):
    """Documents a product's zero-shot tags in the OpenAPI schema."""

    product = serializers.JSONField(help_text="the product's primary key")
    model = serializers.CharField()
    tags = serializers.DictField(child=TagSerializer(), help_text="tag group -> its confident label")


class ModelStatusSerializer(serializers.Serializer):
    model = serializers.CharField()
    dim = serializers.IntegerField()
    active = serializers.BooleanField(help_text="the model search answers with")
    index = serializers.CharField(help_text="the HNSW index: valid, building or none")
    index_kind = serializers.CharField(help_text="halfvec or binary")
    total = serializers.IntegerField()
    embedded = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()


class StatusSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    embedded = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()
    model = serializers.CharField(allow_null=True)
    active_model = serializers.CharField(allow_null=True)
    models = ModelStatusSerializer(many=True, help_text="every model's counts and index")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="what was wrong with the request, and what to do")
