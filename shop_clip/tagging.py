"""Zero-shot tags and moderation flags for store staff, computed from the stored image vectors.

``SHOP_CLIP["TAGS"]`` names tag groups (colour, pattern, ...): each product gets, per group, the
label whose prompt its images match best, when that label's probability reaches the group's
``min_score``.  ``SHOP_CLIP["MODERATION"]`` raises flags: unwanted content (``FLAGS`` against
``SAFE`` prompts) and photos that show another category than the product is listed under.

The worker tags products after embedding them (``enqueue_tagging``, from ``claims.index_batch``);
``shop_clip_tag`` tags the catalog.  Results replace the product's previous ones in that space,
except that a flag staff reviewed is not raised again while the product's images stay the same.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from .broker import TAG_PRODUCTS, publish
from .catalog import get_catalog
from .models import EmbeddingSpace, ProductFlag, ProductTag, ProductVector
from .read_db import on_read, reads
from .search import product_vectors
from .spaces import active_space
from .tag_rules import moderation, tag_groups, tagging_enabled
from .zero_shot import ProductImages, logit_scale, probabilities, product_images, prompt_vectors

CHUNK = 500
Kind = ProductFlag.Kind


class NotTagged(LookupError):
    """The product is embedded but has no tags yet (HTTP 409)."""


# -- results ----------------------------------------------------------------------------------------
@dataclass
class TaggingSummary:
    """What a run wrote: products tagged, labels given per group, products left without one, flags raised."""

    products: int = 0
    labels: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    untagged: Counter = field(default_factory=Counter)
    flags: Counter = field(default_factory=Counter)

    def add(self, other: TaggingSummary) -> None:
        self.products += other.products
        for group, counts in other.labels.items():
            self.labels[group].update(counts)
        self.untagged.update(other.untagged)
        self.flags.update(other.flags)

    def as_dict(self) -> dict:
        """JSON-ready: ``{"products", "tags": {group: {"labels": {label: n}, "none": n}}, "flags": {kind: n}}``."""
        groups = set(self.labels) | set(self.untagged)
        return {"products": self.products,
                "tags": {group: {"labels": dict(self.labels[group].most_common()), "none": self.untagged[group]}
                         for group in sorted(groups)},
                "flags": dict(self.flags)}


# -- computing and writing --------------------------------------------------------------------------
def embedded_product_ids(space: EmbeddingSpace, *, untagged_only: bool = False) -> list[Any]:
    """Products with at least one embedded image in ``space``; ``untagged_only``: those without tags there."""
    rows = ProductVector.objects.filter(space=space, status=ProductVector.Status.EMBEDDED, embedding__isnull=False)
    if untagged_only and tag_groups():
        rows = rows.filter(~Exists(ProductTag.objects.filter(space=space, product=OuterRef("product"))))
    return list(rows.order_by("product_id").values_list("product_id", flat=True).distinct())


def tag_products(product_ids: Iterable[Any] | None = None, space: EmbeddingSpace | None = None, *,
                 chunk_size: int = CHUNK, on_chunk: Callable[[int], None] | None = None) -> TaggingSummary:
    """Compute and write tags and flags for ``product_ids`` (default: every embedded product).

    ``space`` defaults to the active one.  Products without an embedded image there are skipped.
    ``on_chunk(n)`` is called after each chunk of ``n`` products (progress bars use it).
    """
    space = space or active_space()
    ids = list(product_ids) if product_ids is not None else embedded_product_ids(space)
    summary = TaggingSummary()
    if not ids or not tagging_enabled():
        return summary
    rules = _Rules(space)
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start:start + chunk_size]
        summary.add(_tag_chunk(chunk, space, rules))
        if on_chunk:
            on_chunk(len(chunk))
    return summary


class _Rules:
    """The prompt vectors of every group and rule, and the store's categories, for one run."""

    def __init__(self, space: EmbeddingSpace) -> None:
        self.scale = logit_scale(space)
        self.groups = [(group, prompt_vectors(space, group.prompts)) for group in tag_groups()]
        self.moderation = moderation()
        self.flag_prompts = self.categories = None
        if self.moderation and self.moderation.flags:
            prompts = (*self.moderation.flags.values(), *self.moderation.safe)
            self.flag_prompts = prompt_vectors(space, prompts)
        if self.moderation and self.moderation.category_mismatch:
            values = get_catalog().category_choices()
            names = get_catalog().category_names(values)
            if len(values) >= 2:
                self.categories = (values, [names.get(v, v) for v in values],
                                   prompt_vectors(space, [self.moderation.category_prompt.format(label=names.get(v, v))
                                                          for v in values]))


def _tag_chunk(ids: Sequence[Any], space: EmbeddingSpace, rules: _Rules) -> TaggingSummary:
    products = product_images(ids, space)
    summary = TaggingSummary(products=len(products))
    if not products:
        return summary
    order = list(products)
    vectors = np.stack([products[pid].vector for pid in order])
    tags = []
    for group, prompts in rules.groups:
        probs = probabilities(vectors, prompts, rules.scale)
        for pid, row in zip(order, probs, strict=True):
            best = int(row.argmax())
            label = group.labels[best] if row[best] >= group.min_score else ""
            tags.append(ProductTag(product_id=pid, space=space, group=group.name, label=label, score=float(row[best])))
            if label:
                summary.labels[group.name][label] += 1
            else:
                summary.untagged[group.name] += 1
    flags = _content_flags(order, vectors, products, space, rules) + _mismatch_flags(order, vectors, products, space,
                                                                                   rules)
    raised = _write(order, space, tags, flags, [group.name for group, _ in rules.groups])
    summary.flags.update(str(flag.kind) for flag in raised)
    return summary


def _content_flags(order: list, vectors: np.ndarray, products: Mapping[Any, ProductImages], space: EmbeddingSpace,
                   rules: _Rules) -> list[ProductFlag]:
    if rules.flag_prompts is None:
        return []
    labels = list(rules.moderation.flags)
    probs = probabilities(vectors, rules.flag_prompts, rules.scale)[:, :len(labels)]
    return [ProductFlag(product_id=pid, space=space, kind=Kind.CONTENT, label=label, score=float(row[i]),
                        detail=f"looks like {rules.moderation.flags[label]!r} ({row[i]:.2f})",
                        image_hash=products[pid].image_hash)
            for pid, row in zip(order, probs, strict=True)
            for i, label in enumerate(labels) if row[i] >= rules.moderation.min_score]


def _mismatch_flags(order: list, vectors: np.ndarray, products: Mapping[Any, ProductImages], space: EmbeddingSpace,
                    rules: _Rules) -> list[ProductFlag]:
    if rules.categories is None:
        return []
    values, names, prompts = rules.categories
    catalog = get_catalog()
    products_by_id = catalog.product_queryset().in_bulk(order)
    listed = {pid: catalog.category_values(product) for pid, product in products_by_id.items()}
    probs = probabilities(vectors, prompts, rules.scale)
    flags = []
    for pid, row in zip(order, probs, strict=True):
        best = int(row.argmax())
        current = listed.get(pid) or []
        if not current or values[best] in current or row[best] < rules.moderation.min_score:
            continue
        listed_as = ", ".join(names[values.index(v)] if v in values else v for v in current)
        flags.append(ProductFlag(product_id=pid, space=space, kind=Kind.CATEGORY_MISMATCH, label=names[best],
                                 score=float(row[best]),
                                 detail=f"listed as {listed_as}, looks like {names[best]} ({row[best]:.2f})",
                                 image_hash=products[pid].image_hash))
    return flags


def _write(ids: list, space: EmbeddingSpace, tags: list[ProductTag], flags: list[ProductFlag],
           groups: list[str]) -> list[ProductFlag]:
    """Replace the products' tags and open flags in ``space``; returns the flags raised.

    Writers of one space take turns (a transaction-level advisory lock): two runs tagging the same
    product at once (the worker after a claim, ``shop_clip_tag``) would each find no open flag to
    replace, and both insert one.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"shop_clip.tagging:{space.model_id}"])
        if tags:
            ProductTag.objects.bulk_create(tags, update_conflicts=True, unique_fields=["product", "space", "group"],
                                           update_fields=["label", "score", "updated_at"])
        ProductTag.objects.filter(space=space, product_id__in=ids).exclude(group__in=groups).delete()
        mine = ProductFlag.objects.filter(space=space, product_id__in=ids)
        reviewed = set(mine.filter(reviewed_at__isnull=False).values_list("product_id", "kind", "label", "image_hash"))
        mine.filter(reviewed_at__isnull=True).delete()
        raised = [flag for flag in flags if (flag.product_id, flag.kind, flag.label, flag.image_hash) not in reviewed]
        ProductFlag.objects.bulk_create(raised)
    return raised


# -- reading --------------------------------------------------------------------------------------
@reads
def product_tags(product_id: Any) -> dict:
    """``{"model": model_id, "tags": {group: {"label", "score"}}}`` of one product in the active space.

    Groups without a confident label are left out.  Raises ``search.NotEmbedded`` for a product
    without vectors and ``NotTagged`` for one not tagged yet.
    """
    space = active_space()
    groups = [group.name for group in tag_groups()]
    if not groups:
        raise NotTagged("no tag groups are configured (SHOP_CLIP['TAGS'])")
    rows = {group: (label, score) for group, label, score in on_read(ProductTag.objects)
            .filter(product_id=product_id, space=space, group__in=groups).values_list("group", "label", "score")}
    if not rows:
        product_vectors(product_id, space)  # not embedded: NotEmbedded says why
        raise NotTagged(f"product {product_id} is not tagged yet; try again shortly, or run "
                        "`python manage.py shop_clip_tag --missing`")
    return {"model": space.model_id,
            "tags": {group: {"label": rows[group][0], "score": round(rows[group][1], 4)}
                     for group in groups if group in rows and rows[group][0]}}


# -- after embedding --------------------------------------------------------------------------------
def enqueue_tagging(product_ids: Iterable[Any], space: EmbeddingSpace) -> None:
    """After the current transaction commits, send one ``shop_clip.tag_products`` task for these products."""
    if not tagging_enabled():
        return
    ids = sorted({pid if isinstance(pid, int) else str(pid) for pid in product_ids}, key=str)
    if ids:
        transaction.on_commit(lambda: send_tag_task(ids, space.model_id))


def send_tag_task(ids: list, model_id: str) -> bool:
    """Send one ``tag_products`` task now; returns whether the broker took it."""
    return publish(TAG_PRODUCTS, args=[ids, model_id], what=f"the tagging of {len(ids)} products",
                   instead="run `python manage.py shop_clip_tag --missing`")
