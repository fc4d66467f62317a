"""Each space records the kind of HNSW index search walks, and the binary index's centre.

Every existing space has a halfvec index (0006), the default: adding the columns changes nothing
a search does.
"""

import pgvector.django.halfvec
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("shop_clip", "0007_vector_product_space_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="embeddingspace",
            name="index_kind",
            field=models.CharField(
                choices=[("halfvec", "halfvec"), ("binary", "binary (sign bits)")], default="halfvec",
                help_text="The HNSW index search walks (hnsw.py); a new space takes SHOP_CLIP['VECTOR_INDEX'].",
                max_length=16),
        ),
        migrations.AddField(
            model_name="embeddingspace",
            name="index_centre",
            field=pgvector.django.halfvec.HalfVectorField(blank=True, editable=False, null=True),
        ),
    ]
