"""HNSW indexes over the vector table: one partial index per vector dimension.

The embedding column has no fixed dimension so that models of different sizes can live side by
side; pgvector indexes a fixed dimension, so each dimension gets a partial expression index
``(embedding::halfvec(dim)) WHERE dim = <dim>`` and queries use the same expression.
"""

from __future__ import annotations

import functools

import numpy as np
from django.db import connection

TABLE = "shop_clip_productvector"
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
DEFAULT_DIM = 512  # clip-ViT-B-32 and shop-clip-mini; created by the first migration


def halfvec_literals(vectors: np.ndarray) -> list[str]:
    """``'[0.1,...]'`` text for each row, as PostgreSQL reads a halfvec.

    Each value is rounded to half precision and written as the shortest text that reads back as
    exactly that half (from a table of all 65,536 of them; docs/decisions/vector-literals.md).
    """
    halves = np.atleast_2d(np.asarray(vectors, dtype=np.float32)).astype(np.float16)
    words = _half_texts()
    return ["[" + ",".join(words[row].tolist()) + "]" for row in halves.view(np.uint16)]


@functools.cache
def _half_texts() -> np.ndarray:
    """The shortest round-trip text of every half-precision bit pattern, indexed by the bits."""
    return np.array([str(value) for value in np.arange(1 << 16, dtype=np.uint16).view(np.float16)], dtype=object)


def index_name(dim: int) -> str:
    return f"shop_clip_hnsw_{int(dim)}"


def create_index_sql(dim: int, *, concurrently: bool = False) -> str:
    dim = int(dim)
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index_name(dim)} "
        f"ON {TABLE} USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dim = {dim}"
    )


def drop_index_sql(dim: int) -> str:
    return f"DROP INDEX IF EXISTS {index_name(dim)}"


def distance_sql(dim: int, column: str = f"{TABLE}.embedding", *, exact: bool = False) -> str:
    """SQL for the cosine distance to a ``%s`` parameter, in the indexed form.

    ``exact=True`` gives the same distance on the bare column, which no index covers: PostgreSQL
    then computes it for every row that passes the filters and sorts (exact search).
    """
    dim = int(dim)
    if exact:
        return f"(({column}) <=> %s::halfvec({dim}))"
    return f"(({column})::halfvec({dim}) <=> %s::halfvec({dim}))"


def has_index(dim: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index_name(dim)])
        return cursor.fetchone() is not None


def ensure_index(dim: int) -> bool:
    """Create the HNSW index for ``dim`` if missing; True when it was created."""
    if has_index(dim):
        return False
    with connection.cursor() as cursor:
        cursor.execute(create_index_sql(dim))
    return True
