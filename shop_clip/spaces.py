"""Which embedding space is indexed and which one search reads."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .conf import shop_clip_settings
from .encoders import BaseEncoder, get_encoder
from .models import EmbeddingSpace, ProductVector


class NoActiveSpace(LookupError):
    """Nothing has been indexed yet."""


def configured_space(encoder: BaseEncoder | None = None) -> EmbeddingSpace:
    """The space of the configured encoder, created (and activated if it is the first) on demand."""
    encoder = encoder or get_encoder()
    space, created = EmbeddingSpace.objects.get_or_create(
        model_id=encoder.model_id,
        defaults={"model_ref": str(shop_clip_settings.ENCODER["MODEL"]), "dim": encoder.dim},
    )
    if created and not EmbeddingSpace.objects.filter(activated_at__isnull=False).exists():
        # The very first model: nothing to protect, so shoppers see results as they arrive.
        space.activated_at = timezone.now()
        space.save(update_fields=["activated_at"])
    return space


def active_space() -> EmbeddingSpace:
    """The space search reads: the most recently activated one."""
    space = EmbeddingSpace.objects.filter(activated_at__isnull=False).order_by("-activated_at").first()
    if space is None:
        raise NoActiveSpace("nothing is indexed yet: run `python manage.py shop_clip_index --all`")
    return space


def target_spaces() -> list[EmbeddingSpace]:
    """Spaces kept current on every product change: the configured one and the active one."""
    spaces = [configured_space()]
    try:
        active = active_space()
    except NoActiveSpace:
        return spaces
    if active.pk != spaces[0].pk:
        spaces.append(active)
    return spaces


def activate_if_complete(space: EmbeddingSpace) -> bool:
    """Switch search to ``space`` once it has no pending rows and covers the active catalog."""
    with transaction.atomic():
        space = EmbeddingSpace.objects.select_for_update().get(pk=space.pk)
        current = EmbeddingSpace.objects.filter(activated_at__isnull=False).order_by("-activated_at").first()
        if current is not None and current.pk == space.pk:
            return False
        if ProductVector.objects.filter(space=space, status=ProductVector.Status.PENDING).exists():
            return False
        if current is not None and _covered_products(space) < _covered_products(current):
            return False
        space.activated_at = timezone.now()
        space.save(update_fields=["activated_at"])
        return True


def _covered_products(space: EmbeddingSpace) -> int:
    return (ProductVector.objects.filter(space=space, status=ProductVector.Status.EMBEDDED)
            .aggregate(n=Count("product", distinct=True))["n"])
