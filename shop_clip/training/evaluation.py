"""Ranking metrics and attribute-based relevance.  Pure functions, no model, no Django.

``attribute_ranking_quality`` is the one place a ranked list is scored against the attributes a
query names (P@k and nDCG@k): ``shop_clip_eval`` and the demo's model checks both use it.
``graded_relevance`` grades a product against a query by the attributes the query names:

====  ===========================================================================
 0    the query names a category and the product is in another one (or, for a
      query without a category, none of its named attributes match)
 1    one named attribute matches (for a category query: the category)
 2    two match, e.g. category and colour of a "red striped t-shirt" query
 3    category, colour and pattern all match
====  ===========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GRADED_KEYS = ("category", "colour", "pattern")


def graded_relevance(query_attributes: Mapping, product_attributes: Mapping, keys: Sequence[str] = GRADED_KEYS) -> int:
    """0-3: how many of the query's category/colour/pattern (or ``keys``) the product matches
    (0 on a wrong category)."""
    named = [key for key in keys if query_attributes.get(key) is not None]
    if "category" in named and query_attributes["category"] != product_attributes.get("category"):
        return 0
    return sum(query_attributes[key] == product_attributes.get(key) for key in named)


def precision_at_k(relevances: Sequence[float], k: int) -> float:
    """Share of the first ``k`` ranked results that are relevant (> 0); missing ranks count as misses."""
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(1 for value in list(relevances)[:k] if value > 0) / k


def recall_at_k(relevances: Sequence[float], k: int, total_relevant: int | None = None) -> float:
    """Share of all relevant items found in the first ``k``; ``total_relevant`` defaults to those listed."""
    values = list(relevances)
    total = total_relevant if total_relevant is not None else sum(1 for value in values if value > 0)
    if total == 0:
        return 0.0
    return sum(1 for value in values[:k] if value > 0) / total


def dcg_at_k(graded_relevances: Sequence[float], k: int) -> float:
    """Discounted cumulative gain with exponential gain: sum of (2^rel - 1) / log2(rank + 1)."""
    return sum((2 ** rel - 1) / math.log2(rank + 2) for rank, rel in enumerate(list(graded_relevances)[:k]))


def ndcg_at_k(graded_relevances: Sequence[float], k: int, ideal: Sequence[float] | None = None) -> float:
    """DCG@k divided by the best achievable DCG@k, in [0, 1].

    ``graded_relevances``: grades in ranked order.  ``ideal``: grades of every candidate (the
    whole catalog) when the ranking shown is only a prefix; defaults to the ranking itself.
    """
    best = dcg_at_k(sorted(ideal if ideal is not None else graded_relevances, reverse=True), k)
    return dcg_at_k(graded_relevances, k) / best if best > 0 else 0.0


def attribute_grades(relevant: Mapping[str, Any], items: Iterable[Mapping]) -> list[int]:
    """:func:`graded_relevance` of each of ``items`` (attribute dicts) for a query naming ``relevant``."""
    keys = tuple(relevant)
    return [graded_relevance(relevant, item, keys) for item in items]


def attribute_ranking_quality(relevant: Mapping[str, Any], ranked: Sequence[Mapping], ideal: Sequence[int],
                              k: int) -> tuple[float, float]:
    """``(P@k, nDCG@k)`` of one ranked list for a query naming the attributes ``relevant``.

    ``ranked``: the attributes of the results, best first.  A result counts for P@k when it has
    every named attribute; nDCG@k grades it with :func:`graded_relevance` against ``ideal``, the
    grades of every product that could have been returned (``attribute_grades(relevant, catalog)``,
    computed once per query).
    """
    grades = attribute_grades(relevant, ranked)
    named = sum(value is not None for value in relevant.values())
    return precision_at_k([grade == named for grade in grades], k), ndcg_at_k(grades, k, ideal=ideal)
