"""What search reads, loaded into PostgreSQL's shared buffers (the ``pg_prewarm`` extension):
after a server restart, and before a newly built space is activated, so that its first searches
do not read the graph from disk (docs/performance.md, "One round trip, compiled once, and
prewarmed").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from .catalog import get_catalog
from .conf import ShopClipConfigurationError, shop_clip_settings
from .hnsw import index_name, products_index_name
from .keywords import keyword_search_enabled
from .models import EmbeddingSpace, ProductDocument, ProductTag, ProductVector
from .read_db import configured_alias

logger = logging.getLogger(__name__)

ROOM = 0.9  # of shared_buffers: the rest stays for what other queries read and write


class PrewarmUnavailable(ShopClipConfigurationError):
    """The database has no ``pg_prewarm`` and this role may not create it."""


@dataclass(frozen=True)
class Loaded:
    relation: str
    bytes: int
    mode: str  # "buffer": into shared buffers; "read": the OS page cache only, shared buffers being full
    seconds: float


def relations(space: EmbeddingSpace, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The relations a search of ``space`` reads, the most read first: its vector index and
    products index, the vector rows, the store's product table and its indexes, then the keyword
    documents and tags with theirs; a table's TOAST rows and their index after it (long documents,
    vectors of many dimensions).  Only those that exist, as ``regclass`` names them."""
    connection = connections[using]
    names = [index_name(space.pk, space.index_kind), products_index_name(space.pk)]
    tables = [ProductVector._meta.db_table, get_catalog().product_model._meta.db_table]
    if keyword_search_enabled():
        tables.append(ProductDocument._meta.db_table)
    if shop_clip_settings.TAG_FILTERS:
        tables.append(ProductTag._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(name)::text FROM unnest(%s::text[]) AS name", [names])
        found = [row[0] for row in cursor.fetchall() if row[0]]
        for number, table in enumerate(tables):
            cursor.execute(_TABLE_RELATIONS, {"table": connection.ops.quote_name(table), "indexes": number > 0})
            found += [row[0] for row in cursor.fetchall()]
    return found


# A table, its TOAST table and the TOAST index, then (but for the vector table, whose other spaces'
# indexes are not this search's) its own indexes, the primary key first.
_TABLE_RELATIONS = """
SELECT relation FROM (
    SELECT t.oid::regclass::text AS relation, 0 AS rank FROM pg_class t WHERE t.oid = to_regclass(%(table)s)
    UNION ALL
    SELECT t.reltoastrelid::regclass::text, 1 FROM pg_class t
    WHERE t.oid = to_regclass(%(table)s) AND t.reltoastrelid <> 0
    UNION ALL
    SELECT i.indexrelid::regclass::text, 2 FROM pg_class t JOIN pg_index i ON i.indrelid = t.reltoastrelid
    WHERE t.oid = to_regclass(%(table)s)
    UNION ALL
    SELECT i.indexrelid::regclass::text, CASE WHEN i.indisprimary THEN 3 ELSE 4 END FROM pg_index i
    WHERE i.indrelid = to_regclass(%(table)s) AND %(indexes)s
) AS found ORDER BY rank, relation
"""


def installed(using: str = DEFAULT_DB_ALIAS) -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_prewarm'")
        return cursor.fetchone() is not None


def install(using: str = DEFAULT_DB_ALIAS) -> None:
    """``CREATE EXTENSION pg_prewarm`` where it is missing; PrewarmUnavailable, saying who can,
    where this role may not (or the database is a read-only replica)."""
    if installed(using):
        return
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except DatabaseError as exc:
        name = connections[using].settings_dict.get("NAME")
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PrewarmUnavailable(f"pg_prewarm is not installed in database {name!r} and could not be ({reason}): "
                                 "a superuser runs `CREATE EXTENSION pg_prewarm;` there once (on the primary: "
                                 "a replica gets it by replication)") from exc


def prewarm(space: EmbeddingSpace, using: str = DEFAULT_DB_ALIAS,
            loaded: Callable[[Loaded], None] | None = None) -> list[Loaded]:
    """Load ``relations(space)`` in order: into shared buffers while ``ROOM`` of them is left,
    then into the OS page cache only (``pg_prewarm`` must be installed: ``install``).
    ``loaded``: called after each relation, for a progress bar."""
    done = []
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        room = cursor.fetchone()[0] * ROOM
    for name in relations(space, using):
        # A store's statement_timeout is for requests: loading a large index may take longer.
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SELECT pg_relation_size(%s::regclass)", [name])
            size = cursor.fetchone()[0]
            mode = "buffer" if size <= room else "read"
            room -= size if mode == "buffer" else 0
            started = time.monotonic()
            cursor.execute("SELECT pg_prewarm(%s::regclass, %s)", [name, mode])
        done.append(Loaded(name, size, mode, round(time.monotonic() - started, 3)))
        if loaded is not None:
            loaded(done[-1])
    return done


def prewarm_if_installed(space: EmbeddingSpace) -> list[Loaded]:
    """``prewarm`` on the database search reads (``READ_DATABASE``) where pg_prewarm is installed,
    logged; else a log line saying how to install it.  A failure is logged, never raised: the
    space is activated all the same, its first searches only slower."""
    using = configured_alias()
    try:
        if not installed(using):
            logger.info("pg_prewarm is not installed on %r: the first searches of %s read its index from disk "
                        "(`python manage.py shop_clip_prewarm` installs it where this role may)", using, space.model_id)
            return []
        started = time.monotonic()
        done = prewarm(space, using)
    except DatabaseError as exc:
        logger.warning("could not load %s's index into memory on %r (%s): its first searches read it from disk; "
                       "run `python manage.py shop_clip_prewarm --database %s` once it can", space.model_id, using,
                       str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, using)
        return []
    logger.info("loaded %d MB of %s's index and rows into memory on %r (%d MB into shared buffers) in %.1f s",
                sum(item.bytes for item in done) // 2**20, space.model_id, using,
                sum(item.bytes for item in done if item.mode == "buffer") // 2**20, time.monotonic() - started)
    return done
