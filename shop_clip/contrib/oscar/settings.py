"""The shop-clip settings of a django-oscar 4.2 shop, to merge into the shop's own::

    from shop_clip.contrib.oscar.settings import SHOP_CLIP, SHOP_CLIP_PRODUCT_MODEL

    SHOP_CLIP = {**SHOP_CLIP, "ENCODER": {"MODEL": "clip-ViT-B-32"}}

Plain values only: this module is imported by settings files, before Django is set up.
"""

__all__ = ["SHOP_CLIP", "SHOP_CLIP_PRODUCT_MODEL"]

SHOP_CLIP_PRODUCT_MODEL = "catalogue.Product"

_FILTERS = "shop_clip.contrib.oscar.filters"

SHOP_CLIP = {
    "CATALOG": "shop_clip.contrib.oscar.OscarCatalog",
    "IMAGES": {"MODEL": "catalogue.ProductImage", "PRODUCT_FIELD": "product", "IMAGE_FIELD": "original"},
    "TEXT_FIELDS": ["title", "description"],
    "CATEGORY_FIELD": "categories",
    # Oscar's variants: a child product's parent; answers show the parent once per family.
    "VARIANT_PARENT_FIELD": "parent",
    # The demo's parameter names, computed over Oscar's categories and stock records.
    "FILTERS": {
        "category": f"{_FILTERS}.in_category",
        "min_price": f"{_FILTERS}.min_price",
        "max_price": f"{_FILTERS}.max_price",
        "in_stock": f"{_FILTERS}.in_stock",
    },
    "PRODUCT_SERIALIZER": "shop_clip.contrib.oscar.serializers.OscarProductSerializer",
}
