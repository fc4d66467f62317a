"""Vector rows, one per (product, image, model), the embedding spaces they belong to, and the
rows derived from them (tags, flags), plus each product's keyword document."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import HalfVectorField


class EmbeddingSpace(models.Model):
    """One model's vector space: its backend, what it loads and its dimension.  Search reads the
    most recently activated space.

    A new model is indexed beside the active one and activated when it has no pending rows left,
    so shoppers never see a half-built index or vectors of two models mixed.
    """

    model_id = models.CharField(max_length=200, primary_key=True)
    model_ref = models.CharField(max_length=500, help_text="What the encoder loads: hub name or directory.")
    backend = models.CharField(max_length=500, blank=True, default="",
                               help_text="The encoder's dotted class path (empty: created before it was recorded).")
    dim = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    index_kind = models.CharField(
        max_length=16, default="halfvec", choices=[("halfvec", "halfvec"), ("binary", "binary (sign bits)")],
        help_text="The HNSW index search walks (hnsw.py); a new space takes SHOP_CLIP['VECTOR_INDEX'].")
    # The mean the binary index's sign bits are taken around (its expression holds it as well):
    # changed only while no binary index of the space exists.
    index_centre = HalfVectorField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "embedding space"

    def __str__(self) -> str:
        return f"{self.model_id} ({self.dim}-d{', active' if self.activated_at else ''})"


class ProductVector(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        EMBEDDED = "embedded"
        FAILED = "failed"

    product = models.ForeignKey(
        settings.SHOP_CLIP_PRODUCT_MODEL, on_delete=models.CASCADE, related_name="clip_vectors",
        db_constraint=True,
    )
    image_key = models.CharField(max_length=64,
                                 help_text="'main', or 'img:' and the primary key of a related image row")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="vectors", db_column="model_id")
    # No fixed dimension: spaces of different sizes share the table; each dimension gets its
    # own partial HNSW index over ``embedding::halfvec(dim)`` (see indexes.py).
    dim = models.PositiveSmallIntegerField(null=True)
    embedding = HalfVectorField(null=True)
    content_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "product vector"
        constraints = [
            models.UniqueConstraint(fields=["product", "image_key", "space"], name="shop_clip_vector_unique"),
        ]
        # Each space also has a partial B-tree on product_id for exact search, built with its HNSW
        # index (hnsw.create_products_index_sql): one per space row, which Meta.indexes cannot declare.
        indexes = [models.Index(fields=["space", "status"], name="shop_clip_vector_state")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.image_key} @ {self.space_id}: {self.status}"


class ProductDocument(models.Model):
    """A product's words for keyword matching (``SHOP_CLIP["TEXT_FIELDS"]`` as a PostgreSQL
    ``tsvector``), kept by shop-clip beside the store's table so the store's schema stays its own."""

    product = models.OneToOneField(settings.SHOP_CLIP_PRODUCT_MODEL, on_delete=models.CASCADE, primary_key=True,
                                   related_name="clip_document")
    document = SearchVectorField()

    class Meta:
        verbose_name = "product keyword document"
        indexes = [GinIndex(fields=["document"], name="shop_clip_document_gin")]

    def __str__(self) -> str:
        return f"keywords of {self.product_id}"


class ProductTag(models.Model):
    """A product's zero-shot label in one tag group (``SHOP_CLIP["TAGS"]``), per embedding space.

    ``label`` is empty when no label of the group reached its ``min_score``: the product was
    tagged, and nothing was confident enough.  ``score`` is then the best label's probability.
    """

    product = models.ForeignKey(settings.SHOP_CLIP_PRODUCT_MODEL, on_delete=models.CASCADE,
                                related_name="clip_tags")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="tags", db_column="model_id")
    group = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    score = models.FloatField(help_text="softmax probability of the label among the group's prompts")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "product tag"
        constraints = [
            models.UniqueConstraint(fields=["product", "space", "group"], name="shop_clip_tag_unique"),
        ]
        # TAG_FILTERS look products up by label: ?colour=red is one index-only range, not a table scan.
        indexes = [models.Index(fields=["space", "group", "label", "product"], name="shop_clip_tag_label")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.group}={self.label or '-'} ({self.score:.2f})"


class ProductFlag(models.Model):
    """Something store staff should look at: an unwanted content label, or a photo that shows
    another category than the product is listed under.  A reviewed flag is not raised again for
    the same product, kind, label and images (``image_hash``)."""

    class Kind(models.TextChoices):
        CONTENT = "content"
        CATEGORY_MISMATCH = "category_mismatch"

    product = models.ForeignKey(settings.SHOP_CLIP_PRODUCT_MODEL, on_delete=models.CASCADE,
                                related_name="clip_flags")
    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="flags", db_column="model_id")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    label = models.CharField(max_length=200)
    score = models.FloatField()
    detail = models.TextField(blank=True)
    image_hash = models.CharField(max_length=64, blank=True,
                                  help_text="the product's images when flagged (their content hashes, hashed)")
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "product flag"
        indexes = [models.Index(fields=["product", "space"], name="shop_clip_flag_product")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.kind}: {self.label} ({self.score:.2f})"
