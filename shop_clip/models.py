"""Vector rows, one per (product, image, model), and the embedding spaces they belong to."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from pgvector.django import HalfVectorField


class EmbeddingSpace(models.Model):
    """One model's vector space.  Search reads the most recently activated space.

    A new model is indexed beside the active one and activated when it has no pending rows left,
    so shoppers never see a half-built index or vectors of two models mixed.
    """

    model_id = models.CharField(max_length=200, primary_key=True)
    model_ref = models.CharField(max_length=500, help_text="What the encoder loads: hub name or directory.")
    dim = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

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
    image_key = models.CharField(max_length=64, help_text="'main' or 'img:<pk>' of a related image row")
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
        indexes = [
            models.Index(fields=["space", "status"], name="shop_clip_vector_state"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.image_key} @ {self.space_id}: {self.status}"
