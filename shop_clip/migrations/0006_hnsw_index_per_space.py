"""One HNSW index per embedding space instead of one per dimension, with no downtime.

Each existing space gets its own partial index, built CONCURRENTLY (reads and writes go on), and
only then are the per-dimension indexes dropped CONCURRENTLY; searches use whichever index exists
meanwhile.  Hence ``atomic = False``: PostgreSQL builds concurrently only outside a transaction.
The builds are ``shop_clip.hnsw``'s (the running code looks the index up by its name), with the
workers' lock and ``HNSW_BUILD_MEMORY``/``HNSW_BUILD_WORKERS``.  Each build reads the table: a
store with millions of vectors may run it at a quiet hour (docs/decisions/index-per-space.md).
"""

from django.db import migrations

from shop_clip.hnsw import build_index, dimension_index_name, drop_index_sql

OLD_INDEX = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON shop_clip_productvector USING hnsw "
             "((embedding::halfvec({dim})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE dim = {dim}")


def index_each_space(apps, schema_editor):
    spaces = apps.get_model("shop_clip", "EmbeddingSpace").objects.filter(vectors__isnull=False).distinct()
    alias = schema_editor.connection.alias
    for space in spaces.order_by("created_at"):
        # With the workers' lock: a worker building the same index is waited for, not raced.
        build_index(space.model_id, space.dim, using=alias, wait=True)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'shop_clip_productvector' "
                       "AND indexname ~ '^shop_clip_hnsw_[0-9]+$'")
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def index_each_dimension(apps, schema_editor):
    spaces = apps.get_model("shop_clip", "EmbeddingSpace").objects.all()
    with schema_editor.connection.cursor() as cursor:
        for dim in sorted({512, *spaces.values_list("dim", flat=True)}):
            cursor.execute(OLD_INDEX.format(name=dimension_index_name(dim), dim=int(dim)))
        for space in spaces:
            cursor.execute(drop_index_sql(space.model_id, concurrently=True))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("shop_clip", "0005_embeddingspace_backend"),
    ]

    operations = [
        migrations.RunPython(index_each_space, index_each_dimension, elidable=False),
    ]
