"""django-oscar 4.2's catalogue as shop-clip sees it: public products, parent/child variants,
categories through ``ProductCategory`` and images from ``ProductImage`` in display order.

Named by ``SHOP_CLIP["CATALOG"] = "shop_clip.contrib.oscar.OscarCatalog"``, with the rest of
``shop_clip.contrib.oscar.settings.SHOP_CLIP`` (image model, filters, variants, serializer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import Prefetch, Q

from shop_clip.catalog import ImageRef, SettingsCatalog
from shop_clip.contrib.oscar import categories
from shop_clip.read_db import on_read

__all__ = ["OscarCatalog"]

PRESET = "merge shop_clip.contrib.oscar.settings.SHOP_CLIP into settings.SHOP_CLIP"


class OscarCatalog(SettingsCatalog):
    """Oscar's products: a shopper sees a product when it is public and, for a child, when its
    parent is public too (``SHOP_CLIP["VISIBLE"]``, when set, narrows further).  A family (a
    parent and its children) is one answer; a child without a title, description or categories
    has its parent's, as Oscar shows it."""

    def visible(self, queryset: models.QuerySet) -> models.QuerySet:
        public = queryset.filter(Q(parent__isnull=True) | Q(parent__is_public=True), is_public=True)
        return super().visible(public)

    @property
    def hides_products(self) -> bool:
        return True

    def _visible_reads_only_settings(self) -> bool:
        return type(self).visible is OscarCatalog.visible and self._visible_rule_is_lookups()

    # -- images ---------------------------------------------------------------------------------
    def image_refs(self, product_ids: Iterable[Any]) -> list[ImageRef]:
        """The products' own images, each product's primary image (display order 0) first."""
        field = self.image_product_field
        images = (on_read(self.image_model._default_manager).filter(**{f"{field}__in": list(product_ids)})
                  .order_by(field, "display_order", "pk"))
        return [ImageRef(self.product_id_of_image(image), self.image_key(image), getattr(image, self.image_file_field))
                for image in images if getattr(image, self.image_file_field)]

    # -- text and categories ----------------------------------------------------------------------
    def text(self, product: models.Model) -> str:
        """``get_title()`` and the description (a child's own, else its parent's)."""
        description = product.description or (product.parent.description if product.parent_id else "")
        return " ".join(part for part in (product.get_title(), description) if part).strip()

    def category_values(self, product: models.Model) -> list[str]:
        """Full slugs (``clothing/t-shirts``, as Oscar's category URLs name them) of the product's
        browsable categories: a category's own slug is unique only among its siblings.  A child's
        are its parent's (Oscar's ``get_categories``, which reads ``product_queryset``'s prefetch)."""
        return [categories.full_slug_of(category) for category in product.get_categories()]

    def category_choices(self) -> list[str]:
        """Every browsable category's full slug."""
        return sorted(node.full_slug for node in categories.tree())

    def category_names(self, values: Iterable[str]) -> dict[str, str]:
        """Full slug -> Oscar's category name; the full name ("Men > Shirts") where another
        browsable category has the same name."""
        nodes = categories.tree()
        names = Counter(node.name for node in nodes)
        return {node.full_slug: node.full_name if names[node.name] > 1 else node.name
                for node in categories.named(values, nodes)}

    def category_lookups(self, values: Iterable[str]) -> dict[str, Any]:
        """The products listed in the categories ``values`` (full slugs) themselves."""
        # A list of keys: the statement's key (``Restriction.key``).
        return {"categories__in": sorted(node.pk for node in categories.named(values, categories.tree()))}

    def category_kind(self, value: str) -> str:
        """A category's own slug: "Men > Shirts" and "Women > Shirts" hold the same kind of product
        (and so do two trees' "Sale", which a shop names apart when they should not pool)."""
        return value.rsplit("/", 1)[-1]

    def category_family(self, values: Iterable[str]) -> set[str]:
        """The full slugs ``values``, those of their ancestors and subcategories, and those of the
        categories of the same kind elsewhere in the tree and their subcategories: a women's
        shirt's look is not completed by men's shirts."""
        values = set(values)
        nodes = categories.tree()
        chosen = [node.path for node in categories.named(values, nodes)]
        if not chosen:
            return values
        kinds = {self.category_kind(value) for value in values}
        alike = [node.path for node in nodes if node.slug in kinds]
        return values | {node.full_slug for node in nodes
                         if any(node.path.startswith(path) or path.startswith(node.path) for path in chosen)
                         or any(node.path.startswith(path) for path in alike)}

    # -- answers ----------------------------------------------------------------------------------
    def product_queryset(self) -> models.QuerySet:
        """Products with what the JSON and Oscar's default strategy read (parent, product class,
        stock records, images, browsable categories, public children): a constant number of
        queries a page."""
        children = self.products().filter(is_public=True).prefetch_related("stockrecords", "images")
        return (self.products().select_related("parent", "product_class", "parent__product_class")
                .prefetch_related("stockrecords", "images")
                .prefetch_browsable_categories(queryset=categories.browsable())
                .prefetch_related(Prefetch("children", queryset=children, to_attr="_prefetched_public_children")))

    def check(self) -> list[str]:
        problems = super().check()
        if self.group_field != "parent":
            problems.append(f"Oscar's variants need SHOP_CLIP['VARIANT_PARENT_FIELD'] = 'parent': {PRESET}")
        if self.image_model is None:
            problems.append(f"Oscar's images need SHOP_CLIP['IMAGES'] to name catalogue.ProductImage: {PRESET}")
        return problems
