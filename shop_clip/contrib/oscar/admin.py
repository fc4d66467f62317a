"""Oscar's own product admin with shop-clip's column, filter, details and action.

Oscar registers ``catalogue.Product`` itself, so a shop swaps the registration in the
``admin.py`` of an app listed after Oscar's in ``INSTALLED_APPS``::

    from shop_clip.contrib.oscar.admin import register_product_admin

    register_product_admin()
"""

from __future__ import annotations

from django.contrib import admin
from oscar.core.loading import get_class, get_model

from shop_clip.admin import ShopClipProductAdminMixin

__all__ = ["ProductAdmin", "register_product_admin"]


# get_class: a shop's forked catalogue app's admin, where it has one, else Oscar's.
OscarProductAdmin = get_class("catalogue.admin", "ProductAdmin")


class ProductAdmin(ShopClipProductAdminMixin, OscarProductAdmin):
    """The shop's (Oscar's) ``ProductAdmin``, its inlines, filters and columns, and shop-clip's."""


def register_product_admin(site: admin.AdminSite = admin.site) -> None:
    """Register ``ProductAdmin`` for Oscar's product model on ``site``, in place of Oscar's own."""
    product = get_model("catalogue", "Product")
    if site.is_registered(product):
        site.unregister(product)
    site.register(product, ProductAdmin)
