"""Retrieval quality of the live index, measured through the real search code.

Products need ground-truth attributes (``{"category": ..., "colour": ..., ...}``) in the field named
by ``SHOP_CLIP["EVAL_ATTRIBUTES_FIELD"]``.  Queries come from a queries file (:func:`load_queries`)
or, without one, are built from those attributes (:func:`queries_from_attributes`); a product is
relevant to a query when it has every attribute the query names.  Every number comes from what
``knn.nearest`` returned (the HNSW index), next to the same number for exact search
over all vectors (numpy), whose ratio is the index's recall.  Shop the look is measured on a
directory of labelled scene photos, kind by kind, in ``look_eval``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import FieldDoesNotExist

from .conf import shop_clip_settings
from .knn import Restriction, nearest
from .models import EmbeddingSpace, ProductVector
from .query_vectors import encode_query
from .training.evaluation import attribute_grades, attribute_ranking_quality, precision_at_k

K = 10
# What queries built from a store's attributes name, in the order a shopper says them.
ATTRIBUTE_QUERY_KINDS = (("colour", "pattern", "category"), ("category",), ("material", "category"))


@dataclass(frozen=True)
class EvalQuery:
    """A shopper's query, the attributes a relevant product has, and the group it is reported in."""

    text: str
    relevant: dict[str, Any]
    kind: str


@dataclass
class QualityReport:
    model_id: str
    products: int
    queries: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> {"hnsw", "exact"}
    skipped_queries: int = 0  # fewer relevant products than ``min_relevant``

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "products": self.products, "queries": self.queries,
                "skipped_queries": self.skipped_queries, "metrics": self.metrics,
                "index_recall_at_10": self.metrics.get("index recall@10 (HNSW vs exact ids)", {}).get("hnsw")}


def _json_list(path: Path, what: str) -> list:
    """The non-empty JSON list in ``path``; ValueError saying what is wrong with the file."""
    try:
        items = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {what} from {path}: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a non-empty JSON list of {what}")
    return items


def load_queries(path: str | Path) -> list[EvalQuery]:
    """Read a queries file: a JSON list of ``{"query": text, "relevant": {attribute: value, ...}}``.

    ``relevant`` names what a product must have to count for P@10 (every attribute) and how it is
    graded for nDCG@10 (how many it has; none for a wrong ``category``).  An optional ``"kind"``
    groups queries in the report; it defaults to the attribute names joined by ``_``
    ("colour_pattern_category").  Raises ``ValueError`` on a malformed file.
    """
    items = _json_list(Path(path), "queries")
    queries = []
    for number, item in enumerate(items):
        where = f"{path}: query {number}"
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise ValueError(f"{where}: expected an object with a non-empty \"query\" string")
        relevant = item.get("relevant")
        if not isinstance(relevant, dict) or not relevant or not all(
                isinstance(key, str) and isinstance(value, str | int | float | bool)
                for key, value in relevant.items()):
            raise ValueError(f"{where}: \"relevant\" must be a non-empty object of attribute -> value")
        kind = item.get("kind", "_".join(relevant))
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"{where}: \"kind\" must be a non-empty string")
        queries.append(EvalQuery(item["query"], relevant, kind))
    return queries


def queries_from_attributes(labelled: dict[Any, dict], min_relevant: int) -> list[EvalQuery]:
    """Queries for the attribute combinations of :data:`ATTRIBUTE_QUERY_KINDS` that at least
    ``min_relevant`` products have; the text is the values in words ("red striped t-shirt")."""
    queries = []
    for keys in ATTRIBUTE_QUERY_KINDS:
        counts = Counter(tuple(attributes.get(key) for key in keys) for attributes in labelled.values())
        for values, count in sorted(counts.items(), key=lambda item: [str(value) for value in item[0]]):
            if count >= min_relevant and all(value is not None for value in values):
                queries.append(EvalQuery(" ".join(str(value) for value in values), dict(zip(keys, values, strict=True)),
                                         "_".join(keys)))
    return queries


def _labelled_products() -> dict[Any, dict]:
    from .catalog import get_catalog

    name = shop_clip_settings.EVAL_ATTRIBUTES_FIELD
    model = get_catalog().product_model
    try:
        column = model._meta.get_field(name)
    except FieldDoesNotExist:
        column = None
    if column is None or column.is_relation:  # Oscar's Product.attributes is a many-to-many
        found = "does not exist" if column is None else f"is a {type(column).__name__}, not a JSON field"
        raise ValueError(f"SHOP_CLIP['EVAL_ATTRIBUTES_FIELD'] names {model._meta.label}.{name}, which {found}: "
                         "evaluation reads each product's labels ({\"category\": ..., \"colour\": ...}) from a "
                         "JSON field; add one, or name the one you have (docs/training.md)")
    products = model._default_manager.values_list("pk", name)
    labelled = {pk: attrs for pk, attrs in products if isinstance(attrs, dict) and attrs.get("category")}
    if not labelled:
        raise ValueError(f"no product has attributes with a 'category' in its {name!r} field: "
                         "evaluation needs labelled products (set SHOP_CLIP['EVAL_ATTRIBUTES_FIELD'])")
    return labelled


def _judged_queries(queries: list[EvalQuery] | None, labelled: dict[Any, dict],
                    min_relevant: int) -> tuple[dict[str, list[tuple[EvalQuery, list[int]]]], int]:
    """By kind: each query with at least ``min_relevant`` fully relevant products, and the grades of
    every labelled product (nDCG's ideal ranking); plus how many queries fell short."""
    if queries is None:
        queries = queries_from_attributes(labelled, min_relevant)
    by_kind: dict[str, list[tuple[EvalQuery, list[int]]]] = {}
    skipped = 0
    for query in queries:
        ideal = attribute_grades(query.relevant, labelled.values())
        if sum(grade == len(query.relevant) for grade in ideal) < min_relevant:
            skipped += 1
            continue
        by_kind.setdefault(query.kind, []).append((query, ideal))
    return by_kind, skipped


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


def evaluate(space: EmbeddingSpace, queries: list[EvalQuery] | None = None, *, min_relevant: int = 10,
             look_alike_sample: int = 200, seed: int = 0) -> QualityReport:
    """Text -> product precision@10 and nDCG@10 per query kind, look-alike precision, index recall.

    ``queries``: from :func:`load_queries`, or ``None`` to build them from the products' attributes;
    only those with at least ``min_relevant`` relevant products are measured.
    """
    labelled = _labelled_products()
    ids, matrix = _exact_index(space)
    report = QualityReport(space.model_id, len(ids))
    by_kind, report.skipped_queries = _judged_queries(queries, labelled, min_relevant)
    overlap: list[float] = []
    for kind, judged in by_kind.items():
        report.queries[kind] = len(judged)
        scores = {"hnsw": ([], []), "exact": ([], [])}
        for query, ideal in judged:
            vector = encode_query(query.text, space)
            hnsw = [row.product_id for row in nearest(vector, space, wanted=K)]
            exact = _exact_top(vector, ids, matrix, K)
            overlap.append(len(set(hnsw) & set(exact)) / max(1, len(exact)))
            for method, ranked in (("hnsw", hnsw), ("exact", exact)):
                precision, ndcg = attribute_ranking_quality(
                    query.relevant, [labelled.get(pid, {}) for pid in ranked], ideal, K)
                scores[method][0].append(precision)
                scores[method][1].append(ndcg)
        label = kind.replace("_", " ")
        report.metrics[f"text P@10, {label}"] = {m: round(float(np.mean(v[0])), 4) for m, v in scores.items()}
        report.metrics[f"text nDCG@10, {label}"] = {m: round(float(np.mean(v[1])), 4) for m, v in scores.items()}
    _look_alikes(report, space, labelled, ids, matrix, look_alike_sample, seed, overlap)
    report.metrics["index recall@10 (HNSW vs exact ids)"] = {"hnsw": round(float(np.mean(overlap)), 4),
                                                            "exact": 1.0}
    return report


def evaluate_search_modes(queries: list[EvalQuery] | None = None, *, min_relevant: int = 10,
                          modes: tuple[str, ...] = ("vector", "hybrid", "keyword")) -> dict[str, Any]:
    """Text -> product P@10 (every named attribute matches) and nDCG@10 (graded by the matches)
    of each ``search.search`` mode, on the same queries as :func:`evaluate`, through the real search
    code (HNSW, keyword documents, fusion).  Returns ``{"queries": {kind: n}, "metrics": {kind:
    {mode: {"p_at_10", "ndcg_at_10"}}}}``."""
    from .search import search

    labelled = _labelled_products()
    by_kind, _ = _judged_queries(queries, labelled, min_relevant)
    result: dict[str, Any] = {"queries": {}, "metrics": {}}
    for kind, judged in by_kind.items():
        result["queries"][kind] = len(judged)
        scores = {mode: ([], []) for mode in modes}
        for query, ideal in judged:
            for mode in modes:
                hits = search(query.text, mode=mode, limit=K).hits
                precision, ndcg = attribute_ranking_quality(
                    query.relevant, [labelled.get(hit.product.pk, {}) for hit in hits], ideal, K)
                scores[mode][0].append(precision)
                scores[mode][1].append(ndcg)
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
        hnsw = [row.product_id for row in nearest(vector, space, wanted=K, restriction=Restriction(exclude=(pid,)))]
        exact = _exact_top(vector, ids, matrix, K, exclude=pid)
        overlap.append(len(set(hnsw) & set(exact)) / max(1, len(exact)))
        for method, ranked in (("hnsw", hnsw), ("exact", exact)):
            for key in ("category", "colour"):
                want = labelled.get(pid, {}).get(key)
                same[method][key].append(precision_at_k([labelled.get(o, {}).get(key) == want for o in ranked], K))
    report.queries["look_alike"] = len(chosen)
    for key in ("category", "colour"):
        report.metrics[f"look-alike P@10, same {key}"] = {
            method: round(float(np.mean(same[method][key])), 4) for method in same}
