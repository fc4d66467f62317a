"""Measure a model against the quality targets on fresh catalogs (never the training seed).

Two catalogs of ``CATALOG_SIZE`` products, searched with plain numpy cosine similarity:

- a plain ``generate_catalog`` (seed ``EVAL_SEED``) for category queries and image look-alikes;
- a held-out catalog (seed ``EVAL_SEED + 1``) for colour + pattern + category queries: for each
  pair in ``HELD_OUT_PAIRS``, ``RELEVANT_PER_QUERY`` products of one pattern (the query's
  relevant set) and one product in each other pattern (hard negatives: right colour and
  category, wrong pattern), filled up with random products from all pairs.  A held-out pair has
  too few products in a plain catalog for precision@10 to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shop_clip.training.evaluation import attribute_grades, attribute_ranking_quality, precision_at_k
from shop_clip.training.retrieval import as_sentence_transformer, encode_normalised, top_k

from .synthetic import (
    HELD_OUT_PAIRS,
    PATTERNS,
    SyntheticProduct,
    all_pairs,
    generate_catalog,
    make_product,
    sample_attributes,
)
from .vocabulary import CATEGORIES
from .wording import query_for

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EVAL_SEED = 2024
RELEVANT_PER_QUERY = 12
CATALOG_SIZE = 600
K = 10


@dataclass(frozen=True)
class Metric:
    """One reported number, with its target when it has one."""

    name: str
    value: float
    target: float | None = None

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.value >= self.target


def held_out_queries() -> list[dict]:
    """Query attributes (category, colour, pattern) for each held-out pair, patterns in rotation."""
    return [{"category": category, "colour": colour, "pattern": PATTERNS[index % len(PATTERNS)].slug}
            for index, (colour, category) in enumerate(sorted(HELD_OUT_PAIRS))]


def build_held_out_catalog(seed: int = EVAL_SEED + 1, size: int = CATALOG_SIZE,
                           image_size: int = 256) -> list[SyntheticProduct]:
    """The held-out catalog described in the module docstring, ``size`` products in all."""
    rng = np.random.default_rng(seed)
    products = []
    for query in held_out_queries():
        pair = [(query["colour"], query["category"])]
        for _ in range(RELEVANT_PER_QUERY):
            products.append(make_product(sample_attributes(rng, pair, query["pattern"]), rng, image_size))
        for pattern in PATTERNS:
            if pattern.slug != query["pattern"]:
                products.append(make_product(sample_attributes(rng, pair, pattern.slug), rng, image_size))
    pairs = all_pairs()
    while len(products) < size:
        products.append(make_product(sample_attributes(rng, pairs), rng, image_size))
    return products


def _text_precision(encoder, products: list[SyntheticProduct], image_vectors: np.ndarray,
                    queries: list[dict], kind: str) -> tuple[float, float]:
    """Mean precision@K and nDCG@K of ``kind`` queries; relevant = every attribute the query names."""
    texts = [query_for(query, kind) for query in queries]
    ranked = top_k(encode_normalised(encoder, texts), image_vectors, K)
    catalog = [product.attributes for product in products]
    scores = [attribute_ranking_quality(query, [catalog[index] for index in row], attribute_grades(query, catalog), K)
              for query, row in zip(queries, ranked, strict=True)]
    return float(np.mean([precision for precision, _ in scores])), float(np.mean([ndcg for _, ndcg in scores]))


def measure_quality(model: SentenceTransformer | str | Path) -> list[Metric]:
    """Evaluate ``model`` (a SentenceTransformer or a directory) on the two evaluation catalogs."""
    encoder = as_sentence_transformer(model)
    held_out = build_held_out_catalog()
    held_out_vectors = encode_normalised(encoder, [product.image for product in held_out])
    triples = held_out_queries()
    cpc_precision, cpc_ndcg = _text_precision(encoder, held_out, held_out_vectors, triples,
                                              "colour_pattern_category")
    pairs_only = [{"category": q["category"], "colour": q["colour"]} for q in triples]
    cc_precision, _ = _text_precision(encoder, held_out, held_out_vectors, pairs_only, "colour_category")

    plain = list(generate_catalog(CATALOG_SIZE, EVAL_SEED))
    plain_vectors = encode_normalised(encoder, [product.image for product in plain])
    categories = [{"category": category.slug} for category in CATEGORIES]
    category_precision, _ = _text_precision(encoder, plain, plain_vectors, categories, "category")
    look_alikes = top_k(plain_vectors, plain_vectors, K, exclude_self=True)
    labels = np.array([product.attributes["category"] for product in plain])
    image_precision = float(np.mean([precision_at_k(labels[row] == label, K)
                                     for label, row in zip(labels, look_alikes, strict=True)]))
    return [
        Metric("text->product P@10, colour+pattern+category (held-out pairs)", cpc_precision, 0.8),
        Metric("text->product nDCG@10, colour+pattern+category (held-out pairs)", cpc_ndcg),
        Metric("text->product P@10, colour+category (held-out pairs)", cc_precision),
        Metric("text->product P@10, category", category_precision, 0.95),
        Metric("image->image look-alike P@10, same category", image_precision, 0.95),
    ]


def format_table(metrics: list[Metric]) -> str:
    """A plain-text table: metric, value, target, pass/fail."""
    width = max(len(metric.name) for metric in metrics)
    lines = [f"{'metric':<{width}}  value   target  ok", "-" * (width + 24)]
    for metric in metrics:
        target = f"{metric.target:.2f}" if metric.target is not None else "  -  "
        verdict = {True: "yes", False: "NO", None: ""}[metric.passed]
        lines.append(f"{metric.name:<{width}}  {metric.value:.3f}   {target}   {verdict}")
    return "\n".join(lines)
