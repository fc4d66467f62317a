"""Zero-shot classification over the vectors already stored: no image is encoded again.

A product is one vector (the mean of its image vectors, renormalised); a set of prompts is
encoded once per (space, prompts) and kept for the process; probabilities are CLIP's
``softmax(logit_scale * cosine)`` over the prompts.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .conf import on_settings_change
from .encoders import get_encoder
from .models import EmbeddingSpace, ProductVector

_prompt_vectors: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
_prompt_lock = threading.Lock()


@on_settings_change
def forget_prompt_vectors() -> None:
    """Drop the encoded prompts along with the encoders that made them; runs when the settings change."""
    with _prompt_lock:
        _prompt_vectors.clear()


@dataclass(frozen=True)
class ProductImages:
    """One product as zero-shot classification sees it."""

    vector: np.ndarray  # unit mean of the product's image vectors
    image_hash: str     # changes when any of its images changes


def prompt_vectors(space: EmbeddingSpace, prompts: Sequence[str]) -> np.ndarray:
    """``(len(prompts), dim)`` unit vectors of ``prompts`` in ``space``, encoded once per process."""
    key = (space.model_id, tuple(prompts))
    with _prompt_lock:
        cached = _prompt_vectors.get(key)
    if cached is None:
        cached = get_encoder(model=space.model_ref).encode_texts(list(prompts)).astype(np.float32)
        with _prompt_lock:
            _prompt_vectors[key] = cached
    return cached


def logit_scale(space: EmbeddingSpace) -> float:
    """The temperature of ``space``'s model (CLIP's learned ``logit_scale``)."""
    return float(get_encoder(model=space.model_ref).logit_scale)


def probabilities(vectors: np.ndarray, prompts: np.ndarray, scale: float) -> np.ndarray:
    """``(n, len(prompts))``: each row the softmax of ``scale * cosine`` over the prompts."""
    logits = scale * (np.atleast_2d(vectors) @ prompts.T)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def product_images(product_ids: Iterable[Any], space: EmbeddingSpace) -> dict[Any, ProductImages]:
    """The embedded products among ``product_ids``, each as the mean of its image vectors.

    Products with no embedded image in ``space`` are left out.
    """
    rows = (ProductVector.objects
            .filter(space=space, product_id__in=list(product_ids), status=ProductVector.Status.EMBEDDED,
                    embedding__isnull=False)
            .order_by("product_id", "image_key").values_list("product_id", "embedding", "content_hash"))
    vectors: dict[Any, list[np.ndarray]] = defaultdict(list)
    hashes: dict[Any, list[str]] = defaultdict(list)
    for product_id, embedding, content_hash in rows:
        vectors[product_id].append(np.asarray(embedding, dtype=np.float32))
        hashes[product_id].append(content_hash)
    products = {}
    for product_id, images in vectors.items():
        mean = np.mean(images, axis=0)
        digest = hashlib.sha256("\0".join(hashes[product_id]).encode()).hexdigest()
        products[product_id] = ProductImages(mean / max(float(np.linalg.norm(mean)), 1e-12), digest)
    return products
