from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.alt_store.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
