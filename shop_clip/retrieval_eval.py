"""Retrieval quality of the live index, measured through the real search code.

Products need ground-truth attributes (``category``, ``colour``, ``pattern``) in the field named
by ``SHOP_CLIP["EVAL_ATTRIBUTES_FIELD"]``.  Queries are built from those attributes with the
shopper's words; every number comes from what ``search.nearest_products`` returned (the HNSW
index), next to the same number for exact search over all vectors (numpy), whose ratio is the
index's recall.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conf import shop_clip_settings
from .models import EmbeddingSpace, ProductVector
from .search import encode_query, nearest_products
from .training.evaluation import graded_relevance, ndcg_at_k
from .training.synthetic import HELD_OUT_PAIRS
from .training.vocabulary import CATEGORY_BY_SLUG, PATTERN_BY_SLUG
from .training.wording import query_for

K = 10
GRADED = ("category", "colour", "pattern")


@dataclass
class QualityReport:
    model_id: str
    products: int
    queries: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> {"hnsw", "exact"}

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "products": self.products, "queries": self.queries,
                "metrics": self.metrics,
                "index_recall_at_10": self.metrics.get("index recall@10 (HNSW vs exact ids)", {}).get("hnsw")}


def _labelled_products() -> dict[Any, dict]:
    from .catalog import get_catalog

    name = shop_clip_settings.EVAL_ATTRIBUTES_FIELD
    products = get_catalog().product_model._default_manager.values_list("pk", name)
    labelled = {pk: attrs for pk, attrs in products if isinstance(attrs, dict) and attrs.get("category")}
    if not labelled:
        raise ValueError(f"no product has attributes with a 'category' in its {name!r} field: "
                         "evaluation needs labelled products (set SHOP_CLIP['EVAL_ATTRIBUTES_FIELD'])")
    return labelled


def _query_text(attributes: dict, kind: str) -> str:
    known = attributes["category"] in CATEGORY_BY_SLUG and attributes.get("pattern", "solid") in PATTERN_BY_SLUG
    if known:
        return query_for(attributes, kind)
    return " ".join(str(attributes[key]) for key in ("colour", "pattern", "category") if key in attributes)


def build_queries(labelled: dict[Any, dict], min_relevant: int, held_out_only: bool) -> dict[str, list[dict]]:
    """Query attribute sets with at least ``min_relevant`` matching products, by kind."""
    triples = Counter((a["category"], a.get("colour"), a.get("pattern")) for a in labelled.values())
    categories = Counter(a["category"] for a in labelled.values())
    cpc = [{"category": c, "colour": col, "pattern": p} for (c, col, p), n in sorted(triples.items())
           if n >= min_relevant and col and p and (not held_out_only or (col, c) in HELD_OUT_PAIRS)]
    return {"colour_pattern_category": cpc,
            "category": [{"category": c} for c, n in sorted(categories.items()) if n >= min_relevant]}


def _exact_index(space: EmbeddingSpace) -> tuple[np.ndarray, np.ndarray]:
    rows = list(ProductVector.objects.filter(space=space, embedding__isnull=False)
                .values_list("product_id", "embedding"))
    ids = np.array([pid for pid, _ in rows], dtype=object)
    return ids, np.asarray([vector for _, vector in rows], dtype=np.float32)


def _exact_top(vector: np.ndarray, ids: np.ndarray, matrix: np.ndarray, k: int, exclude=None) -> list:
    scores = matrix @ vector
    ranked: list = []
    for index in np.argsort(-scores):
        pid = ids[index]
        if pid != exclude and pid not in ranked:
            ranked.append(pid)
            if len(ranked) == k:
                break
    return ranked


def evaluate(space: EmbeddingSpace, *, min_relevant: int = 10, held_out_only: bool = True,
             look_alike_sample: int = 200, seed: int = 0) -> QualityReport:
    """Text -> product precision@10 and nDCG@10 per query kind, look-alike precision, index recall."""
    labelled = _labelled_products()
    ids, matrix = _exact_index(space)
    report = QualityReport(space.model_id, len(ids))
    queries = build_queries(labelled, min_relevant, held_out_only)
    overlap: list[float] = []
    for kind, attribute_sets in queries.items():
        report.queries[kind] = len(attribute_sets)
        scores = {"hnsw": ([], []), "exact": ([], [])}
        for query in attribute_sets:
            vector = encode_query(_query_text(query, kind), space)
            hnsw = [hit.product.pk for hit in nearest_products(vector, space, limit=K)]
            exact = _exact_top(vector, ids, matrix, K)
            overlap.append(len(set(hnsw) & set(exact)) / max(1, len(exact)))
            named = [key for key in GRADED if key in query]
            ideal = [graded_relevance(query, attrs) for attrs in labelled.values()]
            for method, ranked in (("hnsw", hnsw), ("exact", exact)):
                grades = [graded_relevance(query, labelled.get(pid, {})) for pid in ranked]
                scores[method][0].append(sum(g == len(named) for g in grades) / K)
                scores[method][1].append(ndcg_at_k(grades, K, ideal=ideal))
        if attribute_sets:
            label = kind.replace("_", " ")
            report.metrics[f"text P@10, {label}"] = {m: round(float(np.mean(v[0])), 4) for m, v in scores.items()}
            report.metrics[f"text nDCG@10, {label}"] = {m: round(float(np.mean(v[1])), 4) for m, v in scores.items()}
    _look_alikes(report, space, labelled, ids, matrix, look_alike_sample, seed, overlap)
    report.metrics["index recall@10 (HNSW vs exact ids)"] = {"hnsw": round(float(np.mean(overlap)), 4),
                                                            "exact": 1.0}
    return report


MODE_KEYS = ("category", "colour", "pattern", "material")


def build_mode_queries(labelled: dict[Any, dict], min_relevant: int, held_out_only: bool) -> dict[str, list[dict]]:
    """``build_queries``' kinds plus "material category" ones ("linen dress"): words the shop's
    copy says and the pictures barely show."""
    queries = build_queries(labelled, min_relevant, held_out_only)
    pairs = Counter((a["category"], a.get("material")) for a in labelled.values())
    queries["material_category"] = [{"category": c, "material": m} for (c, m), n in sorted(pairs.items())
                                    if m and n >= min_relevant]
    return queries


def _mode_query_text(attributes: dict, kind: str) -> str:
    if "material" not in attributes:
        return _query_text(attributes, kind)
    category = attributes["category"]
    name = CATEGORY_BY_SLUG[category].query_name if category in CATEGORY_BY_SLUG else category
    return f"{attributes['material']} {name}"


def evaluate_search_modes(*, min_relevant: int = 10, held_out_only: bool = True,
                          modes: tuple[str, ...] = ("vector", "hybrid", "keyword")) -> dict[str, Any]:
    """Text -> product P@10 (every named attribute matches) and nDCG@10 (graded by the matches)
    of each ``search_text`` mode, on the kinds of ``build_mode_queries``, through the real search
    code (HNSW, keyword documents, fusion).  Returns ``{"queries": {kind: n}, "metrics": {kind:
    {mode: {"p_at_10", "ndcg_at_10"}}}}``."""
    from .search import search_text

    labelled = _labelled_products()
    queries = build_mode_queries(labelled, min_relevant, held_out_only)
    result: dict[str, Any] = {"queries": {}, "metrics": {}}
    for kind, attribute_sets in queries.items():
        if not attribute_sets:
            continue
        result["queries"][kind] = len(attribute_sets)
        scores = {mode: ([], []) for mode in modes}
        for query in attribute_sets:
            text = _mode_query_text(query, kind)
            named = [key for key in MODE_KEYS if key in query]
            ideal = [graded_relevance(query, attrs, MODE_KEYS) for attrs in labelled.values()]
            for mode in modes:
                hits = search_text(text, {"mode": mode, "limit": str(K)}).hits
                grades = [graded_relevance(query, labelled.get(hit.product.pk, {}), MODE_KEYS) for hit in hits]
                scores[mode][0].append(sum(g == len(named) for g in grades) / K)
                scores[mode][1].append(ndcg_at_k(grades, K, ideal=ideal))
        result["metrics"][kind] = {
            mode: {"p_at_10": round(float(np.mean(p)), 4), "ndcg_at_10": round(float(np.mean(n)), 4)}
            for mode, (p, n) in scores.items()}
    return result


def _look_alikes(report, space, labelled, ids, matrix, sample, seed, overlap) -> None:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(ids), size=min(sample, len(ids)), replace=False)
    same = {"hnsw": {"category": [], "colour": []}, "exact": {"category": [], "colour": []}}
    for index in chosen:
        pid, vector = ids[index], matrix[index]
        hnsw = [hit.product.pk for hit in nearest_products(vector, space, limit=K, exclude=[pid])]
        exact = _exact_top(vector, ids, matrix, K, exclude=pid)
        overlap.append(len(set(hnsw) & set(exact)) / max(1, len(exact)))
        for method, ranked in (("hnsw", hnsw), ("exact", exact)):
            for key in ("category", "colour"):
                want = labelled.get(pid, {}).get(key)
                same[method][key].append(sum(labelled.get(o, {}).get(key) == want for o in ranked) / K)
    report.queries["look_alike"] = len(chosen)
    for key in ("category", "colour"):
        report.metrics[f"look-alike P@10, same {key}"] = {
            method: round(float(np.mean(same[method][key])), 4) for method in same}


def evaluate_shop_the_look(scenes: int = 60, seed: int = 0) -> dict[str, float]:
    """Shop the look on flat-lay photos of 1-5 new products of distinct categories (rendered from
    the demo vocabulary, never in the catalog), uploaded as JPEG and decoded as the API does.

    Returns the share of the photographed categories found (``category_recall``), the share of
    answered groups that are right (``category_precision``), the share of right groups whose top
    product has the photographed colour (``top_same_colour``) and the median time per photo.
    """
    import io
    import time

    from .encoders import get_encoder
    from .images import decode_size, load_image
    from .look import shop_the_look
    from .spaces import active_space
    from .training.synthetic import generate_flat_lays

    target = decode_size(get_encoder(model=active_space().model_ref).image_size) * shop_clip_settings.LOOK_DECODE_SCALE
    wanted = found = answered = same_colour = 0
    times = []
    for photo, items, _ in generate_flat_lays(scenes, seed):
        upload = io.BytesIO()
        photo.save(upload, "JPEG", quality=90)
        started = time.perf_counter()
        look = shop_the_look(load_image(upload.getvalue(), target=target), {"categories": "6", "per_category": "1"})
        times.append(time.perf_counter() - started)
        truth = {attributes["category"]: attributes for attributes in items}
        wanted += len(truth)
        answered += len(look.groups)
        for group in look.groups:
            if group.category in truth:
                found += 1
                top = getattr(group.hits[0].product, shop_clip_settings.EVAL_ATTRIBUTES_FIELD, None) or {}
                same_colour += top.get("colour") == truth[group.category]["colour"]
    return {"scenes": scenes, "products": wanted, "category_recall": round(found / max(1, wanted), 4),
            "category_precision": round(found / max(1, answered), 4),
            "top_same_colour": round(same_colour / max(1, found), 4),
            "median_ms": round(float(np.median(times)) * 1000, 1)}
