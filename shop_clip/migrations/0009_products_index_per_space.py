"""Each space's own B-tree on ``product_id`` for exact search, instead of one on ``(product_id,
model_id)`` that holds every space's entries: with a second space beside the active one (a model
being switched to) exact search read twice the index entries (docs/decisions/filtered-search-at-1m.md).

Built CONCURRENTLY for each space with vectors, and only then is the shared index dropped
CONCURRENTLY: reads and writes go on (``atomic = False``).  New spaces get theirs with their HNSW
index (``hnsw.build_index``).
"""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations

from shop_clip.hnsw import build_products_index, products_index_name


def index_each_space(apps, schema_editor):
    spaces = apps.get_model("shop_clip", "EmbeddingSpace").objects.filter(vectors__isnull=False).distinct()
    for space in spaces.order_by("created_at"):
        build_products_index(space.model_id, using=schema_editor.connection.alias, wait=True)


def drop_each_space(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for model_id in apps.get_model("shop_clip", "EmbeddingSpace").objects.values_list("model_id", flat=True):
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {products_index_name(model_id)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("shop_clip", "0008_embeddingspace_index_kind"),
    ]

    operations = [
        migrations.RunPython(index_each_space, drop_each_space, elidable=False),
        RemoveIndexConcurrently(model_name="productvector", name="shop_clip_vector_product_space"),
    ]
