"""What search reads, loaded into PostgreSQL's shared buffers (the ``pg_prewarm`` extension):
after a server restart, and before a newly built space is activated, so that its first searches
do not read the graph from disk (at 1M products: 134-316 ms cold against 7-23 ms warm,
docs/performance.md).
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
    documents and tags with theirs.  Only those that exist."""
    names = [index_name(space.pk, space.index_kind), products_index_name(space.pk),
             ProductVector._meta.db_table]
    tables = [get_catalog().product_model._meta.db_table]
    if keyword_search_enabled():
        tables.append(ProductDocument._meta.db_table)
    if shop_clip_settings.TAG_FILTERS:
        tables.append(ProductTag._meta.db_table)
    with connections[using].cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = %s::regclass "
                           "ORDER BY i.indisprimary DESC, 1", [table])
            names += [table, *(row[0] for row in cursor.fetchall())]
        cursor.execute("SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL", [names])
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in names if name in present]


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
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))")
        room = cursor.fetchone()[0] * ROOM
        for name in relations(space, using):
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


def prewarm_if_installed(space: EmbeddingSpace, using: str = DEFAULT_DB_ALIAS) -> list[Loaded]:
    """``prewarm`` where pg_prewarm is installed, logged; else a log line saying how to install it."""
    if not installed(using):
        logger.info("pg_prewarm is not installed: the first searches of %s read its index from disk "
                    "(`python manage.py shop_clip_prewarm` installs it where this role may)", space.model_id)
        return []
    started = time.monotonic()
    done = prewarm(space, using)
    logger.info("loaded %d MB of %s's index and rows into memory (%d MB into shared buffers) in %.1f s",
                sum(item.bytes for item in done) // 2**20, space.model_id,
                sum(item.bytes for item in done if item.mode == "buffer") // 2**20, time.monotonic() - started)
    return done
