"""An index on (product, space) for exact search's probes, built concurrently (no downtime)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("shop_clip", "0006_hnsw_index_per_space"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="productvector",
            index=models.Index(fields=["product", "space"], name="shop_clip_vector_product_space"),
        ),
    ]
