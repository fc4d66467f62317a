"""The demo store's own catalog: shop-clip knows it only through settings."""

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    department = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    price = models.DecimalField(max_digits=10, decimal_places=2)
    in_stock = models.BooleanField(default=True)
    image = models.ImageField(upload_to="products/", blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # INCLUDE (id): exact search reads a price range's product ids from the index alone, not
            # one table page each (docs/decisions/filtered-search-at-1m.md, "A store's covering index").
            models.Index(fields=["price"], include=["id"], name="catalog_product_price_ids"),
            models.Index(fields=["in_stock"]),
        ]

    def __str__(self) -> str:
        return self.title
