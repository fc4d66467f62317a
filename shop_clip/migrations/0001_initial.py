import django.db.models.deletion
import django.utils.timezone
import pgvector.django
from django.conf import settings
from django.db import migrations, models
from pgvector.django import VectorExtension

# The per-dimension index shop-clip had until 0006 (frozen here: hnsw.py now builds one per space).
DIMENSION_INDEX = (
    "CREATE INDEX IF NOT EXISTS shop_clip_hnsw_512 ON shop_clip_productvector USING hnsw "
    "((embedding::halfvec(512)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE dim = 512"
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.SHOP_CLIP_PRODUCT_MODEL)]

    operations = [
        VectorExtension(),
        migrations.CreateModel(
            name="EmbeddingSpace",
            fields=[
                ("model_id", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("model_ref", models.CharField(help_text="What the encoder loads: hub name or directory.", max_length=500)),
                ("dim", models.PositiveSmallIntegerField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("activated_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"verbose_name": "embedding space"},
        ),
        migrations.CreateModel(
            name="ProductVector",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("image_key", models.CharField(help_text="'main' or 'img:<pk>' of a related image row", max_length=64)),
                ("dim", models.PositiveSmallIntegerField(null=True)),
                ("embedding", pgvector.django.HalfVectorField(null=True)),
                ("content_hash", models.CharField(blank=True, max_length=64)),
                ("status", models.CharField(choices=[("pending", "Pending"), ("embedded", "Embedded"), ("failed", "Failed")], db_index=True, default="pending", max_length=16)),
                ("error", models.TextField(blank=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("product", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="clip_vectors", to=settings.SHOP_CLIP_PRODUCT_MODEL)),
                ("space", models.ForeignKey(db_column="model_id", on_delete=django.db.models.deletion.CASCADE, related_name="vectors", to="shop_clip.embeddingspace")),
            ],
            options={
                "verbose_name": "product vector",
                "indexes": [models.Index(fields=["space", "status"], name="shop_clip_vector_state")],
                "constraints": [models.UniqueConstraint(fields=("product", "image_key", "space"), name="shop_clip_vector_unique")],
            },
        ),
        migrations.RunSQL(DIMENSION_INDEX, "DROP INDEX IF EXISTS shop_clip_hnsw_512"),
    ]
