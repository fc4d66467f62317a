"""The price index holds the product ids (INCLUDE): exact search reads a price range's products from
the index alone (docs/decisions/filtered-search-at-1m.md).  Built before the old one is dropped, so
price filters always have an index."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["price"], include=("id",), name="catalog_product_price_ids"),
        ),
        migrations.RemoveIndex(
            model_name="product",
            name="catalog_pro_price_2d2a4c_idx",
        ),
    ]
