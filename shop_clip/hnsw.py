"""HNSW indexes over the vector table: one partial index per embedding space.

The embedding column has no fixed dimension so that models of different sizes can live side by
side; pgvector indexes a fixed dimension, so each space gets a partial expression index
``(embedding::halfvec(dim)) WHERE model_id = <space>`` and queries use the same expression.  A
space's own graph holds only its vectors: a model indexed beside the active one is never walked by
the active one's searches (docs/decisions/index-per-space.md).  A new space is written with no
index and its index is built in bulk once its backlog is drained (``build_index``).
"""

from __future__ import annotations

import functools
import hashlib
import re

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, connections

from .conf import shop_clip_settings

TABLE = "shop_clip_productvector"
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
DEFAULT_DIM = 512  # clip-ViT-B-32 and shop-clip-mini; the first migration indexed it
_BUILD_LOCK = 0x5C1F  # pg advisory lock class of index builds: one builder per space


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


def index_name(space_id: str) -> str:
    """A space's index: its id made an identifier, and a hash of it (ids may hold any character)."""
    readable = re.sub(r"[^a-z0-9]+", "_", space_id.lower()).strip("_")[:30]
    return f"shop_clip_hnsw_{readable}_{hashlib.sha256(space_id.encode()).hexdigest()[:8]}"


def create_index_sql(space_id: str, dim: int, *, concurrently: bool = False) -> str:
    """The space's partial HNSW index (``IF NOT EXISTS``: a valid one is kept)."""
    dim = int(dim)
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index_name(space_id)} "
        f"ON {TABLE} USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE model_id = {sql_literal(space_id)}"
    )


def drop_index_sql(space_id: str, *, concurrently: bool = False) -> str:
    return f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {index_name(space_id)}"


def sql_literal(text: str) -> str:
    """A SQL string literal (DDL takes no parameters; standard_conforming_strings is on since 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def dimension_index_name(dim: int) -> str:
    """The per-dimension index of shop-clip before 0006 (shared by every space of that dimension)."""
    return f"shop_clip_hnsw_{int(dim)}"


def distance_sql(dim: int, column: str = f"{TABLE}.embedding", *, exact: bool = False) -> str:
    """SQL for the cosine distance to a ``%s`` parameter, in the indexed form.

    ``exact=True`` gives the same distance on the bare column, which no index covers: PostgreSQL
    then computes it for every row that passes the filters and sorts (exact search).
    """
    dim = int(dim)
    if exact:
        return f"(({column}) <=> %s::halfvec({dim}))"
    return f"(({column})::halfvec({dim}) <=> %s::halfvec({dim}))"


def index_state(space_id: str, using: str = DEFAULT_DB_ALIAS) -> str | None:
    """"valid", "invalid" (a build that was interrupted or is running now) or None (no index)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s", [index_name(space_id)])
        row = cursor.fetchone()
    return None if row is None else ("valid" if row[0] else "invalid")


def has_index(space_id: str) -> bool:
    """The space's index exists and is complete (a concurrent build in progress is not)."""
    return index_state(space_id) == "valid"


def build_index(space_id: str, dim: int, *, using: str = DEFAULT_DB_ALIAS, wait: bool = False) -> bool:
    """Build the space's index in bulk over the vectors already written; True when it was built.

    With ``HNSW_BUILD_MEMORY`` of maintenance memory and ``HNSW_BUILD_WORKERS`` parallel workers,
    ``CONCURRENTLY`` (writes go on) unless inside a transaction, where PostgreSQL refuses it.  One
    builder per space (an advisory lock): another caller returns False at once, or with ``wait``
    (the migration) waits for it and then finds the index built.  An invalid index left by a build
    that was killed is dropped and built again.
    """
    connection = connections[using]
    concurrently = not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {'pg_advisory_lock' if wait else 'pg_try_advisory_lock'}(%s, hashtext(%s))",
                       [_BUILD_LOCK, space_id])
        if not wait and not cursor.fetchone()[0]:
            return False
        try:
            state = index_state(space_id, using)
            if state == "valid":
                return False
            if state == "invalid":
                cursor.execute(drop_index_sql(space_id, concurrently=concurrently))
            if not concurrently:  # rows this transaction wrote have deferred FK checks, which block DDL
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with _build_settings(cursor, local=not concurrently):
                cursor.execute(create_index_sql(space_id, dim, concurrently=concurrently))
            if not concurrently:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_BUILD_LOCK, space_id])
    return True


class _build_settings:
    """maintenance_work_mem and parallel maintenance workers for one build, then as they were."""

    NAMES = ("maintenance_work_mem", "max_parallel_maintenance_workers")

    def __init__(self, cursor, *, local: bool) -> None:
        self.cursor, self.local = cursor, local

    def __enter__(self) -> None:
        values = (str(shop_clip_settings.HNSW_BUILD_MEMORY), str(int(shop_clip_settings.HNSW_BUILD_WORKERS)))
        for name, value in zip(self.NAMES, values, strict=True):
            self.cursor.execute("SELECT set_config(%s, %s, %s)", [name, value, self.local])

    def __exit__(self, *exc) -> None:
        if not self.local:  # a session setting would outlive the build on a pooled connection
            for name in self.NAMES:
                self.cursor.execute(f"RESET {name}")


def drop_space_index(space_id: str) -> None:
    """Drop a space's index (its space is being deleted)."""
    with connection.cursor() as cursor:
        cursor.execute(drop_index_sql(space_id, concurrently=not connection.in_atomic_block))
