"""Encode with a sentence-transformers CLIP and search with plain numpy cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .evaluation import recall_at_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def as_sentence_transformer(model: SentenceTransformer | str | Path, device: str = "cpu") -> SentenceTransformer:
    """Return ``model`` itself, or load it from a directory / hub name."""
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer):
        return model
    return SentenceTransformer(str(model), device=device)


def encode_normalised(model: SentenceTransformer, items: Sequence[Image.Image | str],
                      batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors (N, D) for images or texts, through the model's public encode."""
    vectors = model.encode(list(items), batch_size=batch_size, convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def top_k(queries: np.ndarray, candidates: np.ndarray, k: int,
          exclude_self: bool = False) -> np.ndarray:
    """(Q, k) indices of the most cosine-similar candidates for each (unit-length) query, best first.

    ``exclude_self`` drops candidate ``i`` for query ``i`` (image look-alikes of a catalog).
    """
    scores = queries @ candidates.T
    if exclude_self:
        np.fill_diagonal(scores, -np.inf)
    k = min(k, candidates.shape[0])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, best, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(best, order, axis=1)


def retrieval_metrics(model: SentenceTransformer | str | Path, pairs: Sequence[tuple[Image.Image, str]],
                      *, batch_size: int = 64) -> dict[str, float]:
    """Text -> image retrieval over ``pairs``: how often a text finds its own image.

    Returns ``{"recall_at_1": ..., "recall_at_10": ...}`` (means over all texts; the one
    correct image per text is the one it was paired with).
    """
    if not pairs:
        raise ValueError("retrieval_metrics needs at least one pair")
    encoder = as_sentence_transformer(model)
    images = encode_normalised(encoder, [image for image, _ in pairs], batch_size)
    texts = encode_normalised(encoder, [text for _, text in pairs], batch_size)
    ranked = top_k(texts, images, 10)
    hits = ranked == np.arange(len(pairs))[:, None]
    return {
        f"recall_at_{k}": float(np.mean([recall_at_k(row, k, total_relevant=1) for row in hits]))
        for k in (1, 10)
    }
