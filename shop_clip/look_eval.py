"""Shop the look measured on labelled scene photos, through the real ``look.shop_the_look``.

A directory holds the photos and ``scenes.json`` (:func:`load_scenes`); each scene has a ``kind``
(a flat-lay, a collage, a busy photo...), reported apart, since one kind's ease hides another's
failures.  Per kind: how many of the photographed products got a group of their category
(``category_recall``), how many have the very product among their group's first five
(``exact_in_top5``, for products the scene names with a ``lookup``), groups of a category the
photo does not show (``spurious_per_scene``), the time per photo (p50, p95; wall clock, and this
process's CPU time beside it, since a machine other work shares inflates the wall), and where each miss
came from (``errors``): no answered region lies on the product (``lies_on``), a region does but names another
category, or the category is right and the product is not in its first five.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .conf import shop_clip_settings
from .regions import Box

SCENES_FILE = "scenes.json"
TOP = 5  # "the exact product among its group's first five"
# A region lies on a product when it holds at least half the product's box and the product at
# least a tenth of the region: a padded square on a tie holds it in an eighth of its area.
COVERED_SHARE_OF_PRODUCT = 0.5
COVERED_SHARE_OF_REGION = 0.1
# metric -> (comparison, target): what each kind of scene should reach (issue #16).
TARGETS: dict[str, tuple[str, float]] = {
    "category_recall": (">=", 0.9),
    "exact_in_top5": (">=", 0.7),
    "spurious_per_scene": ("<=", 1.0),
    "p95_ms": ("<=", 100.0),
}
ERRORS = ("no_region", "wrong_category", "not_in_top5")


@dataclass(frozen=True)
class Scene:
    """A labelled photo: its kind and the products it shows (``category`` required; ``colour``,
    ``box`` (x0, y0, x1, y1 as fractions) and ``lookup`` (ORM lookups naming the product) optional)."""

    photo: Path
    kind: str
    products: list[dict]


def _json_list(path: Path) -> list:
    import json

    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read scenes from {path}: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a non-empty JSON list of scenes")
    return items


def load_scenes(directory: str | Path) -> list[Scene]:
    """Read a directory of scene photos and its ``scenes.json``: a JSON list of ``{"image": file
    name, "kind": optional name, "products": [{"category": ..., "colour": ..., "box": [...],
    "lookup": {...}}, ...]}``.  Raises ``ValueError`` on a malformed directory."""
    root = Path(directory)
    scenes = []
    for number, item in enumerate(_json_list(root / SCENES_FILE)):
        products = item.get("products") if isinstance(item, dict) else None
        if not (isinstance(item, dict) and isinstance(item.get("image"), str) and isinstance(products, list)
                and products and all(isinstance(p, dict) and p.get("category") for p in products)):
            raise ValueError(f"{root / SCENES_FILE}: scene {number}: expected {{\"image\": file name, "
                             "\"products\": [{\"category\": ...}, ...]}")
        for product in products:
            box, lookup = product.get("box"), product.get("lookup")
            if box is not None and not (isinstance(box, list) and len(box) == 4
                                        and all(isinstance(v, int | float) for v in box)):
                raise ValueError(f"{root / SCENES_FILE}: scene {number}: \"box\" must be [x0, y0, x1, y1]")
            if lookup is not None and not (isinstance(lookup, dict) and lookup):
                raise ValueError(f"{root / SCENES_FILE}: scene {number}: \"lookup\" must be an object of ORM lookups")
        photo = root / item["image"]
        if not photo.is_file():
            raise ValueError(f"{root / SCENES_FILE}: scene {number}: no photo {photo}")
        scenes.append(Scene(photo, str(item.get("kind") or "scene"), products))
    return scenes


def iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area = (first[2] - first[0]) * (first[3] - first[1]) + (second[2] - second[0]) * (second[3] - second[1])
    return inter / (area - inter)


def lies_on(region: Box, product: Box) -> bool:
    """Whether ``region`` lies on ``product`` (see ``COVERED_SHARE_OF_PRODUCT``)."""
    width = min(region[2], product[2]) - max(region[0], product[0])
    height = min(region[3], product[3]) - max(region[1], product[1])
    if width <= 0 or height <= 0:
        return False
    inter = width * height
    return (inter >= COVERED_SHARE_OF_PRODUCT * (product[2] - product[0]) * (product[3] - product[1])
            and inter >= COVERED_SHARE_OF_REGION * (region[2] - region[0]) * (region[3] - region[1]))


def _store_ids(scenes: list[Scene]) -> dict[str, Any]:
    """Each distinct lookup (as its repr) -> the one product it names, left out when it names none
    or several (a scene of another store's products)."""
    from .catalog import get_catalog

    manager = get_catalog().product_model._default_manager
    found = {}
    for scene in scenes:
        for product in scene.products:
            lookup = product.get("lookup")
            if lookup and repr(sorted(lookup.items())) not in found:
                ids = list(manager.filter(**lookup).values_list("pk", flat=True)[:2])
                found[repr(sorted(lookup.items()))] = ids[0] if len(ids) == 1 else None
    return {key: pk for key, pk in found.items() if pk is not None}


@dataclass
class _Tally:
    scenes: int = 0
    products: int = 0
    found: int = 0
    exact_measured: int = 0
    exact: int = 0
    groups: int = 0
    spurious: int = 0
    coloured: int = 0
    same_colour: int = 0

    def __post_init__(self) -> None:
        self.errors: Counter = Counter()
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []  # this process's CPU time: what a loaded machine's wall time hides

    def summary(self) -> dict[str, Any]:
        products = max(1, self.products)
        result = {
            "scenes": self.scenes, "products": self.products,
            "category_recall": round(self.found / products, 4),
            "exact_in_top5": round(self.exact / self.exact_measured, 4) if self.exact_measured else None,
            "exact_measured": self.exact_measured,
            "category_precision": round(self.found / max(1, self.groups), 4),
            "spurious_per_scene": round(self.spurious / max(1, self.scenes), 3),
            "top_same_colour": round(self.same_colour / max(1, self.coloured), 4),
            "p50_ms": round(float(np.percentile(self.seconds, 50)) * 1000, 1) if self.seconds else None,
            "p95_ms": round(float(np.percentile(self.seconds, 95)) * 1000, 1) if self.seconds else None,
            "cpu_p50_ms": round(float(np.percentile(self.cpu_seconds, 50)) * 1000, 1) if self.seconds else None,
            "cpu_p95_ms": round(float(np.percentile(self.cpu_seconds, 95)) * 1000, 1) if self.seconds else None,
            "errors": {name: round(self.errors[name] / products, 4) for name in ERRORS},
        }
        result["met"] = {name: meets(name, result[name]) for name in TARGETS}
        return result


def meets(metric: str, value: float | None) -> bool | None:
    """Whether ``value`` meets ``metric``'s target; ``None`` when it was not measured."""
    if value is None:
        return None
    comparison, target = TARGETS[metric]
    return value >= target if comparison == ">=" else value <= target


def evaluate_shop_the_look(scenes: list[Scene], *, categories: int = 6) -> dict[str, Any]:
    """Shop the look on labelled scenes (from :func:`load_scenes`), each photo read as uploaded
    bytes and decoded as the API does, ``categories`` groups of ``TOP`` products asked for.

    Returns the summary over all scenes (``scenes``, ``products``, ``category_recall``,
    ``exact_in_top5``, ``category_precision``, ``spurious_per_scene``, ``top_same_colour``,
    ``p50_ms``, ``p95_ms``, ``cpu_p50_ms``, ``cpu_p95_ms``, ``errors``: each error's share of the
    products, ``met``: each target), the same for each kind under ``kinds``, and ``targets``.
    """
    from .look import shop_the_look

    ids = _store_ids(scenes)
    if scenes:  # untimed: the first call loads the model and warms its caches, as a server's first shopper
        shop_the_look(scenes[0].photo.read_bytes(), categories=categories, per_category=TOP)
    overall, by_kind = _Tally(), {}
    for scene in scenes:
        tallies = (overall, by_kind.setdefault(scene.kind, _Tally()))
        upload = scene.photo.read_bytes()
        started, cpu = time.perf_counter(), time.process_time()
        look = shop_the_look(upload, categories=categories, per_category=TOP)  # bytes: decoded by the door
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        truth = {product["category"]: product for product in scene.products}
        spurious = sum(group.category not in truth for group in look.groups)
        outcome = Counter()
        for category, product in truth.items():
            group = next((group for group in look.groups if group.category == category), None)
            pk = ids.get(repr(sorted(product["lookup"].items()))) if product.get("lookup") else None
            if group is None:
                box = product.get("box")
                covered = box is not None and any(
                    other.box is not None and lies_on(other.box, tuple(box)) for other in look.groups)
                outcome["wrong_category" if covered else "no_region"] += 1
                outcome["exact_measured"] += pk is not None
                continue
            outcome["found"] += 1
            if pk is not None:
                outcome["exact_measured"] += 1
                top = {key for hit in group.hits[:TOP] for key in (hit.product.pk, getattr(hit.variant, "pk", None))}
                outcome["exact" if pk in top else "not_in_top5"] += 1
            if product.get("colour") is not None:
                attributes = getattr(group.hits[0].product, shop_clip_settings.EVAL_ATTRIBUTES_FIELD, None) or {}
                outcome["coloured"] += 1
                outcome["same_colour"] += attributes.get("colour") == product["colour"]
        for tally in tallies:
            tally.scenes += 1
            tally.products += len(truth)
            tally.groups += len(look.groups)
            tally.spurious += spurious
            tally.seconds.append(seconds)
            tally.cpu_seconds.append(cpu)
            for name in ("found", "exact_measured", "exact", "coloured", "same_colour"):
                setattr(tally, name, getattr(tally, name) + outcome[name])
            tally.errors.update({name: outcome[name] for name in ERRORS})
    return {**overall.summary(), "kinds": {kind: tally.summary() for kind, tally in by_kind.items()},
            "targets": {name: f"{comparison} {target:g}" for name, (comparison, target) in TARGETS.items()}}
