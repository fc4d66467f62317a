"""A shopper's words as a query vector: cleaned, bounded, encoded once and cached."""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
from django.core.cache import caches

from .catalog import has_control_characters
from .conf import shop_clip_settings
from .encoders import get_encoder
from .errors import QueryError
from .models import EmbeddingSpace


def tidy_words(text: str | None) -> str:
    """``text`` with control characters (NUL among them) and runs of white space made single
    spaces; empty when only invisible characters (zero-width spaces, joiners) are left."""
    text = " ".join("".join(" " if has_control_characters(char) else char for char in text or "").split())
    if all(unicodedata.category(char) == "Cf" or char.isspace() for char in text):
        return ""
    return text


def clean_query(text: str | None) -> str:
    """The shopper's words as ``tidy_words`` leaves them; QueryError when nothing is left or too much is."""
    text = tidy_words(text)
    if not text:
        raise QueryError("q is required: describe what you are looking for, e.g. 'red striped t-shirt'")
    if len(text) > shop_clip_settings.MAX_QUERY_LENGTH:
        raise QueryError(f"q is too long: at most {shop_clip_settings.MAX_QUERY_LENGTH} characters")
    return text


def encode_query(text: str, space: EmbeddingSpace) -> np.ndarray:
    """The text's vector in ``space``, cached (the same query costs the encoder once)."""
    text = clean_query(text)
    cache = caches[shop_clip_settings.QUERY_CACHE_ALIAS]
    key = "shop_clip:q:" + hashlib.sha1(f"{space.model_id}\0{text.lower()}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32)
    vector = get_encoder(model=space.model_ref).encode_texts([text])[0]
    cache.set(key, vector.astype(np.float32).tobytes(), shop_clip_settings.QUERY_CACHE_TIMEOUT)
    return vector
