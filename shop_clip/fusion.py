"""Hybrid text search: the nearest products and the nearest of those with the query's words,
fused by reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .conf import shop_clip_settings
from .keywords import estimated_matches, keyword_filter, look_up_words
from .knn import Neighbour, Restriction, nearest
from .models import EmbeddingSpace
from .scan_plan import ScanPlan

Ranking = Sequence[Neighbour]


def hybrid_rankings(words: str, vector: np.ndarray, space: EmbeddingSpace, *, wanted: int,
                    restriction: Restriction) -> tuple[list[tuple[Ranking, float]], Ranking]:
    """The two ``(ranking, weight)`` pairs hybrid search fuses, the nearest products and the
    nearest of those with every word of ``words``, each ``KEYWORD_DEPTH`` deep; and the nearest
    products after those, which deeper pages follow (``fuse_rankings``' ``then``).

    A query with a rare word (a name, a brand: at most ``KEYWORD_EXACT_MAX_ROWS`` products have
    it, by the column's statistics) ranks every product with its words exactly, wherever the
    picture puts them.  Otherwise the words are looked for among the ``KEYWORD_CANDIDATES``
    nearest products only, by key (docs/decisions/hybrid-search.md).  Neither depends on the
    page asked for, so every page is cut from one order.
    """
    depth = shop_clip_settings.KEYWORD_DEPTH
    pool = max(depth, shop_clip_settings.KEYWORD_CANDIDATES)
    # Products the fusion takes from farther down are skipped in the tail: at most ``depth`` of them.
    candidates = nearest(vector, space, wanted=max(pool, wanted + depth), restriction=restriction)
    most = shop_clip_settings.KEYWORD_EXACT_MAX_ROWS
    rarest, having = look_up_words(words, [row.product_id for row in candidates[:pool]])
    if rarest <= most and estimated_matches(words) <= most:
        matches = nearest(vector, space, wanted=depth, restriction=restriction.narrowed(**keyword_filter(words)),
                          plan=ScanPlan.EXACT)
    else:
        matches = [row for row in candidates[:pool] if row.product_id in having][:depth]
    return [(candidates[:depth], 1.0), (matches, shop_clip_settings.KEYWORD_WEIGHT)], candidates[depth:]


def fuse_rankings(rankings: Sequence[tuple[Ranking, float]], *, k: int, then: Ranking = ()) -> list[Neighbour]:
    """Reciprocal rank fusion: one list out of ``(ranking, weight)`` pairs, by the sum of
    ``weight / (k + rank)`` over the rankings a product is in (ties: the nearer first, then the
    lower id, so pages agree); then the products of ``then`` not already in it, in its order."""
    fused: dict[Any, float] = {}
    rows: dict[Any, Neighbour] = {}
    for ranking, weight in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row.group_id] = fused.get(row.group_id, 0.0) + weight / (k + rank)
            rows[row.group_id] = row
    order = sorted(fused, key=lambda pid: (-fused[pid], rows[pid].distance, pid))
    return [rows[pid] for pid in order] + [row for row in then if row.group_id not in fused]
