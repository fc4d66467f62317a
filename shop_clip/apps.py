from django.apps import AppConfig


class ShopClipConfig(AppConfig):
    name = "shop_clip"
    verbose_name = "shop-clip"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (checks register on import)

        signals.connect()
