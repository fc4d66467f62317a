"""DRF serializers for search results.  The product serializer is a setting per store."""

from __future__ import annotations

from rest_framework import serializers

from ..catalog import get_catalog
from ..conf import shop_clip_settings


class DefaultProductSerializer(serializers.Serializer):
    """A product as shop-clip knows it from settings: id, text, category, image URL."""

    def to_representation(self, product) -> dict:
        catalog = get_catalog()
        data = {"id": product.pk}
        for name in catalog.text_fields:
            data[name] = getattr(product, name, None)
        if catalog.category_field:
            values = catalog.category_values(product)
            data["category"] = values[0] if len(values) == 1 else values
        data["image_url"] = image_url(product, self.context.get("request"))
        return data


def image_url(product, request=None) -> str | None:
    """Absolute URL of the product's first image, or None."""
    catalog = get_catalog()
    refs = catalog.image_refs([product.pk])
    if not refs:
        return None
    url = refs[0].file.url
    return request.build_absolute_uri(url) if request is not None else url


class HitSerializer(serializers.Serializer):
    product = serializers.DictField(read_only=True)
    score = serializers.FloatField()

    def to_representation(self, hit) -> dict:
        product_serializer = shop_clip_settings.PRODUCT_SERIALIZER
        return {"product": product_serializer(hit.product, context=self.context).data,
                "score": round(float(hit.score), 6)}


class PageSerializer(serializers.Serializer):
    """Documents a page of results in the OpenAPI schema."""

    results = HitSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    model = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    embedded = serializers.IntegerField()
    pending = serializers.IntegerField()
    failed = serializers.IntegerField()
    model = serializers.CharField(allow_null=True)
    active_model = serializers.CharField(allow_null=True)
