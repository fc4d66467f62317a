"""What the store asked for in ``SHOP_CLIP["TAGS"]`` and ``SHOP_CLIP["MODERATION"]``, checked and
with defaults filled in: tag groups, moderation rules, which flags hide a product, and the tag
groups shoppers can filter by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .conf import ShopClipConfigurationError, shop_clip_settings
from .models import ProductFlag

DEFAULT_PROMPT = "a photo of a {label} product"
DEFAULT_MIN_SCORE = 0.5
DEFAULT_MODERATION_MIN_SCORE = 0.6
DEFAULT_CATEGORY_PROMPT = "a photo of a {label}"


@dataclass(frozen=True)
class TagGroup:
    """One ``SHOP_CLIP["TAGS"]`` group: its labels, the prompt of each, the score a label needs."""

    name: str
    labels: tuple[str, ...]
    prompts: tuple[str, ...]
    min_score: float


@dataclass(frozen=True)
class Moderation:
    """``SHOP_CLIP["MODERATION"]``, with defaults filled in."""

    flags: Mapping[str, str]  # label -> prompt
    safe: tuple[str, ...]
    min_score: float
    category_mismatch: bool
    category_prompt: str


def tag_groups() -> list[TagGroup]:
    """The configured tag groups, in the order of the setting."""
    groups = []
    for name, spec in shop_clip_settings.TAGS.items():
        spec = {"labels": spec} if isinstance(spec, (list, tuple)) else spec
        spec = spec if isinstance(spec, Mapping) else {}
        labels, template = spec.get("labels"), spec.get("prompt", DEFAULT_PROMPT)
        if isinstance(labels, Mapping):
            pairs = [(str(label), str(prompt)) for label, prompt in labels.items()]
        elif isinstance(labels, (list, tuple)) and "{label}" in template:
            pairs = [(str(label), template.format(label=label)) for label in labels]
        else:
            raise ShopClipConfigurationError(
                f"SHOP_CLIP['TAGS'][{name!r}] needs 'labels': a list (with a 'prompt' containing "
                "'{label}') or a {label: prompt} dict")
        if len(pairs) < 2:
            raise ShopClipConfigurationError(f"SHOP_CLIP['TAGS'][{name!r}] needs at least two labels to choose from")
        groups.append(TagGroup(str(name), tuple(label for label, _ in pairs), tuple(prompt for _, prompt in pairs),
                               float(spec.get("min_score", DEFAULT_MIN_SCORE))))
    return groups


def moderation() -> Moderation | None:
    """The moderation settings, or None when moderation is off."""
    spec = shop_clip_settings.MODERATION
    if not spec:
        return None
    flags = dict(spec.get("FLAGS") or {})
    safe = tuple(spec.get("SAFE") or ())
    if flags and not safe:
        raise ShopClipConfigurationError("SHOP_CLIP['MODERATION']['FLAGS'] needs 'SAFE' prompts to compare with")
    return Moderation(flags, safe, float(spec.get("MIN_SCORE", DEFAULT_MODERATION_MIN_SCORE)),
                      bool(spec.get("CATEGORY_MISMATCH", False)),
                      str(spec.get("CATEGORY_PROMPT", DEFAULT_CATEGORY_PROMPT)))


def tagging_enabled() -> bool:
    """Whether tags or moderation are configured at all."""
    return bool(shop_clip_settings.TAGS or shop_clip_settings.MODERATION)


def hidden_flag_kinds() -> list[str]:
    """``SHOP_CLIP["MODERATION"]["HIDE_FLAGGED"]``: flag kinds whose open flags hide a product."""
    kinds = list((shop_clip_settings.MODERATION or {}).get("HIDE_FLAGGED") or ())
    unknown = set(kinds) - set(ProductFlag.Kind.values)
    if unknown:
        raise ShopClipConfigurationError(f"SHOP_CLIP['MODERATION']['HIDE_FLAGGED']: unknown kinds {sorted(unknown)}; "
                                         f"choose from {ProductFlag.Kind.values}")
    return kinds


def tag_filter_kwargs(params: Mapping[str, str], space) -> dict[str, Any]:
    """ORM filter kwargs on the product for the tag groups named in ``SHOP_CLIP["TAG_FILTERS"]``:
    ``?colour=red&pattern=striped`` keeps products tagged with both in ``space``.

    A label the group does not have raises ``FilterError`` with the labels it has.
    """
    from .catalog import FilterError
    from .models import ProductTag

    names = list(shop_clip_settings.TAG_FILTERS or ())
    if not names:
        return {}
    groups = {group.name: group for group in tag_groups()}
    wanted = []
    for name in names:
        if name not in groups:
            raise ShopClipConfigurationError(f"SHOP_CLIP['TAG_FILTERS'] names {name!r}, which SHOP_CLIP['TAGS'] "
                                             f"does not define (groups: {sorted(groups)})")
        value = str(params.get(name) or "").strip()
        if not value:
            continue
        if value not in groups[name].labels:
            raise FilterError(f"{name}: {value!r} is not a tag; choose from {', '.join(groups[name].labels)}")
        wanted.append((name, value))
    if not wanted:
        return {}
    # Nested IN subqueries, one per group, a product once each: scan_plan counts them (docs/decisions/tag-filters.md).
    tagged = None
    for group, label in wanted:
        rows = ProductTag.objects.filter(space=space, group=group, label=label)
        if tagged is not None:
            rows = rows.filter(product_id__in=tagged)
        tagged = rows.values("product_id")
    tagged.shop_clip_key = ("tags", space.pk, tuple(wanted))  # statements.plain_key; a clone has none
    return {"pk__in": tagged}
