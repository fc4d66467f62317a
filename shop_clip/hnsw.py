"""HNSW indexes over the vector table: one partial index per embedding space.

The embedding column has no fixed dimension so that models of different sizes can live side by
side; pgvector indexes a fixed dimension, so each space gets a partial expression index
``(embedding::halfvec(dim)) WHERE model_id = <space>`` and queries use the same expression.  A
space's own graph holds only its vectors: a model indexed beside the active one is never walked by
the active one's searches (docs/decisions/index-per-space.md).  A new space is written with no
index and its index is built in bulk once its backlog is drained (``build_index``).

An index is of one of two kinds (``SHOP_CLIP["VECTOR_INDEX"]``): ``halfvec`` indexes the vectors
themselves; ``binary`` indexes the sign bits of each vector minus the space's mean vector (its
``centre``), about 5 times smaller, and search re-ranks the nearest by the halfvec distance
(docs/decisions/binary-quantised-index.md).  Both kinds of one space may exist while a space
switches between them (``space_index.switch_index_kind``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, connections

from .conf import shop_clip_settings

TABLE = "shop_clip_productvector"
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HALFVEC, BINARY = "halfvec", "binary"
INDEX_KINDS = (HALFVEC, BINARY)
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


def parse_halfvec(text: str) -> np.ndarray:
    """A halfvec as PostgreSQL writes it (``'[0.1,...]'``), as float32 holding its half-precision values."""
    return np.array(text.strip("[]").split(","), dtype=np.float16).astype(np.float32)


@functools.cache
def _half_texts() -> np.ndarray:
    """The shortest round-trip text of every half-precision bit pattern, indexed by the bits."""
    return np.array([str(value) for value in np.arange(1 << 16, dtype=np.uint16).view(np.float16)], dtype=object)


def index_name(space_id: str, kind: str = HALFVEC) -> str:
    """A space's index of ``kind``: its id made an identifier, and a hash of it (ids may hold any
    character)."""
    prefix = "shop_clip_hnsw_" if _kind(kind) == HALFVEC else "shop_clip_hnsw_bit_"
    return prefix + _space_suffix(space_id)


def products_index_name(space_id: str) -> str:
    """A space's B-tree of its rows' products (``create_products_index_sql``)."""
    return "shop_clip_products_" + _space_suffix(space_id)


def _space_suffix(space_id: str) -> str:
    readable = re.sub(r"[^a-z0-9]+", "_", space_id.lower()).strip("_")[:30]
    return f"{readable}_{hashlib.sha256(space_id.encode()).hexdigest()[:8]}"


def create_products_index_sql(space_id: str, *, concurrently: bool = False) -> str:
    """The space's partial B-tree on ``product_id``: exact search reads a filter's products' rows
    of this space alone, where an index of every space's rows holds the others' entries between
    them (docs/decisions/filtered-search-at-1m.md, "each space's products index")."""
    return (f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {products_index_name(space_id)} "
            f"ON {TABLE} (product_id) WHERE model_id = {sql_literal(space_id)}")


def create_index_sql(space_id: str, dim: int, *, concurrently: bool = False, kind: str = HALFVEC,
                     centre: np.ndarray | None = None) -> str:
    """The space's partial HNSW index of ``kind`` (``IF NOT EXISTS``: a valid one is kept); a binary
    one over the sign bits of the vectors minus ``centre`` (none: the plain sign bits)."""
    dim = int(dim)
    if _kind(kind) == HALFVEC:
        key, m, ef = f"(embedding::halfvec({dim})) halfvec_cosine_ops", HNSW_M, HNSW_EF_CONSTRUCTION
    else:
        key = f"({sign_bits_sql(f'embedding::halfvec({dim})', dim, centre)}) bit_hamming_ops"
        m = int(shop_clip_settings.BINARY_INDEX["M"])
        ef = int(shop_clip_settings.BINARY_INDEX["EF_CONSTRUCTION"])
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {index_name(space_id, kind)} "
        f"ON {TABLE} USING hnsw ({key}) WITH (m = {m}, ef_construction = {ef}) WHERE model_id = {sql_literal(space_id)}"
    )


def sign_bits_sql(value_sql: str, dim: int, centre: np.ndarray | None) -> str:
    """The sign bits of a halfvec expression, or of its difference from ``centre``.  The index and
    the query spell it alike (the planner matches the expression): the centre is a literal."""
    if centre is not None:
        value_sql = f"({value_sql} - {sql_literal(halfvec_literals(centre)[0])}::halfvec({int(dim)}))"
    return f"binary_quantize({value_sql})::bit({int(dim)})"


def hamming_sql(dim: int, centre: np.ndarray | None, column: str = f"{TABLE}.embedding") -> str:
    """SQL for the hamming distance between a row's sign bits and a ``%s`` query vector's, in the
    binary index's form."""
    return (f"({sign_bits_sql(f'({column})::halfvec({int(dim)})', dim, centre)} <~> "
            f"{sign_bits_sql(f'%s::halfvec({int(dim)})', dim, centre)})")


def _kind(kind: str) -> str:
    if kind not in INDEX_KINDS:
        raise ValueError(f"not an index kind: {kind!r} (one of {', '.join(INDEX_KINDS)})")
    return kind


def drop_index_sql(space_id: str, *, concurrently: bool = False, kind: str = HALFVEC) -> str:
    return _drop_sql(index_name(space_id, kind), concurrently)


def _drop_sql(name: str, concurrently: bool) -> str:
    return f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {name}"


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


def index_key_sql(dim: int, column: str = f"{TABLE}.embedding") -> str:
    """SQL for the cosine distance to a ``%s`` parameter as the halfvec index orders by it: one
    plus the negative inner product of both vectors normalised to halfvec, which rounds unlike
    ``<=>`` on the raw vectors by about 1e-5.  Selected beside an index scan, it keeps the rows'
    distances in the scan's order, so a deeper page never ranks two rows the other way round."""
    dim = int(dim)
    return f"(1 + (l2_normalize(({column})::halfvec({dim})) <#> l2_normalize(%s::halfvec({dim}))))"


def index_state(space_id: str, using: str = DEFAULT_DB_ALIAS, kind: str = HALFVEC) -> str | None:
    """"valid", "invalid" (a build that was interrupted or is running now) or None (no index)."""
    return _state(index_name(space_id, kind), using)


def _state(name: str, using: str) -> str | None:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s", [name])
        row = cursor.fetchone()
    return None if row is None else ("valid" if row[0] else "invalid")


def has_index(space_id: str, kind: str = HALFVEC) -> bool:
    """The space's index of ``kind`` exists and is complete (a concurrent build in progress is not)."""
    return index_state(space_id, kind=kind) == "valid"


def build_index(space_id: str, dim: int, *, using: str = DEFAULT_DB_ALIAS, wait: bool = False,
                kind: str = HALFVEC, centre: Callable[[], np.ndarray | None] | None = None) -> bool:
    """Build the space's index of ``kind`` in bulk over the vectors already written; True when it
    was built.  A binary index is built around what ``centre`` returns, called by the one builder
    once it knows it builds (no valid index of the kind exists, none is being built).

    With ``HNSW_BUILD_MEMORY`` of maintenance memory and ``HNSW_BUILD_WORKERS`` parallel workers,
    ``CONCURRENTLY`` (writes go on) unless inside a transaction, where PostgreSQL refuses it.  One
    builder per space (an advisory lock): another caller returns False at once, or with ``wait``
    (the migration) waits for it and then finds the index built.  An invalid index left by a build
    that was killed is dropped and built again.
    """
    connection = connections[using]
    concurrently = not connection.in_atomic_block
    with connection.cursor() as cursor, _one_builder(cursor, space_id, wait) as building:
        if not building:
            return False
        state = index_state(space_id, using, kind)
        if state == "valid":
            return False
        if state == "invalid":
            cursor.execute(drop_index_sql(space_id, concurrently=concurrently, kind=kind))
        around = centre() if centre is not None else None
        if not concurrently:  # rows this transaction wrote have deferred FK checks, which block DDL
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with _build_settings(cursor, local=not concurrently):
            cursor.execute(create_index_sql(space_id, dim, concurrently=concurrently, kind=kind, centre=around))
        build_products_index(space_id, using=using)
        if not concurrently:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return True


@contextmanager
def _one_builder(cursor, space_id: str, wait: bool) -> Iterator[bool]:
    """Whether this session may build the space's indexes (an advisory lock, held for the block):
    with ``wait``, once the builder before it is done; else only if none is building now."""
    cursor.execute(f"SELECT {'pg_advisory_lock' if wait else 'pg_try_advisory_lock'}(%s, hashtext(%s))",
                   [_BUILD_LOCK, space_id])
    held = wait or cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_BUILD_LOCK, space_id])


def has_products_index(space_id: str, using: str = DEFAULT_DB_ALIAS) -> bool:
    """The space's products index exists and is complete."""
    return _state(products_index_name(space_id), using) == "valid"


def build_products_index(space_id: str, *, using: str = DEFAULT_DB_ALIAS, wait: bool = False) -> bool:
    """Build the space's products index (``create_products_index_sql``), concurrently outside a
    transaction; True when it was built.  One builder per space, as for ``build_index`` (which
    calls it holding the lock: advisory locks nest); one left invalid by a killed build is built
    again."""
    connection = connections[using]
    concurrently = not connection.in_atomic_block
    name = products_index_name(space_id)
    with connection.cursor() as cursor, _one_builder(cursor, space_id, wait) as building:
        if not building:
            return False
        state = _state(name, using)
        if state == "valid":
            return False
        if state == "invalid":
            cursor.execute(_drop_sql(name, concurrently))
        cursor.execute(create_products_index_sql(space_id, concurrently=concurrently))
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


def drop_space_index(space_id: str, kinds: tuple[str, ...] = INDEX_KINDS, *, products: bool = False) -> None:
    """Drop a space's HNSW indexes of ``kinds``, and with ``products`` its products index (every
    index: its space is being deleted)."""
    concurrently = not connection.in_atomic_block
    with connection.cursor() as cursor:
        for kind in kinds:
            cursor.execute(drop_index_sql(space_id, concurrently=concurrently, kind=kind))
        if products:
            cursor.execute(_drop_sql(products_index_name(space_id), concurrently))
